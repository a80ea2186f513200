"""Sandbox service: the level jobs would run at here, for clients that show it (the workstation's status bar).

A thin wrapper over `jobs.sandbox.probe` / `resolve_level` so clients need not import the job machinery.
The probe starts throwaway subprocesses (cached per process): call it off the UI thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ade_engine.errors import AdeError

if TYPE_CHECKING:
    from ade_engine.settings import Settings

# Strongest first; anything after `standard` is below the level the spec expects on a workstation.
LEVELS = ("strict", "standard", "basic", "reduced")


@dataclass(frozen=True)
class SandboxStatus:
    level: str | None  # None: jobs cannot run here
    warning: str | None = None  # short (status bar)
    detail: str = ""  # the whole story (tooltip, help)

    @property
    def below_standard(self) -> bool:
        return self.level is None or (self.level in LEVELS and LEVELS.index(self.level) > LEVELS.index("standard"))


def sandbox_status(settings: Settings) -> SandboxStatus:
    """The level `ADE_SANDBOX` resolves to on this machine, with a warning below `standard` or when jobs
    cannot run at all (e.g. root without `ADE_JOB_USER`)."""
    from ade_engine.jobs.sandbox import probe, resolve_level

    try:
        level = resolve_level(settings.sandbox, probe(), job_user=settings.job_user)
    except AdeError as exc:
        return SandboxStatus(None, "jobs cannot run", exc.message)
    status = SandboxStatus(level)
    if status.below_standard:
        return SandboxStatus(level, "below standard", f"jobs run at '{level}', below 'standard'; see 'ade doctor'")
    return status
