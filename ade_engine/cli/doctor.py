"""`ade doctor [--json]`: what this machine can do for ADE, what is missing, and how to fix it.

The checks live in `services.doctor` (add new ones to its `CHECKS`); this module only prints them.
Exit status 0 when no check failed (warnings allowed), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from dataclasses import asdict
from typing import Any

from ade_engine import __version__
from ade_engine.cli._output import guarded
from ade_engine.services import doctor as doctor_service
from ade_engine.services.doctor import FAIL, OK, WARN, Check, Context, run_checks  # noqa: F401 - re-exported

_problems = doctor_service.problems


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


@guarded
def handle(args: argparse.Namespace) -> int:
    ctx = doctor_service.load_context()
    checks = run_checks(ctx)
    ok = all(c.status != FAIL for c in checks)
    job_user = getattr(ctx.settings, "job_user", None)
    if args.json:
        doc: dict[str, Any] = {"ok": ok, "engine_version": __version__, "python_version": platform.python_version(),
                               "python_executable": sys.executable, "platform": sys.platform}
        report = ctx.report
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
        _print_text(checks, ctx.report)
    return 0 if ok else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("doctor", help="check what this machine supports (sandbox level, fixes)",
                                   description="Check the sandbox level available, what is missing and how to fix it.")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=handle)
