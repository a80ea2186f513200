"""`ade gc [--dry-run] [--json]`: one retention pass now (jobs.md §10): old job dirs, documents, unused envs."""

from __future__ import annotations

import argparse
from typing import Any

from ade_engine.cli._output import add_json_flag, emit, guarded


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"


def _text(report: Any) -> str:
    verb = "would remove" if report.dry_run else "removed"
    lines = []
    for kind, items in (("job dir", report.jobs), ("document", report.documents), ("env", report.envs),
                        ("leftover", report.staging)):
        for item in items:
            lines.append(f"{verb} {kind} {item.id} ({item.reason}, {_mib(item.bytes)})")
    lines.append(f"{'dry run: ' if report.dry_run else ''}{len(report.jobs)} job dir(s), {len(report.documents)} "
                 f"document(s), {len(report.envs)} env(s), {len(report.staging)} leftover(s) of interrupted "
                 f"work; {_mib(report.freed_bytes)} "
                 f"{'would be ' if report.dry_run else ''}freed")
    return "\n".join(lines)


@guarded
def handle(args: argparse.Namespace) -> int:
    from ade_engine.services.retention import collect_garbage
    from ade_engine.services.workspace import open_workspace
    from ade_engine.settings import load_settings

    with open_workspace(load_settings()) as ws:
        report = collect_garbage(ws, dry_run=args.dry_run)
    emit(args, report.to_dict(), lambda: _text(report))
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("gc", help="delete old job dirs, unused documents and envs now (retention)",
                              description="Run one retention pass: job directories past ADE_JOB_RETENTION_DAYS or "
                                          "over ADE_JOB_RETENTION_MAX_GB (oldest first), unreferenced documents past "
                                          "ADE_DOCUMENT_RETENTION_DAYS, envs unused for 30 days, leftovers of interrupted "
                                          "imports and preparations untouched for an hour. Pinned, queued and "
                                          "running jobs are never touched; job records stay with purged_at set.")
    p.add_argument("--dry-run", action="store_true", help="report what would be removed; change nothing")
    add_json_flag(p)
    p.set_defaults(handler=handle)
