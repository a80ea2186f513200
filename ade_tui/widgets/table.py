"""`DataTable` whose cells are repainted when its columns widen.

Textual's DataTable measures new rows and widens its columns on idle, but keeps the cells it already
rendered: its render caches are keyed by an update count that widening does not change. A row painted
between `add_row` and that idle step (a busy or slow machine) stayed cut to the old widths — the problems
panel showed "err | inva | columns/" until something else redrew it. Our tables repaint when widths move.
"""

from __future__ import annotations

from textual import events
from textual.widgets import DataTable


class FreshWidthsTable(DataTable):
    async def _on_idle(self, event: events.Idle) -> None:
        before = [column.content_width for column in self.columns.values()]
        await super()._on_idle(event)
        if [column.content_width for column in self.columns.values()] != before:
            self._clear_caches()  # Textual's own cache reset (pinned release); then paint at the new widths
            self.refresh()
