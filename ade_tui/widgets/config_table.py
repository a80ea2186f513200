"""The config list: one keyed row per config, updated in place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ade_tui.widgets.table import FreshWidthsTable

if TYPE_CHECKING:
    from ade_engine.services.configs import ConfigDetail


# Title last: at 80 columns it is the one that may be cut.
COLUMNS = (("config", "Config"), ("status", "Status"), ("active", "Active"), ("validation", "Validation"),
           ("versions", "Versions"), ("title", "Title"))


@dataclass(frozen=True)
class ConfigRow:
    config_id: str
    status: str
    active: str
    validation: str
    versions: str
    title: str

    def cells(self) -> tuple[str, ...]:
        return (self.config_id, self.status, self.active, self.validation, self.versions, self.title)


def row_for(detail: ConfigDetail, validation: str) -> ConfigRow:
    by_id = {v.config_version_id: v for v in detail.versions}
    if detail.archived:
        status = "archived"
    elif detail.draft_version_id:
        status = f"draft @{by_id[detail.draft_version_id].number}"
    elif detail.latest_published_id:
        status = f"published @{by_id[detail.latest_published_id].number}"
    else:
        status = "empty"
    active = f"● @{by_id[detail.active_version_id].number}" if detail.active_version_id in by_id else ""
    return ConfigRow(detail.config_id, status, active, validation, str(len(detail.versions)), detail.title)


class ConfigTable(FreshWidthsTable):
    """Rows keyed by config id; `show` adds, updates and removes rows without rebuilding the table."""

    DEFAULT_CSS = """
    ConfigTable { height: 1fr; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._rows: dict[str, ConfigRow] = {}

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    @property
    def selected_config(self) -> str | None:
        if not self._rows or self.cursor_row < 0 or self.cursor_row >= self.row_count:
            return None
        key = self.coordinate_to_cell_key((self.cursor_row, 0)).row_key
        return key.value

    def show(self, rows: list[ConfigRow]) -> None:
        wanted = {r.config_id: r for r in rows}
        for gone in [k for k in self._rows if k not in wanted]:
            self.remove_row(gone)
            del self._rows[gone]
        for row in rows:
            old = self._rows.get(row.config_id)
            if old is None:
                self.add_row(*row.cells(), key=row.config_id)
            elif old != row:
                for (col, _), new, was in zip(COLUMNS, row.cells(), old.cells()):
                    if new != was:
                        self.update_cell(row.config_id, col, new, update_width=True)
            self._rows[row.config_id] = row
        self.sort("config")

    def set_validation(self, config_id: str, text: str) -> None:
        old = self._rows.get(config_id)
        if old is None or old.validation == text:
            return
        self._rows[config_id] = ConfigRow(old.config_id, old.status, old.active, text, old.versions, old.title)
        self.update_cell(config_id, "validation", text, update_width=True)

    def select_config(self, config_id: str) -> None:
        if config_id in self._rows:
            self.move_cursor(row=self.get_row_index(config_id))
