"""Snapshot tests: every screen at 80×24 and 120×40 (update on purpose with `make snapshots`).

Deterministic: fixed data-dir label, no clocks, no watcher, no blinking cursors, a fixed sandbox level,
and every service call finished before the picture is taken. The jobs screens show a frozen jobs world:
real jobs run once per session, then their ids, times, pids, worker ids and sandbox level are rewritten
to fixed values (`frozen_jobs_data_dir`), so no picture depends on the clock or the machine.
"""

from __future__ import annotations

import json
import shutil
import stat
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tui_support import open_file, open_package, settle, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ for sandbox_helpers
from sandbox_helpers import IS_ROOT, JOB_PYTHON, NO_JOB_PYTHON  # noqa: E402

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


async def _open_draft(pilot):
    await open_package(pilot)


async def _draft_with_problem(pilot):
    await _open_draft(pilot)
    screen = pilot.app.screen
    await open_file(pilot, screen, "columns/email.py")
    editor = screen.editor
    editor.move_cursor(editor.document.end)
    editor.insert("\ndef broken(:\n")
    await pilot.press("ctrl+s")
    await settle(pilot)
    await pilot.app.workers.wait_for_complete()
    # The save's problems reach the panel in a callback; the table sizes its columns on a later refresh.
    assert await wait_for(pilot, lambda: screen.problems.row_count > 0 and "save" in screen.validation
                          and max(c.content_width for c in screen.problems.columns.values()) > len("Message"))
    await pilot.pause()
    await pilot.pause()


async def _publish_preview(pilot):
    await _open_draft(pilot)
    await pilot.press("f9")
    await settle(pilot)


async def _history(pilot):
    await settle(pilot)
    await pilot.press("h")
    await settle(pilot)


async def _help(pilot):
    await _open_draft(pilot)
    await pilot.press("f1")
    await settle(pilot)


async def _activate_confirm(pilot):
    await settle(pilot)
    await pilot.press("down", "a")
    await settle(pilot)


async def _new_config(pilot):
    await settle(pilot)
    await pilot.press("n")
    await settle(pilot)


SCREENS = {
    "configs": settle,
    "package_problems": _draft_with_problem,
    "publish_preview": _publish_preview,
    "history": _history,
    "help": _help,
    "activate_confirm": _activate_confirm,
    "new_config": _new_config,
}


def _then_quiet(run_before):
    """Run the steps, then drop toasts: they expire on a clock, so they have no place in a picture."""

    async def run(pilot):
        await run_before(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    return run


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", list(SCREENS))
def test_screen(snap_compare, make_app, name, size):
    assert snap_compare(make_app(), terminal_size=size, run_before=_then_quiet(SCREENS[name]))


# ----------------------------------------------------------------------------------------- jobs world
REPO = Path(__file__).resolve().parents[2]
ROSTER_JOB, PAYROLL_JOB, CANCELLED_JOB = ("01JQ8A0003" + "0" * 16, "01JQ8A0002" + "0" * 16, "01JQ8A0001" + "0" * 16)
T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def _jobs_settings(data: Path, **extra):
    from ade_engine.settings import isolated_settings

    values = {"sample_configs_dir": data.parent / "no-samples", "job_retention_days": 36_500,
              "document_retention_days": 36_500}  # retention must never purge the frozen (2025) jobs
    if IS_ROOT:
        values["job_user"] = "nobody"
        if JOB_PYTHON and JOB_PYTHON != sys.executable:
            values["job_python"] = JOB_PYTHON
    return isolated_settings(data, **values, **extra)


def _freeze_events(path: Path, old: str, new: str) -> None:
    lines = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        event = json.loads(line.replace(old, new))
        event["ts"] = (T0 + timedelta(milliseconds=100 * i)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        detail = event.get("detail") or {}
        for key, value in {"worker_id": "host:1:frozen", "pid": 4242, "pgid": 4242, "queued_ms": 5,
                           "python_version": "3.x", "sandbox_level": "standard"}.items():
            if key in detail:
                detail[key] = value
        if "duration_ms" in event:
            event["duration_ms"] = 1000
        lines.append(json.dumps(event, separators=(",", ":")))
    _rewrite(path, "\n".join(lines) + "\n")


def _rewrite(path: Path, text: str) -> None:
    """Replace a job file's text, keeping its mode: the engine leaves some read-only, and only root writes
    through that (as a normal user the write would be refused)."""
    mode = path.stat().st_mode
    path.chmod(mode | stat.S_IWUSR)
    try:
        path.write_text(text, encoding="utf-8")
    finally:
        path.chmod(stat.S_IMODE(mode))


def _freeze(ws, old: str, new: str, minute: int) -> None:
    """Give job `old` the fixed id `new`, fixed times and machine-independent facts."""
    from sqlalchemy import update

    from ade_engine.store.models import Job

    jobs_dir = ws.settings.jobs_dir
    (jobs_dir / old).rename(jobs_dir / new)
    for f in (jobs_dir / new).rglob("*"):
        if f.is_file() and f.suffix == ".json" and old in (text := f.read_text(encoding="utf-8")):
            _rewrite(f, text.replace(old, new))
    _freeze_events(jobs_dir / new / "events.ndjson", old, new)
    with ws.sessions.begin() as session:
        row = session.get(Job, old)
        started = T0 + timedelta(minutes=minute) if row.started_at else None
        session.execute(update(Job).where(Job.job_id == old).values(
            job_id=new, job_dir=str(jobs_dir / new), artifact_path=str(jobs_dir / new / "artifact.json"),
            output_path=row.output_path.replace(old, new) if row.output_path else None,
            queued_at=T0 + timedelta(minutes=minute), started_at=started,
            completed_at=(started or T0 + timedelta(minutes=minute)) + timedelta(milliseconds=1234),
            cancel_requested_at=None if row.cancel_requested_at is None else T0 + timedelta(minutes=minute),
            worker_id=row.worker_id and "host:1:frozen", worker_pid=row.worker_pid and 4242,
            worker_pgid=row.worker_pgid and 4242, trace_id="0" * 32,
            sandbox_level=row.sandbox_level and "standard", sandbox_missing=[]))


@pytest.fixture(scope="session")
def frozen_jobs_data_dir(template_data_dir, tmp_path_factory) -> Path:
    """Three finished jobs with fixed ids: member_roster on roster_messy.xlsx and payroll_remittance on
    payroll_two_tables.xlsx (succeeded, real pipeline), and one cancelled while queued."""
    if NO_JOB_PYTHON:
        pytest.skip(NO_JOB_PYTHON)
    from ade_engine.jobs.worker import Worker
    from ade_engine.services import jobs
    from ade_engine.services.workspace import open_workspace

    data = tmp_path_factory.mktemp("jobs-template") / "data"
    shutil.copytree(template_data_dir, data, symlinks=True)
    ws = open_workspace(_jobs_settings(data))
    try:
        inputs = REPO / "sample_configs" / "inputs"
        roster = jobs.submit_job(ws, inputs / "roster_messy.xlsx", config="member_roster").job.job_id
        payroll = jobs.submit_job(ws, inputs / "payroll_two_tables.xlsx", config="payroll_remittance").job.job_id
        Worker(ws, concurrency=1).run(once=True)
        for job_id in (roster, payroll):
            assert jobs.get_job(ws, job_id).status == "succeeded", jobs.show_job(ws, job_id).log_tail
        cancelled = jobs.submit_job(ws, inputs / "roster_clean.xlsx", config="member_roster").job.job_id
        jobs.cancel_job(ws, cancelled)
        _freeze(ws, cancelled, CANCELLED_JOB, 1)
        _freeze(ws, payroll, PAYROLL_JOB, 2)
        _freeze(ws, roster, ROSTER_JOB, 3)
    finally:
        ws.close()
    return data


@pytest.fixture
def make_jobs_app(frozen_jobs_data_dir, tmp_path):
    from ade_tui.app import AdeApp
    from ade_tui.settings import explicit_tui_settings
    from ade_tui.worker_host import SandboxStatus

    def make():
        data = tmp_path / "data"
        shutil.copytree(frozen_jobs_data_dir, data, symlinks=True)
        tui = explicit_tui_settings(watch=False, data_dir_label="~/.local/share/ade", show_times=False,
                                    cursor_blink=False)
        return AdeApp(_jobs_settings(data), tui, sandbox_probe=lambda _s: SandboxStatus("standard"))

    return make


async def _jobs(pilot):
    await settle(pilot)
    await pilot.press("f3")
    await settle(pilot)


def _job_tab(job_id: str, key: str | None):
    async def run(pilot):
        await _jobs(pilot)
        pilot.app.screen.table.select_job(job_id)
        await pilot.press("enter")
        await settle(pilot)
        if key:
            await pilot.press(key)
            await settle(pilot)

    return run


async def _secrets(pilot):
    await settle(pilot)
    await pilot.press("f4")
    await settle(pilot)


JOB_SCREENS = {
    "jobs": _jobs,
    "job_summary": _job_tab(ROSTER_JOB, None),
    "job_diagnostics": _job_tab(CANCELLED_JOB, None),
    "job_events": _job_tab(ROSTER_JOB, "2"),
    "job_artifact": _job_tab(PAYROLL_JOB, "3"),
    "job_output": _job_tab(ROSTER_JOB, "4"),
    "secrets": _secrets,
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", list(JOB_SCREENS))
def test_jobs_screen(snap_compare, make_jobs_app, name, size):
    assert snap_compare(make_jobs_app(), terminal_size=size, run_before=_then_quiet(JOB_SCREENS[name]))
