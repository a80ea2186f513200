"""`ade doctor [--json]`: what this machine can do for ADE, what is missing, and how to fix it.

Each check is a function `(ctx) -> Check`; add later checks (secrets key source, data dir,
database) to `CHECKS`. Exit status 0 when no check failed (warnings allowed), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
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
        return Check("sandbox", FAIL, f"jobs cannot run: {exc.reason}", _first_fix(report, job_user), data)
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


def _first_fix(report, job_user: str | None) -> str | None:
    fixes = [p["fix"] for p in _problems(report, job_user)]
    return "; ".join(fixes) or "change ADE_SANDBOX to an available level"


def _problems(report, job_user: str | None) -> list[dict[str, str]]:
    # The probe flags root; it stops being a problem once ADE_JOB_USER names the account to switch to.
    return [p for p in report.problems if p.get("fix") and not (job_user and p.get("kind") == "root")]


CHECKS: list[Callable[[Context], Check]] = [check_versions, check_settings, check_sandbox]


def run_checks(ctx: Context | None = None) -> list[Check]:
    if ctx is None:
        ctx = Context()
        try:
            from ade_engine.settings import load_settings

            ctx.settings = load_settings()
        except AdeError as exc:
            ctx.settings_error = exc
    results = []
    for check in CHECKS:
        try:
            results.append(check(ctx))
        except Exception as exc:  # noqa: BLE001 - one broken check must not hide the others
            results.append(Check(check.__name__.removeprefix("check_"), FAIL, f"check crashed: {exc!r}",
                                 "report this with `ade doctor --json` output"))
    return results


def _print_text(checks: list[Check], ctx_report) -> None:
    marks = {OK: "ok  ", WARN: "warn", FAIL: "FAIL"}
    print("ADE doctor")
    for c in checks:
        print(f"  [{marks[c.status]}] {c.name:<9} {c.summary}")
        if c.fix and c.status != OK:
            print(f"         fix: {c.fix}")
    if ctx_report is not None:
        print("\nSandbox protections:")
        for m in ctx_report.mechanisms.values():
            print(f"  {'yes' if m.available else 'no ':<3}  {m.name:<10} {m.detail}")
            if not m.available and m.fix:
                print(f"       fix: {m.fix}")
        print("\nLevels (strongest first):")
        for name, st in ctx_report.levels.items():
            state = "available" if st.available else f"unavailable (needs {', '.join(st.blocked_by)})"
            miss = f"; lacks {', '.join(st.missing)}" if st.missing else ""
            print(f"  {name:<9} {state}{miss}")


def handle(args: argparse.Namespace) -> int:
    ctx = Context()
    try:
        from ade_engine.settings import load_settings

        ctx.settings = load_settings()
    except AdeError as exc:
        ctx.settings_error = exc
    checks = run_checks(ctx)
    ok = all(c.status != FAIL for c in checks)
    job_user = getattr(ctx.settings, "job_user", None)
    if args.json:
        doc: dict[str, Any] = {"ok": ok, "engine_version": __version__, "python_version": platform.python_version(),
                               "python_executable": sys.executable, "platform": sys.platform}
        report = ctx._report
        if report is not None:
            sandbox_check = next((c for c in checks if c.name == "sandbox"), None)
            doc["sandbox"] = {
                **report.to_dict(),
                "problems": _problems(report, job_user),
                "requested": sandbox_check.data.get("requested") if sandbox_check else None,
                "effective": sandbox_check.data.get("effective") if sandbox_check else None,
            }
        doc["checks"] = [asdict(c) for c in checks]
        print(json.dumps(doc, indent=2, default=str))
    else:
        _print_text(checks, ctx._report)
    return 0 if ok else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("doctor", help="check what this machine supports (sandbox level, fixes)",
                                   description="Check the sandbox level available, what is missing and how to fix it.")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=handle)
