"""Submit → claim → run → finalize through a real worker loop and real job processes."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from jobworld import events, wait_until

from ade_engine.errors import AdeError
from ade_engine.jobs.worker import Worker
from ade_engine.services import jobs


def drain(ws, concurrency: int = 2) -> None:
    """Run an in-process worker until the queue is empty."""
    Worker(ws, concurrency=concurrency).run(once=True)


def test_submitted_job_runs_to_succeeded_with_events(ws, stub, inputs):
    res = jobs.submit_job(ws, inputs("ok"))
    assert res.created and res.job.status == "queued"
    job_dir = Path(res.job.job_dir)
    assert (job_dir / "config" / "manifest.json").is_file()
    assert next((job_dir / "inputs").iterdir()).name.startswith("01_ok_")

    drain(ws)

    job = jobs.show_job(ws, res.job.job_id)
    assert job.status == "succeeded", job
    assert job.sandbox_level == "reduced" and "seccomp" in job.sandbox_missing
    assert job.exit_code == 0 and job.started_at and job.completed_at and job.worker_id
    assert jobs.output_path(ws, job.job_id).read_bytes().startswith(b"PK")
    assert not (job_dir / "inputs").exists() and not (job_dir / "tmp").exists()
    names = [e["event"] for e in events(job_dir)]
    for expected in ("enqueue", "claim", "start", "worker.spawn", "pass.started", "pass.progress", "worker.exit",
                     "exit", "cleanup"):
        assert expected in names
    assert names.index("enqueue") < names.index("claim") < names.index("worker.spawn") < names.index("exit")
    exit_ev = next(e for e in events(job_dir) if e["event"] == "exit")
    assert exit_ev["state"] == "succeeded" and exit_ev["duration_ms"] >= 0


def test_failed_job_exposes_code_stage_exit_and_log_tail(ws, stub, inputs):
    res = jobs.submit_job(ws, inputs("fail"))
    drain(ws)
    job = jobs.show_job(ws, res.job.job_id)
    assert job.status == "failed"
    assert (job.error_code, job.error_stage, job.exit_code) == ("pipeline_error", "mapping", 1)
    assert "something went wrong on row 7" in job.log_tail
    with pytest.raises(AdeError) as err:
        jobs.output_path(ws, job.job_id)
    assert err.value.code == "output_unavailable"


def test_duplicate_submission_returns_the_existing_job_unless_forced(ws, stub, inputs):
    path = inputs("ok")
    first = jobs.submit_job(ws, path)
    again = jobs.submit_job(ws, path)
    assert not again.created and again.job.job_id == first.job.job_id
    assert [e["event"] for e in events(first.job.job_dir)].count("dedupe") == 1
    drain(ws)
    # still a duplicate once succeeded; the same bytes under another name are the same document
    copy = path.with_name("renamed.csv")
    copy.write_bytes(path.read_bytes())
    assert jobs.submit_job(ws, copy).job.job_id == first.job.job_id
    forced = jobs.submit_job(ws, path, force=True)
    assert forced.created and forced.job.attempt == 2 and forced.job.retry_of_job_id == first.job.job_id
    # another option is another key
    assert jobs.submit_job(ws, path, network=False).created


def test_failed_job_is_not_deduplicated_and_retry_links_attempts(ws, stub, inputs):
    path = inputs("fail")
    first = jobs.submit_job(ws, path)
    drain(ws)
    again = jobs.submit_job(ws, path)
    assert again.created and again.job.attempt == 2 and again.job.retry_of_job_id == first.job.job_id
    retried = jobs.retry_job(ws, first.job.job_id)
    assert retried.job.attempt == 2 and retried.job.document_id == first.job.document_id
    with pytest.raises(AdeError) as err:
        jobs.retry_job(ws, again.job.job_id)  # still queued
    assert err.value.code == "job_not_retryable"


def test_queue_full_refuses_and_records_nothing(make_ws, stub, inputs):
    ws = make_ws(queue_size=2)
    jobs.submit_job(ws, inputs("ok"))
    jobs.submit_job(ws, inputs("ok"))
    before = sorted(p.name for p in ws.settings.jobs_dir.iterdir())
    with pytest.raises(AdeError) as err:
        jobs.submit_job(ws, inputs("ok"))
    assert err.value.code == "queue_full" and "ADE_QUEUE_SIZE" in err.value.message
    assert len(jobs.list_jobs(ws)) == 2
    assert sorted(p.name for p in ws.settings.jobs_dir.iterdir()) == before


def test_unsupported_file_is_refused_before_queueing(ws, tmp_path):
    bad = tmp_path / "report.pdf"
    bad.write_bytes(b"%PDF-1.7\n" + b"\0" * 100)
    with pytest.raises(AdeError) as err:
        jobs.submit_job(ws, bad)
    assert err.value.code == "input_unsupported"
    assert "report.pdf" in err.value.message and ".csv" in err.value.message
    assert jobs.list_jobs(ws) == []


def test_safe_mode_refuses_submission_and_worker_claims_nothing(make_ws, stub, inputs):
    ws = make_ws()
    queued = jobs.submit_job(ws, inputs("ok")).job
    safe = make_ws(safe_mode=True)
    with pytest.raises(AdeError) as err:
        jobs.submit_job(safe, inputs("ok"))
    assert err.value.code == "safe_mode"
    stop = threading.Event()
    worker = Worker(safe, concurrency=1)
    t = threading.Thread(target=worker.run, kwargs={"stop": stop})
    t.start()
    wait_until(lambda: worker.alive, what="worker start")
    stop.set()
    t.join()
    assert jobs.get_job(ws, queued.job_id).status == "queued"


def test_root_without_job_user_fails_the_job_with_sandbox_unavailable(make_ws, stub, inputs, monkeypatch):
    from ade_engine.jobs import sandbox

    real = sandbox.probe()
    monkeypatch.setattr(sandbox, "probe", lambda force_refresh=False: type(real)(**{**real.__dict__,
                                                                                   "running_as_root": True}))
    ws = make_ws(job_user=None)
    res = jobs.submit_job(ws, inputs("ok"))
    drain(ws)
    job = jobs.show_job(ws, res.job.job_id)
    assert (job.status, job.error_code, job.error_stage) == ("failed", "sandbox_unavailable", "start")
    assert "ADE_JOB_USER" in job.error_message
    assert "worker.spawn" not in [e["event"] for e in events(job.job_dir)]


def test_job_stats_summarize_states_and_durations(ws, stub, inputs):
    jobs.submit_job(ws, inputs("ok"))
    jobs.submit_job(ws, inputs("fail"))
    drain(ws)
    jobs.submit_job(ws, inputs("ok"))
    st = jobs.job_stats(ws)
    assert st.total == 3
    assert (st.by_state["succeeded"].count, st.by_state["failed"].count, st.by_state["queued"].count) == (1, 1, 1)
    assert st.by_state["succeeded"].avg_ms is not None and st.errors == {"pipeline_error": 1}
