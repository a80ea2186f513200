"""Keyboard behaviour shared by the form dialogs: Enter moves to the next field, then submits."""

from __future__ import annotations

from textual.widgets import Button, Input


class FormKeys:
    """Mixin for a ModalScreen with Inputs, a `#submit` button and a `_finish()` that dismisses it."""

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        inputs = list(self.query(Input))
        index = inputs.index(event.input)
        if index + 1 < len(inputs):
            inputs[index + 1].focus()
        else:
            self._finish()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "submit":
            self._finish()
        else:
            self.dismiss(None)
