"""F1 help: every key of the screen underneath (with remaps applied), plus how to move around."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Label, Static

from ade_tui.commands import screen_actions

GENERAL = (
    ("tab / shift+tab", "Move between panes"),
    ("escape", "Leave the editor (next pane) / close a dialog"),
    ("enter", "Open the selected row, file or problem"),
    ("ctrl+p", "Command palette: every action by name"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss_help", "Close", id="help.close"),
        Binding("f1", "dismiss_help", "Close", id="help.close_f1", show=False),
    ]

    def __init__(self, under: Screen) -> None:
        super().__init__()
        self._under = under

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -large"):
            title = getattr(self._under, "HELP_TITLE", None) or type(self._under).__name__
            yield Label(f"Keys: {title}", classes="dialog-title")
            yield DataTable(cursor_type="row", id="help-table", zebra_stripes=True)
            yield Static("Remap any id with the keymap setting (docs/workstation.md).", classes="dialog-note")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Key", "Id", "Action")
        rows = [(key, b.id or "", b.description) for _n, b, key, _e in screen_actions(self._under)]
        for row in sorted(rows, key=lambda r: (r[1].startswith("app."), r[1])):
            table.add_row(*row)
        for key, description in GENERAL:
            table.add_row(key, "", description)
        table.focus()

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
