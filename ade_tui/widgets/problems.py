"""The problems panel: validation diagnostics as keyed rows; Enter jumps to file and line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message
from textual.widgets import DataTable

from ade_tui.widgets.table import FreshWidthsTable

if TYPE_CHECKING:
    from ade_engine.services.configs import Diagnostic


_RANK = {"error": 0, "warning": 1}


def diagnostic_key(d: Diagnostic) -> str:
    return f"{d.path}\0{d.line}\0{d.code}\0{d.message}"


def location(d: Diagnostic) -> str:
    return f"{d.path}:{d.line}" if d.line else d.path


def summary(diagnostics: list[Diagnostic]) -> str:
    errors = sum(d.level == "error" for d in diagnostics)
    warnings = len(diagnostics) - errors
    if not diagnostics:
        return "no problems"
    parts = []
    if errors:
        parts.append(f"{errors} error{'s' * (errors != 1)}")
    if warnings:
        parts.append(f"{warnings} warning{'s' * (warnings != 1)}")
    return ", ".join(parts)


class ProblemsPanel(FreshWidthsTable):
    """Rows are added and removed by key; order is severity, file, line."""

    DEFAULT_CSS = """
    ProblemsPanel { height: 8; }
    """

    @dataclass
    class JumpTo(Message):
        path: str
        line: int | None

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self._shown: dict[str, Diagnostic] = {}

    def on_mount(self) -> None:
        self.add_column("Sev", key="sev")
        self.add_column("Code", key="code")
        self.add_column("Location", key="loc")
        self.add_column("Message", key="msg")
        self.border_title = "Problems: none yet"

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return list(self._shown.values())

    def show(self, diagnostics: list[Diagnostic], *, note: str = "") -> None:
        wanted = {diagnostic_key(d): d for d in diagnostics}
        for key in [k for k in self._shown if k not in wanted]:
            self.remove_row(key)
            del self._shown[key]
        for key, d in wanted.items():
            if key not in self._shown:
                self.add_row(d.level, d.code, location(d), d.message, key=key)
                self._shown[key] = d
        self.sort(key=self._order)
        self.border_title = f"Problems: {summary(diagnostics)}{note}"

    def _order(self, row: tuple) -> tuple:
        sev, _code, loc, _msg = row
        path, _, line = str(loc).rpartition(":")
        if not line.isdigit():
            path, line = str(loc), "0"
        return (_RANK.get(str(sev), 2), path, int(line))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        d = self._shown.get(event.row_key.value or "")
        if d is not None:
            self.post_message(self.JumpTo(d.path, d.line))
