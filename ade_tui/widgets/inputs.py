"""Text inputs that follow the app's cursor setting (a blinking cursor makes snapshots depend on timing)."""

from __future__ import annotations

from textual.widgets import Input


class AppInput(Input):
    """An `Input` whose cursor blinks only when the app's `cursor_blink` setting says so."""

    def on_mount(self) -> None:
        tui = getattr(self.app, "tui", None)
        if tui is not None:
            self.cursor_blink = tui.cursor_blink
