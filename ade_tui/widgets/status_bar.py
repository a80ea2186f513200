"""The one-line status bar every screen shows: activity, worker, sandbox level, data dir."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from ade_tui.worker_host import SandboxStatus, WorkerState


@dataclass(frozen=True)
class StatusInfo:
    """Everything the status bar shows; the app replaces it as a whole (a reactive)."""

    worker: WorkerState = WorkerState(mode="none", detail="no worker")
    sandbox: SandboxStatus | None = None
    data_label: str = ""
    busy: tuple[str, ...] = field(default_factory=tuple)
    workspace: str = ""


def worker_text(state: WorkerState) -> str:
    if state.mode == "none":
        return f"worker: {state.detail or 'none'}"
    return f"worker: {state.mode} {state.slots_busy}/{state.slots_total} busy"


def sandbox_text(status: SandboxStatus | None) -> tuple[str, bool]:
    if status is None:
        return "sandbox: …", False
    if status.level is None:
        return "sandbox: ⚠ none", True
    if status.warning:
        return f"sandbox: ⚠ {status.level}", True
    return f"sandbox: {status.level}", False


class StatusBar(Horizontal):
    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
        color: $text-muted;
        Label { padding: 0 1 0 0; }
        #sb-busy { color: $accent; width: 1fr; text-overflow: ellipsis; text-wrap: nowrap; }
        #sb-sandbox.-warning { color: $warning; text-style: bold; }
        #sb-data { text-overflow: ellipsis; text-wrap: nowrap; max-width: 40; }
    }
    """

    def compose(self) -> ComposeResult:
        yield Label("", id="sb-busy")
        yield Label("", id="sb-worker")
        yield Label("", id="sb-sandbox")
        yield Label("", id="sb-data")

    def on_mount(self) -> None:
        self.watch(self.app, "status_info", self._show, init=True)

    def _show(self, info: StatusInfo) -> None:
        busy = f"⟳ {info.busy[-1]}…" if info.busy else info.workspace
        if len(info.busy) > 1:
            busy += f" (+{len(info.busy) - 1})"
        self.query_one("#sb-busy", Label).update(busy)
        self.query_one("#sb-worker", Label).update(worker_text(info.worker))
        text, warn = sandbox_text(info.sandbox)
        sandbox = self.query_one("#sb-sandbox", Label)
        sandbox.update(text)
        sandbox.set_class(warn, "-warning")
        sandbox.tooltip = (info.sandbox.detail or info.sandbox.warning) if info.sandbox else None
        self.query_one("#sb-data", Label).update(f"data: {info.data_label}")
