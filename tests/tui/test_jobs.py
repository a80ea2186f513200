"""Pilot flows of the jobs half: submit → watch the states → inspect the artifact and the output; cancel a
running job; quit with running jobs (wait or cancel; queued jobs stay queued); the worker in the status bar.

Real jobs: the app's embedded worker runs the sample packages in real job processes (as `nobody` when the
tests run as root, like tests/jobs). Jobs that must stay running use a stand-in pipeline inside the real
bootstrap that runs until cancelled or released by a file the test writes — no sleeps decide anything.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from textual.widgets import Input
from tui_support import settle, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ for sandbox_helpers and jobs/jobworld
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "jobs"))

from jobworld import WRAPPER  # noqa: E402
from sandbox_helpers import IS_ROOT, JOB_PYTHON, NO_JOB_PYTHON  # noqa: E402

from ade_engine.services import jobs  # noqa: E402
from ade_engine.services.workspace import open_workspace  # noqa: E402
from ade_engine.settings import isolated_settings  # noqa: E402
from ade_tui.app import AdeApp  # noqa: E402
from ade_tui.screens.confirm import ConfirmDialog  # noqa: E402
from ade_tui.screens.job_detail import JobDetailScreen  # noqa: E402
from ade_tui.screens.jobs import JobsScreen  # noqa: E402
from ade_tui.screens.submit import SubmitDialog  # noqa: E402
from ade_tui.settings import explicit_tui_settings  # noqa: E402
from ade_tui.widgets.artifact_tree import ArtifactTree  # noqa: E402
from ade_tui.widgets.events_view import EventsView  # noqa: E402
from ade_tui.widgets.output_preview import OutputPreview  # noqa: E402
from ade_tui.worker_host import SandboxStatus  # noqa: E402

pytestmark = [pytest.mark.anyio, pytest.mark.skipif(bool(NO_JOB_PYTHON), reason=NO_JOB_PYTHON or "jobs can run")]
REPO = Path(__file__).resolve().parents[2]

# Runs until cancelled; with first line "release", also ends (succeeded) once the test writes <job_dir>/release.
HELD_PIPELINE = r'''
import os, time

def run_pipeline(request, secrets, job_dir, cancel):
    job_dir = str(job_dir)
    mode = open(request["input"]["path"], encoding="utf-8").readline().strip()
    ok = {"schema": "ade.run_result/v1", "status": "succeeded", "error": None,
          "stats": {"rows_written": 0, "tables": 0, "issues_found": 0}, "duration_ms": 1}
    while not cancel.is_set():
        if mode == "release" and os.path.exists(os.path.join(job_dir, "release")):
            with open(os.path.join(job_dir, "normalized.xlsx.partial"), "wb") as fh:
                fh.write(b"PK\x03\x04 stand-in workbook")
            os.replace(os.path.join(job_dir, "normalized.xlsx.partial"), os.path.join(job_dir, "normalized.xlsx"))
            return ok
        time.sleep(0.05)
    return {**ok, "status": "cancelled", "error": {"code": "cancelled", "message": "cancelled", "stage": "structure"}}
'''


def _settings(tmp_path: Path, template: Path, **overrides):
    data = tmp_path / "data"
    shutil.copytree(template, data, symlinks=True)
    values = {"sample_configs_dir": tmp_path / "no-samples", "worker_lease_seconds": 5, "cancel_grace_seconds": 1}
    if IS_ROOT:  # decision 11: as root, jobs run as an unprivileged user (tests/conftest.py)
        values["job_user"] = "nobody"
        if JOB_PYTHON and JOB_PYTHON != sys.executable:
            values["job_python"] = JOB_PYTHON
    values.update(overrides)
    return isolated_settings(data, **values)


def _app(settings) -> AdeApp:
    tui = explicit_tui_settings(watch=False, data_dir_label="~/.local/share/ade", show_times=False, cursor_blink=False)
    return AdeApp(settings, tui, sandbox_probe=lambda _s: SandboxStatus("standard"))


@pytest.fixture
def real_settings(tmp_path, template_data_dir):
    """The sample workspace; jobs run the real pipeline at the best sandbox level."""
    return _settings(tmp_path, template_data_dir)


@pytest.fixture
def held_settings(tmp_path, template_data_dir, monkeypatch):
    """One slot, and a stand-in pipeline that holds its job until cancelled (or released)."""
    import ade_engine.jobs.worker as worker_mod

    stub = tmp_path / "held_pipeline.py"
    stub.write_text(HELD_PIPELINE, encoding="utf-8")
    monkeypatch.setattr(worker_mod, "_command_override", [sys.executable, "-s", "-P", "-B", "-c", WRAPPER, str(stub)])
    return _settings(tmp_path, template_data_dir, sandbox="reduced", max_concurrency=1)


def _held_input(tmp_path: Path, mode: str, n: int) -> Path:
    path = tmp_path / "in" / f"{mode}_{n}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{mode}\nName,Amount\nAnn,{n}\n", encoding="utf-8")
    return path


def _state(app, job_id: str) -> str | None:
    screen = app.screen
    row = screen.table.rows_by_id.get(job_id) if isinstance(screen, JobsScreen) else None
    return row.state if row else None


async def _jobs_screen(pilot) -> JobsScreen:
    await settle(pilot)
    await pilot.press("f3")
    await settle(pilot)
    assert isinstance(pilot.app.screen, JobsScreen)
    return pilot.app.screen


async def test_submit_watch_states_then_inspect_artifact_and_output(real_settings):
    app = _app(real_settings)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _jobs_screen(pilot)
        assert "worker: embedded 0/2 busy" in _status_text(app)
        await pilot.press("s")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, SubmitDialog)
        dialog.query_one("#submit-path", Input).value = str(REPO / "sample_configs" / "inputs" / "roster_messy.xlsx")
        await pilot.press("f9")

        seen: list[str] = []

        def watch() -> bool:
            rows = list(screen.table.rows_by_id.values())
            if rows and (not seen or seen[-1] != rows[0].state):
                seen.append(rows[0].state)
            return bool(seen) and seen[-1] in ("succeeded", "failed", "cancelled")

        assert await wait_for(pilot, watch), seen
        job_id = screen.table.selected_job
        assert seen[-1] == "succeeded", (seen, jobs.show_job(app.ws, job_id).log_tail)
        assert seen[0] in ("queued", "running")  # the row appeared before the job ended, then changed in place
        row = screen.table.rows_by_id[job_id]
        assert (row.config, row.progress, row.rows, row.input) == ("member_roster@1", "5/5", "34", "roster_messy.xlsx")
        assert row.issues == "4e 3w"

        await pilot.press("enter")
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, JobDetailScreen) and detail.job_id == job_id
        summary = str(detail.query_one("#job-summary").render())
        assert "✓ succeeded" in summary and "member_roster@1" in summary and "34" in summary

        await pilot.press("2")
        await settle(pilot)
        events = detail.query_one(EventsView)
        names = [events.get_row_at(i)[1] for i in range(events.row_count)]
        assert names[0] == "enqueue" and "pass.completed" in names and names[-1] == "cleanup"

        await pilot.press("3")
        await settle(pilot)
        labels = _tree_labels(detail.query_one(ArtifactTree))
        assert any("→ member_id" in label for label in labels), labels
        assert any("unmapped: best score below the threshold" in label for label in labels), labels
        assert any(label.startswith("A21 → out A15") and "duplicate_value" in label for label in labels), labels
        assert any("Hook notes" in label for label in labels)

        await pilot.press("4")
        await settle(pilot)
        preview = detail.query_one(OutputPreview)
        headers = [str(c.label) for c in preview.columns.values()]
        assert headers[:3] == ["#", "Member ID", "First Name"]
        assert preview.row_count == 34 and not preview.more


async def test_output_preview_loads_more_rows_as_you_scroll(real_settings, tmp_path):
    rows = ["Member ID,First Name,Last Name,Email,Phone,Hire Date,Status"]
    rows += [f"M-{10000 + i},Ann{i},Lee,ann{i}@example.com,555-0100,2024-01-02,active" for i in range(450)]
    src = tmp_path / "big_roster.csv"
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    app = _app(real_settings)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _jobs_screen(pilot)
        screen.submit(_request(src))
        assert await wait_for(pilot, lambda: _state(app, screen.table.selected_job or "") == "succeeded")
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        preview = app.screen.query_one(OutputPreview)
        assert (preview.row_count, preview.more) == (200, True)
        await pilot.press("ctrl+end")  # the cursor nears the last loaded row: the next window loads
        await settle(pilot)
        assert preview.row_count == 400
        await pilot.press("ctrl+end")
        await settle(pilot)
        assert (preview.row_count, preview.more) == (450, False)
        assert preview.get_row_at(449)[1] == "M-10449"


def _request(path: Path):
    from ade_tui.screens.submit import SubmitRequest

    return SubmitRequest(str(path), None, None)


async def test_cancel_a_running_job(held_settings, tmp_path):
    app = _app(held_settings)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _jobs_screen(pilot)
        screen.submit(_request(_held_input(tmp_path, "hold", 1)))
        assert await wait_for(pilot, lambda: _state(app, screen.table.selected_job or "") == "running")
        assert await wait_for(pilot, lambda: "worker: embedded 1/1 busy" in _status_text(app))
        job_id = screen.table.selected_job
        await pilot.press("x")
        assert await wait_for(pilot, lambda: _state(app, job_id) == "cancelled")
        assert screen.table.rows_by_id[job_id].progress == "0/5 at start"  # the stand-in runs no pass
        assert "cancelled" in str(screen.query_one("#jobs-detail").render())
        assert await wait_for(pilot, lambda: "worker: embedded 0/1 busy" in _status_text(app))


async def test_quit_with_running_jobs_cancel_leaves_queued_jobs_queued(held_settings, tmp_path):
    app = _app(held_settings)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _jobs_screen(pilot)
        running = jobs.submit_job(app.ws, _held_input(tmp_path, "hold", 1)).job.job_id
        queued = jobs.submit_job(app.ws, _held_input(tmp_path, "hold", 2)).job.job_id
        app.job_submitted()
        assert await wait_for(pilot, lambda: _state(app, running) == "running" and _state(app, queued) == "queued")
        await pilot.press("ctrl+q")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog)
        assert "1 job(s) are running" in str(dialog.query_one(".dialog-body").render())
        await pilot.click("#choice-cancel")
        assert await wait_for(pilot, lambda: not app.is_running)
    ws = open_workspace(held_settings)
    try:
        assert jobs.get_job(ws, running).status == "cancelled"
        assert jobs.get_job(ws, queued).status == "queued"
    finally:
        ws.close()


async def test_quit_with_running_jobs_wait_lets_them_finish(held_settings, tmp_path):
    app = _app(held_settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await _jobs_screen(pilot)
        job = jobs.submit_job(app.ws, _held_input(tmp_path, "release", 1)).job
        app.job_submitted()
        assert await wait_for(pilot, lambda: app.worker_host.running_jobs() == [job.job_id])
        await pilot.press("ctrl+q")
        await settle(pilot)
        await pilot.click("#choice-wait")
        await pilot.pause(0.2)
        assert app.is_running  # still waiting for the job
        assert "waiting for 1 running job(s)" in _status_text(app)
        (Path(job.job_dir) / "release").write_text("go", encoding="utf-8")
        assert await wait_for(pilot, lambda: not app.is_running)
    ws = open_workspace(held_settings)
    try:
        assert jobs.get_job(ws, job.job_id).status == "succeeded"
    finally:
        ws.close()


async def test_quit_without_running_jobs_asks_nothing(real_settings):
    app = _app(real_settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await _jobs_screen(pilot)
        await pilot.press("ctrl+q")
        assert await wait_for(pilot, lambda: not app.is_running)


async def test_external_worker_is_watched_not_duplicated(held_settings, tmp_path):
    from jobworld import start_worker, wait_until

    from ade_engine.services.jobs import external_worker_running

    stub = tmp_path / "held_pipeline.py"
    extra = {"job_python": JOB_PYTHON} if IS_ROOT and JOB_PYTHON != sys.executable else {}
    proc = start_worker(held_settings.data_dir, stub, concurrency=1, **extra)
    try:
        ws = open_workspace(held_settings)
        wait_until(lambda: external_worker_running(ws), what="the external worker's heartbeat")
        job = jobs.submit_job(ws, _held_input(tmp_path, "hold", 1)).job
        ws.close()
        app = _app(held_settings)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await _jobs_screen(pilot)
            assert await wait_for(pilot, lambda: _state(app, job.job_id) == "running")
            assert await wait_for(pilot, lambda: "worker: external 1/1 busy" in _status_text(app))
            assert app.worker_host.running_jobs() == []  # not ours: quitting asks nothing
            screen.table.select_job(job.job_id)
            await pilot.press("x")  # cancel crosses processes through the database
            assert await wait_for(pilot, lambda: _state(app, job.job_id) == "cancelled")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _status_text(app) -> str:
    from ade_tui.widgets.status_bar import sandbox_text, worker_text

    info = app.status_info
    busy = f"⟳ {info.busy[-1]}…" if info.busy else info.workspace
    return f"{busy} {worker_text(info.worker)} {sandbox_text(info.sandbox)[0]}"


def _tree_labels(tree) -> list[str]:
    out = []

    def walk(node):
        for child in node.children:
            out.append(str(child.label))
            walk(child)

    walk(tree.root)
    return out
