"""Plain records passed between the launcher, finalization and their callers (worker, `ade run`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Causes the parent itself decides (they win over result.json, jobs.md §8).
CAUSE_TIMEOUT = "timeout"
CAUSE_CANCELLED = "cancelled"
CAUSE_MEMORY = "memory_limit"


@dataclass(frozen=True)
class OperatorLimits:
    """Operator caps of jobs.md §11 that the launcher needs. The settings object supplies them later."""

    timeout_s: int = 300
    memory_mb: int = 512
    fsize_mb: int = 100
    nofile: int = 256
    log_mb: int = 10
    grace_s: float = 5.0
    network_allowed: bool = False
    rss_poll_s: float = 0.5

    @classmethod
    def from_settings(cls, settings: Any) -> OperatorLimits:
        """Build from `ade_engine.settings.Settings` (field names of jobs.md §11)."""
        return cls(
            timeout_s=int(settings.job_timeout_seconds),
            memory_mb=int(settings.worker_mem_mb),
            fsize_mb=int(settings.worker_fsize_mb),
            nofile=int(settings.worker_nofile),
            log_mb=int(settings.worker_log_mb),
            grace_s=float(settings.cancel_grace_seconds),
            network_allowed=bool(settings.runtime_network_allowed),
        )

    def effective(self, *, timeout_ms: int, memory_mb: int) -> dict[str, int]:
        """The run request's `limits`: manifest defaults lowered to the operator caps (jobs.md §6.1)."""
        timeout_s = max(1, min(int(timeout_ms) // 1000, self.timeout_s))
        return {
            "timeout_s": timeout_s,
            "cpu_seconds": timeout_s + 5,
            "memory_mb": min(int(memory_mb), self.memory_mb),
            "fsize_mb": self.fsize_mb,
            "nofile": self.nofile,
        }


@dataclass
class LaunchOutcome:
    """How the job process ended, as the parent saw it."""

    pid: int | None
    pgid: int | None
    exit_code: int | None  # None when killed by a signal (or never started)
    signal: int | None
    cause: str | None  # CAUSE_* when the parent ended the job
    cancel_source: str | None = None
    timed_out: bool = False
    duration_ms: int = 0
    log_capped: bool = False
    peak_rss_mb: float = 0.0
    spawn_error: str | None = None
    # Entries of the job dir the job swapped for links, hard links or other folders (permissions.inspect).
    tampered: list[str] = field(default_factory=list)


@dataclass
class JobOutcome:
    """The decided end of a job (jobs.md §8) plus what to show for a failed or cancelled one."""

    status: str  # succeeded | failed | cancelled
    error: dict[str, Any] | None
    exit_code: int | None
    signal: int | None
    duration_ms: int
    log_tail: str = ""
    output_path: str | None = None
    sandbox_level: str | None = None
    sandbox_missing: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
