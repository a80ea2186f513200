"""The seam between the app and the job worker: what the status bar reads and what quit asks.

`choose_worker_host(settings)` returns `JobWorkerHost`: once the workspace is open, `start(ws)` starts
the engine's `EmbeddedWorker` (a background thread of this process), unless a standalone `ade worker`
already serves the queue (then the app only watches it) or `ADE_EMBEDDED_WORKER=false`. `state()` is
read by the status bar and must stay cheap; `poll()` does the file reading an external worker needs and
runs on a thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from ade_engine.services.sandbox import LEVELS as SANDBOX_LEVELS  # noqa: F401 - re-exported
from ade_engine.services.sandbox import SandboxStatus, sandbox_status

if TYPE_CHECKING:  # pydantic-settings loads after the first paint (app.py)
    from ade_engine.settings import Settings

WorkerMode = Literal["embedded", "external", "none"]


@dataclass(frozen=True)
class WorkerState:
    mode: WorkerMode
    slots_busy: int = 0
    slots_total: int = 0
    detail: str = ""


@runtime_checkable
class WorkerHost(Protocol):
    """What the app needs from whoever runs jobs."""

    def start(self, ws: Any) -> None:
        """Start the embedded worker, or attach to the external one (called once the workspace is open)."""

    def state(self) -> WorkerState:
        """Mode and slot use, read by the status bar (must be cheap: no I/O)."""

    def poll(self) -> None:
        """Refresh what `state()` reports from files (external workers); may do I/O: call off the UI thread."""

    def wake(self) -> None:
        """A job was just queued here: look at the queue now."""

    def running_jobs(self) -> list[str]:
        """Ids of jobs this app's embedded worker is running (asked on quit)."""

    def stop(self, *, cancel_running: bool) -> None:
        """Stop claiming; wait for running jobs, or cancel them (`cancel_running`). Queued jobs stay queued.
        Blocks until the worker has stopped: call off the UI thread."""


@dataclass
class NoWorkerHost:
    """No worker: nothing runs, nothing to ask on quit (tests, and `ADE_EMBEDDED_WORKER=false`)."""

    detail: str = "no worker"
    started: bool = field(default=False, init=False)

    def start(self, ws: Any = None) -> None:
        self.started = True

    def state(self) -> WorkerState:
        return WorkerState(mode="none", detail=self.detail)

    def poll(self) -> None:
        pass

    def wake(self) -> None:
        pass

    def running_jobs(self) -> list[str]:
        return []

    def stop(self, *, cancel_running: bool) -> None:
        self.started = False


class JobWorkerHost:
    """The engine's embedded worker, or a view of an external `ade worker` serving the same queue."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._ws: Any = None
        self._embedded: Any = None
        self._mode: WorkerMode = "none"
        self._detail = "starting"
        self._external: tuple[int, int] = (0, 0)
        self._lock = threading.Lock()
        self._stopped = False

    def start(self, ws: Any) -> None:
        with self._lock:
            if self._stopped:  # the app quit before the worker got going
                return
            self._start(ws)

    def _start(self, ws: Any) -> None:
        from ade_engine.services import jobs

        self._ws = ws
        if not self.settings.embedded_worker:
            self._mode, self._detail = "none", "off (ADE_EMBEDDED_WORKER)"
            return
        if jobs.external_worker_running(ws):
            self._mode, self._detail = "external", ""
            self.poll()
            return
        self._embedded = jobs.embedded_worker(ws).start()
        self._mode, self._detail = "embedded", ""

    def state(self) -> WorkerState:
        if self._mode == "embedded" and self._embedded is not None:
            st = self._embedded.status()
            if not st.alive and st.busy == 0 and self._detail == "stopped":
                return WorkerState("none", detail="stopped")
            return WorkerState("embedded", st.busy, st.slots)
        if self._mode == "external":
            busy, total = self._external
            return WorkerState("external", busy, total)
        return WorkerState("none", detail=self._detail)

    def poll(self) -> None:
        if self._mode != "external":
            return
        from ade_engine.services.jobs import external_worker_slots

        self._external = external_worker_slots(self.settings)

    def wake(self) -> None:
        if self._embedded is not None:
            self._embedded.wake()

    def running_jobs(self) -> list[str]:
        if self._embedded is None:
            return []
        return list(self._embedded.status().running_job_ids)

    def stop(self, *, cancel_running: bool, timeout: float | None = None) -> None:
        with self._lock:
            self._stopped = True
            embedded = self._embedded
        if embedded is not None:
            embedded.stop(cancel_running=cancel_running, timeout=timeout)
            self._detail = "stopped"

    @property
    def embedded(self) -> Any:
        """The engine's `EmbeddedWorker` (None unless this app runs jobs itself)."""
        return self._embedded


def choose_worker_host(settings: Settings) -> WorkerHost:
    """The real worker host; `start(ws)` decides embedded vs external once the workspace is open."""
    return JobWorkerHost(settings)


def probe_sandbox(settings: Settings) -> SandboxStatus:
    """The level jobs would run at, with a warning when it is below `standard` (runs subprocesses: slow)."""
    return sandbox_status(settings)


__all__ = ["JobWorkerHost", "NoWorkerHost", "SANDBOX_LEVELS", "SandboxStatus", "WorkerHost", "WorkerState",
           "choose_worker_host", "probe_sandbox"]
