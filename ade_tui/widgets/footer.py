"""The key footer every screen shows: Textual's `Footer`, recomposed once per change and only when seen.

Textual's footer rebuilds all its keys (widgets, CSS) on every bindings update of its screen, and a screen
publishes several during start-up and whenever a dialog opens above it. Two of those rebuilds fell inside
the first key press after start-up (F1: the help dialog), a quarter of its time. Here a rebuild is skipped
while a dialog covers the screen (its keys do not apply there; the screen publishes again when it is back
on top) and updates that arrive before a scheduled rebuild share it.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class AdeFooter(Footer):
    _rebuild_scheduled = False

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            return
        if screen is not self.app.screen:  # covered by a dialog: rebuilt when the screen is back on top
            return
        if not self._rebuild_scheduled:
            self._rebuild_scheduled = True
            self.call_after_refresh(self._rebuild)

    async def _rebuild(self) -> None:
        self._rebuild_scheduled = False
        await self.recompose()
