"""A modal question with a few named answers (confirm, conflict, quit)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class ConfirmDialog(ModalScreen[str | None]):
    """Dismisses with the id of the chosen answer, or None on Escape."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
        Binding("left", "app.focus_previous", "Previous", id="dialog.previous", show=False),
        Binding("right", "app.focus_next", "Next", id="dialog.next", show=False),
    ]

    def __init__(self, title: str, body: str, choices: list[tuple[str, str]], *, default: str | None = None,
                 danger: set[str] | None = None) -> None:
        super().__init__()
        self._title, self._body, self._choices = title, body, choices
        self._default = default or choices[0][0]
        self._danger = danger or set()

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self._title, classes="dialog-title")
            yield Static(self._body, classes="dialog-body", markup=False)
            with Horizontal(classes="dialog-buttons"):
                for choice, label in self._choices:
                    variant = "error" if choice in self._danger else "primary" if choice == self._default else "default"
                    yield Button(label, id=f"choice-{choice}", variant=variant)

    def on_mount(self) -> None:
        self.query_one(f"#choice-{self._default}", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss((event.button.id or "").removeprefix("choice-"))

    def action_cancel(self) -> None:
        self.dismiss(None)
