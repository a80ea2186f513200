"""Start-up checks of the settings that name things on this machine (issue: settings checked at start, not at
the first job). `ade worker`, `ade run` and the workstation call `check_startup` right after loading the
settings, so an operator learns about a missing account, interpreter or wheelhouse before any job is queued.

Settings' own validation (types, ranges) stays in `ade_engine.settings`; this module looks at the machine.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from ade_engine.errors import AdeError


def _job_user_problem(user: str) -> str | None:
    try:
        import pwd
    except ImportError:  # Windows: no accounts to switch to; the launcher ignores ADE_JOB_USER there
        return None
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return (f"ADE_JOB_USER={user!r} is not an account on this machine; create it (e.g. `useradd --system "
                f"--no-create-home {user}`) or set ADE_JOB_USER to an existing unprivileged account")
    if entry.pw_uid == 0:
        return f"ADE_JOB_USER={user!r} is root; set it to an unprivileged account (e.g. ade-jobs)"
    return None


def _job_python_problem(python: Path) -> str | None:
    major, minor = sys.version_info[:2]
    fix = (f"set ADE_JOB_PYTHON to a Python {major}.{minor} (e.g. /usr/bin/python{major}.{minor}), or unset it "
           f"to use {sys.executable}")
    if not python.exists():
        return f"ADE_JOB_PYTHON={python} does not exist; {fix}"
    if python.is_dir() or not os.access(python, os.X_OK):
        return f"ADE_JOB_PYTHON={python} is not an executable file; {fix}"
    from ade_engine.jobs.runtime_site import interpreter_info

    info = interpreter_info(str(python))
    if info.get("error"):
        return f"ADE_JOB_PYTHON={python} could not be run ({info['error']}); {fix}"
    version = tuple(info.get("version", [])[:2])
    if version != (major, minor):
        shown = ".".join(map(str, version)) or "unknown"
        return (f"ADE_JOB_PYTHON={python} is Python {shown}, but jobs need Python {major}.{minor} (the job "
                f"runtime holds cp{major}{minor} modules); {fix}")
    return None


def _wheelhouse_problem(path: Path) -> str | None:
    if path.is_dir():
        return None
    what = "is not a directory" if path.exists() else "does not exist"
    return (f"ADE_WHEELHOUSE={path} {what}; create it and put the wheels there, or unset ADE_WHEELHOUSE to "
            "install dependencies from the package index")


def startup_problems(settings: Any) -> list[str]:
    """What is wrong with ADE_JOB_USER, ADE_JOB_PYTHON and ADE_WHEELHOUSE on this machine (each with its fix)."""
    problems = []
    if settings.job_user:
        problems.append(_job_user_problem(settings.job_user))
    if settings.job_python is not None:
        problems.append(_job_python_problem(Path(settings.job_python)))
    if settings.wheelhouse is not None:
        problems.append(_wheelhouse_problem(Path(settings.wheelhouse)))
    return [p for p in problems if p]


def check_startup(settings: Any) -> None:
    """Raise `settings_invalid` naming every setting that cannot work on this machine, and how to fix it."""
    problems = startup_problems(settings)
    if problems:
        raise AdeError("cannot start: " + "; ".join(problems), code="settings_invalid",
                       details={"problems": problems})
