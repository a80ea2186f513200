"""Version history of one config: open, activate or clone any version."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from ade_tui.widgets.footer import AdeFooter

if TYPE_CHECKING:
    from ade_engine.services.configs import VersionInfo


class HistoryDialog(ModalScreen[tuple[str, str] | None]):
    """Dismisses `(action, config_version_id)` with action `open`, `activate` or `clone`, or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Close", id="dialog.cancel"),
        Binding("enter", "choose('open')", "Open", id="history.open"),
        Binding("a", "choose('activate')", "Activate", id="history.activate"),
        Binding("c", "choose('clone')", "New draft from this", id="history.clone"),
    ]

    def __init__(self, config_id: str, versions: list[VersionInfo], *,
                 time_format: Callable[[datetime | None], str]) -> None:
        super().__init__()
        self._config_id, self._versions, self._time = config_id, versions, time_format

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -large"):
            yield Label(f"History of {self._config_id}", classes="dialog-title")
            yield DataTable(cursor_type="row", id="history-table")
            yield AdeFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Version", "Status", "Active", "Published", "Content", "Source")
        for v in reversed(self._versions):
            status = "archived" if v.archived else v.status
            source = (v.source or "").split(":")[0]
            table.add_row(f"@{v.number}", status, "●" if v.active else "", self._time(v.published_at),
                          (v.content_hash or "")[:12], source, key=v.config_version_id)
        table.focus()

    def action_choose(self, action: str) -> None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        self.dismiss((action, key or ""))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_choose("open")

    def action_cancel(self) -> None:
        self.dismiss(None)
