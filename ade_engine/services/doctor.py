"""The checks behind `ade doctor` (and the TUI's health view): what this machine can do for ADE, what is
missing, and how to fix it. Each check is `(ctx) -> Check`; `run_checks()` runs them all, and one broken
check never hides the others.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ade_engine import __version__
from ade_engine.errors import AdeError

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail
    summary: str
    fix: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """What checks share: settings (or the error loading them) and the sandbox probe, built once."""

    settings: Any = None
    settings_error: AdeError | None = None
    _report: Any = None

    def sandbox_report(self):
        if self._report is None:
            from ade_engine.jobs.sandbox import probe

            self._report = probe()
        return self._report

    @property
    def report(self):
        """The sandbox probe if a check ran it, else None."""
        return self._report


def load_context() -> Context:
    ctx = Context()
    try:
        from ade_engine.settings import load_settings

        ctx.settings = load_settings()
    except AdeError as exc:
        ctx.settings_error = exc
    return ctx


def _running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def check_versions(ctx: Context) -> Check:
    py = sys.version_info
    status = OK if py >= (3, 11) else FAIL
    return Check("versions", status, f"engine {__version__}, Python {platform.python_version()} ({sys.executable})",
                 None if status == OK else "use Python >= 3.11",
                 {"engine_version": __version__, "python_version": platform.python_version(),
                  "python_executable": sys.executable, "platform": sys.platform})


def check_settings(ctx: Context) -> Check:
    if ctx.settings_error is not None:
        return Check("settings", FAIL, ctx.settings_error.message, "fix or unset the ADE_* variables named above")
    return Check("settings", OK, f"data dir {ctx.settings.data_dir}", data={"data_dir": str(ctx.settings.data_dir)})


def problems(report, job_user: str | None) -> list[dict[str, str]]:
    """The probe's problems a user should act on (root stops being one once ADE_JOB_USER is set)."""
    return [p for p in report.problems if p.get("fix") and not (job_user and p.get("kind") == "root")]


def check_sandbox(ctx: Context) -> Check:
    from ade_engine.jobs.sandbox import resolve_level
    from ade_engine.runtime.confine import SandboxUnavailable

    report = ctx.sandbox_report()
    requested = getattr(ctx.settings, "sandbox", "auto") if ctx.settings is not None else "auto"
    job_user = getattr(ctx.settings, "job_user", None) if ctx.settings is not None else None
    data = {"requested": requested, "effective": None, "best_level": report.best_level, "missing": [],
            "job_user": job_user}
    try:
        level = resolve_level(requested, report, job_user=job_user)
    except SandboxUnavailable as exc:
        data["error"] = {"code": exc.code, "message": exc.reason}
        fix = "; ".join(p["fix"] for p in problems(report, job_user)) or "change ADE_SANDBOX to an available level"
        return Check("sandbox", FAIL, f"jobs cannot run: {exc.reason}", fix, data)
    data["effective"] = level
    missing = report.missing(level)
    data["missing"] = missing
    summary = f"jobs run at level {level} (ADE_SANDBOX={requested}; best available: {report.best_level})"
    if report.running_as_root:
        summary += f"; as root, jobs switch to ADE_JOB_USER={job_user}"
    if missing:
        fixes = [report.mechanisms[m].fix for m in missing if m in report.mechanisms and report.mechanisms[m].fix]
        return Check("sandbox", WARN, f"{summary}; missing {', '.join(missing)}", "; ".join(fixes) or None, data)
    return Check("sandbox", OK, summary, None, data)


def _usable_python_for(user: str) -> str | None:
    """A Python of this minor version the account can execute (for the fix text)."""
    from ade_engine.jobs.runtime_site import find_job_python

    major, minor = sys.version_info[:2]
    return find_job_python(user, (f"/usr/bin/python{major}.{minor}", f"/usr/local/bin/python{major}.{minor}"))[0]


def check_job_user(ctx: Context) -> Check:
    """Who runs jobs, and whether that account can run the job interpreter and reach the data dir."""
    from ade_engine.jobs.runtime_site import interpreter_info, unreachable_for

    if ctx.settings is None:
        return Check("job_user", WARN, "skipped: settings are invalid")
    s = ctx.settings
    python = str(s.job_python or sys.executable)
    data: dict[str, Any] = {"job_user": s.job_user, "job_python": python, "root": _running_as_root()}
    major, minor = sys.version_info[:2]
    info = interpreter_info(python)
    if info.get("error") or tuple(info.get("version", [])[:2]) != (major, minor):
        why = info.get("error") or f"it is Python {'.'.join(map(str, info['version'][:2]))}"
        return Check("job_user", FAIL, f"job interpreter {python} is not usable: {why}",
                     f"set ADE_JOB_PYTHON to a Python {major}.{minor} (the job runtime holds cp{major}{minor} modules)",
                     data)
    if not _running_as_root():
        note = " (ADE_JOB_USER is only used when ADE runs as root)" if s.job_user else ""
        return Check("job_user", OK, f"jobs run as this user with {python}{note}", None, data)
    if not s.job_user:
        return Check("job_user", FAIL, "ADE runs as root and ADE_JOB_USER is not set: no job may run",
                     "set ADE_JOB_USER to a dedicated unprivileged account (e.g. ADE_JOB_USER=ade-jobs), "
                     "or run ADE as a normal user", data)
    problem = unreachable_for(s.job_user, python, need="x")
    if problem:
        better = _usable_python_for(s.job_user)
        fix = (f"ADE_JOB_PYTHON={better}" if better else
               f"install python{major}.{minor} (apt-get install python{major}.{minor}) and set ADE_JOB_PYTHON to it")
        return Check("job_user", FAIL, f"job user {s.job_user} cannot execute the job interpreter: {problem}",
                     fix + f" (a Python {major}.{minor}: the job runtime holds cp{major}{minor} modules)", data)
    problem = None
    for path in (s.data_dir, s.data_dir / "jobs", s.data_dir / "runtime"):  # what the model lets it pass through
        problem = problem or (unreachable_for(s.job_user, path, need="x") if path.exists() else None)
    if problem:
        return Check("job_user", FAIL, f"job user {s.job_user} cannot reach the data dir: {problem}",
                     f"chmod o+x on each directory above {s.data_dir}, or move ADE_DATA_DIR", data)
    return Check("job_user", OK, f"jobs run as {s.job_user} with {python}", None, data)


def check_data_dir(ctx: Context) -> Check:
    if ctx.settings is None:
        return Check("data_dir", WARN, "skipped: settings are invalid")
    root: Path = ctx.settings.data_dir
    data: dict[str, Any] = {"path": str(root)}
    if not root.exists():
        parent = next((p for p in root.parents if p.exists()), None)
        if parent is None or not os.access(parent, os.W_OK):
            return Check("data_dir", FAIL, f"{root} does not exist and cannot be created",
                         "set ADE_DATA_DIR to a writable directory", data)
        return Check("data_dir", OK, f"{root} (created on first start)", None, data)
    if not os.access(root, os.W_OK | os.X_OK):
        return Check("data_dir", FAIL, f"{root} is not writable", "fix its permissions or set ADE_DATA_DIR", data)
    from ade_engine.jobs.permissions import data_dir_deviations

    data["modes"] = {p.name: oct(p.stat().st_mode & 0o777) for p in [root, *root.iterdir()] if not p.is_symlink()}
    deviations = data_dir_deviations(root)
    if deviations:
        return Check("data_dir", WARN, f"{root} differs from ADE's permission model: {', '.join(deviations)}",
                     "start any ade command once (opening the workspace applies the model), or chmod as listed",
                     data)
    return Check("data_dir", OK, str(root), None, data)


def redact_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - never echo a URL we cannot parse: it may hold a password
        return "<unparseable URL>"


def check_database(ctx: Context) -> Check:
    if ctx.settings is None:
        return Check("database", WARN, "skipped: settings are invalid")
    url = redact_url(ctx.settings.db_url)
    kind = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    return Check("database", OK, f"{kind} at {url}", None, {"url": url, "backend": kind.lower()})


def check_secrets(ctx: Context) -> Check:
    try:
        from ade_engine.secrets.keys import describe_source
    except ImportError:
        return Check("secrets", WARN, "secrets store not available in this engine")
    if ctx.settings is None:
        return Check("secrets", WARN, "skipped: settings are invalid")
    s = ctx.settings
    source = describe_source(data_dir=s.data_dir, env_key=s.secrets_key.get_secret_value() if s.secrets_key else None,
                             keyring_file=s.secrets_keyring)
    if source.startswith("unusable"):
        # A source that is set (or was used) but cannot be read: no secret can be set or given to a job.
        return Check("secrets", FAIL, f"master key source {source}",
                     "fix what the message names, or set ADE_SECRETS_KEYRING to a key file, or ADE_SECRETS_KEY "
                     "(CI/containers); see docs/secrets.md", {"source": source})
    return Check("secrets", OK, f"master keys from {source}", None, {"source": source})


CHECKS: list[Callable[[Context], Check]] = [check_versions, check_settings, check_sandbox, check_job_user,
                                            check_data_dir, check_database, check_secrets]


def run_checks(ctx: Context | None = None) -> list[Check]:
    ctx = ctx or load_context()
    results = []
    for check in CHECKS:
        try:
            results.append(check(ctx))
        except Exception as exc:  # noqa: BLE001 - one broken check must not hide the others
            results.append(Check(check.__name__.removeprefix("check_"), FAIL, f"check crashed: {exc!r}",
                                 "report this with `ade doctor --json` output"))
    return results
