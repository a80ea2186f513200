"""A modal form of one or more text fields (new config id, import path, export destination…)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from ade_tui.screens.form_keys import FormKeys
from ade_tui.widgets.inputs import AppInput


@dataclass(frozen=True)
class PromptField:
    name: str
    label: str
    value: str = ""
    placeholder: str = ""


class PromptDialog(FormKeys, ModalScreen[dict[str, str] | None]):
    """Enter moves to the next field and submits from the last; Escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(self, title: str, fields: list[PromptField], *, submit: str = "OK", note: str = "") -> None:
        super().__init__()
        self._title, self._fields, self._submit, self._note = title, fields, submit, note

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self._title, classes="dialog-title")
            for field in self._fields:
                yield Label(field.label, classes="field-label")
                yield AppInput(field.value, placeholder=field.placeholder, id=f"field-{field.name}")
            if self._note:
                yield Label(self._note, classes="dialog-note")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self._submit, id="submit", variant="primary")
                yield Button("Cancel", id="cancel")

    def _finish(self) -> None:
        self.dismiss({f.name: self.query_one(f"#field-{f.name}", Input).value.strip() for f in self._fields})

    def action_cancel(self) -> None:
        self.dismiss(None)
