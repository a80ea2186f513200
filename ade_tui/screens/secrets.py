"""PLACEHOLDER — the secrets screen arrives later (replace this whole file).

Contract for the replacement: a `Screen` named `SecretsScreen` (the app's "secrets" mode, F4), composing
a `Header`, its content, a `StatusBar` and a `Footer`; every action a `Binding` with an id `secrets.*`.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from ade_tui.widgets.status_bar import StatusBar


class SecretsScreen(Screen[None]):
    HELP_TITLE = "Secrets"
    BINDINGS: list = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Secrets are not available here yet.\n\nUse 'ade secret' on the command line.",
                     classes="placeholder")
        yield StatusBar()
        yield Footer()
