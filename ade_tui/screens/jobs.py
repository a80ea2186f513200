"""PLACEHOLDER — the jobs screen arrives with the job worker (replace this whole file).

Contract for the replacement: a `Screen` named `JobsScreen` (the app's "jobs" mode, F3), composing a
`Header`, its content, a `StatusBar` and a `Footer`; every action a `Binding` with an id `jobs.*`.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from ade_tui.widgets.status_bar import StatusBar


class JobsScreen(Screen[None]):
    HELP_TITLE = "Jobs"
    BINDINGS: list = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Jobs are not available yet: the job worker is still to come.\n\n"
                     "Meanwhile use 'ade run' on the command line.", classes="placeholder")
        yield StatusBar()
        yield Footer()
