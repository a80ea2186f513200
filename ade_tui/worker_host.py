"""The seam between the app and the job worker: what the status bar reads and what quit asks.

The worker does not exist yet. `WorkerHost` is the protocol the app talks to; `NoWorkerHost` is the
stand-in until an embedded worker (or a connection to an external `ade worker`) implements it.
`choose_worker_host(settings)` is where that decision will live.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from ade_engine.settings import Settings

WorkerMode = Literal["embedded", "external", "none"]
# Ordered strongest first; anything after `standard` earns a warning in the status bar.
SANDBOX_LEVELS = ("strict", "standard", "basic", "reduced")


@dataclass(frozen=True)
class WorkerState:
    mode: WorkerMode
    slots_busy: int = 0
    slots_total: int = 0
    detail: str = ""


@runtime_checkable
class WorkerHost(Protocol):
    """What the app needs from whoever runs jobs."""

    def start(self) -> None:
        """Start the embedded worker, or attach to the external one (called once, after first paint)."""

    def state(self) -> WorkerState:
        """Mode and slot use, read by the status bar (must be cheap: no I/O)."""

    def running_jobs(self) -> list[str]:
        """Ids of jobs this app's embedded worker is running (asked on quit)."""

    def stop(self, *, cancel_running: bool) -> None:
        """Stop the embedded worker; `cancel_running=False` leaves running jobs to finish on their own."""


@dataclass
class NoWorkerHost:
    """No worker yet: nothing runs, nothing to ask on quit."""

    detail: str = "no worker"
    started: bool = field(default=False, init=False)

    def start(self) -> None:
        self.started = True

    def state(self) -> WorkerState:
        return WorkerState(mode="none", detail=self.detail)

    def running_jobs(self) -> list[str]:
        return []

    def stop(self, *, cancel_running: bool) -> None:
        self.started = False


def choose_worker_host(settings: Settings) -> WorkerHost:
    """Embedded worker unless an external `ade worker` holds the lease (both to come)."""
    return NoWorkerHost()


@dataclass(frozen=True)
class SandboxStatus:
    level: str | None  # None: jobs cannot run here
    warning: str | None = None  # short, for the status bar
    detail: str = ""  # the full story, for the tooltip


def probe_sandbox(settings: Settings) -> SandboxStatus:
    """The level jobs would run at, with a warning when it is below `standard` (runs subprocesses: slow)."""
    # TODO(services): there is no service for this yet; `ade doctor` calls jobs.sandbox the same way.
    from ade_engine.errors import AdeError
    from ade_engine.jobs.sandbox import probe, resolve_level

    try:
        level = resolve_level(settings.sandbox, probe(), job_user=settings.job_user)
    except AdeError as exc:
        return SandboxStatus(None, "jobs cannot run", exc.message)
    if level in SANDBOX_LEVELS and SANDBOX_LEVELS.index(level) > SANDBOX_LEVELS.index("standard"):
        return SandboxStatus(level, "below standard", f"jobs run at '{level}', below 'standard'; see 'ade doctor'")
    return SandboxStatus(level)
