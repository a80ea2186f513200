"""The output preview: rows of a job's `normalized.xlsx` in a table, loaded a window at a time.

The widget holds no file reading: it asks for the next window (message `WantMore`) when the cursor nears
the last loaded row, and its screen reads it with `services.jobs.preview_output` on a worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.message import Message
from textual.widgets import DataTable

if TYPE_CHECKING:
    from ade_engine.services.jobs import OutputPreview as Window


PAGE = 200
MAX_WIDTH = 40  # characters per column; longer values are cut in the preview
NEAR_END = 20  # rows before the last loaded one at which the next window is asked for


class OutputPreview(DataTable):
    """`add_window(window)` appends rows; `more` says whether the file has rows after them."""

    DEFAULT_CSS = """
    OutputPreview { height: 1fr; }
    """

    @dataclass
    class WantMore(Message):
        """The cursor is near the last loaded row and the file has more: load from `offset`."""

        preview: OutputPreview
        offset: int

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.loaded = 0
        self.more = False
        self.sheet: str | None = None
        self.total: int | None = None
        self._asked = False

    def add_window(self, window: Window) -> None:
        if not self.columns:
            # Widths fixed from the first window: later windows never reflow the table.
            self.sheet = window.sheet
            self.add_column("#", key="#", width=max(3, len(str(window.total_rows or 0)) + 1))
            for index, header in enumerate(window.headers):
                label = header or f"({index + 1})"
                width = max([len(label), *(len(row[index]) for row in window.rows)])
                self.add_column(label, key=f"c{index}", width=min(MAX_WIDTH, max(3, width)))
        for index, cells in enumerate(window.rows, start=window.offset + 2):  # sheet row numbers (1 = header)
            self.add_row(str(index), *cells, key=str(index))
        self.loaded = window.offset + len(window.rows)
        self.more = window.more
        self.total = window.total_rows
        self._asked = False

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table is self and self.more and not self._asked and event.cursor_row >= self.loaded - NEAR_END:
            self._asked = True
            self.post_message(self.WantMore(self, self.loaded))

    @property
    def summary(self) -> str:
        if self.sheet is None:
            return ""
        total = f" of {self.total}" if self.total is not None else ""
        more = " · more load as you scroll" if self.more else ""
        return f"sheet {self.sheet!r} · rows 1–{self.loaded}{total}{more}"
