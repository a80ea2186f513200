"""Plain records passed between the launcher, finalization and their callers (worker, `ade run`)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

# Causes the parent itself decides (they win over result.json, jobs.md §8).
CAUSE_TIMEOUT = "timeout"
CAUSE_CANCELLED = "cancelled"
CAUSE_MEMORY = "memory_limit"


MIB = 1024 * 1024
# The output writer keeps the sheet XML uncompressed in tmp/ until it zips it (xlsxwriter's constant-memory
# mode), and that file is what a file size limit meets first. Inline strings and cell tags make it ~50 bytes a
# cell plus the value: about 2x a workbook's own uncompressed parts (shared strings), and 6-7x a CSV of
# typical values (a 20-column roster measured 6.7x; short numbers go higher). The factors leave room for that.
FSIZE_FACTOR_WORKBOOK = 4  # x the workbook's parts, uncompressed
FSIZE_FACTOR_TEXT = 24  # x the CSV/TSV file


def output_bytes_for_input(path: str | os.PathLike[str]) -> int:
    """A generous bound on the biggest file a job writes for this input (its output's uncompressed sheet)."""
    import zipfile

    try:
        size = os.path.getsize(path)
    except OSError:
        return 0
    try:
        with zipfile.ZipFile(path) as zf:
            return FSIZE_FACTOR_WORKBOOK * max(size, sum(info.file_size for info in zf.infolist()))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return FSIZE_FACTOR_TEXT * size


def fsize_for_input(setting_mb: int, output_bytes: int) -> tuple[int, str]:
    """(file size limit in MiB, how it was chosen): ADE_WORKER_FSIZE_MB, or more when the input needs more."""
    needed = -(-int(output_bytes) // MIB)
    if needed > setting_mb:
        return needed, f"sized to this input, above ADE_WORKER_FSIZE_MB={setting_mb}"
    return setting_mb, f"ADE_WORKER_FSIZE_MB={setting_mb}"


@dataclass(frozen=True)
class OperatorLimits:
    """Operator caps of jobs.md §11 that the launcher needs. The settings object supplies them later."""

    timeout_s: int = 600
    memory_mb: int = 512
    fsize_mb: int = 100
    nofile: int = 256
    log_mb: int = 10
    grace_s: float = 5.0
    network_allowed: bool = False
    rss_poll_s: float = 0.5
    cpu_seconds: int = 0  # 0: the wall-clock limit + 5 s (jobs.md §6.1); else its own limit (ADE_WORKER_CPU_SECONDS)

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
            cpu_seconds=int(getattr(settings, "worker_cpu_seconds", 0) or 0),
        )

    def effective(self, *, timeout_ms: int, memory_mb: int, output_bytes: int = 0) -> dict[str, Any]:
        """The run request's `limits`: manifest defaults lowered to the operator caps (jobs.md §6.1).

        `output_bytes` (`output_bytes_for_input`) raises the file size limit above ADE_WORKER_FSIZE_MB when
        the input needs it, so a large input is not refused by a default sized for small ones."""
        timeout_s = max(1, min(int(timeout_ms) // 1000, self.timeout_s))
        fsize_mb, basis = fsize_for_input(self.fsize_mb, output_bytes)
        return {
            "timeout_s": timeout_s,
            "cpu_seconds": self.cpu_seconds or timeout_s + 5,
            "memory_mb": min(int(memory_mb), self.memory_mb),
            "fsize_mb": fsize_mb,
            "fsize_basis": basis,
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
    # The job process's own CPU time at the parent's last look (RLIMIT_CPU's count), None when never read.
    cpu_seconds_used: float | None = None


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
