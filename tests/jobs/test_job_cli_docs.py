"""`ade doc …`, `ade job …` and `ade worker` as a user runs them (real processes), plus the embedded worker."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from jobworld import settings_env, start_worker, wait_until

from ade_engine.errors import AdeError
from ade_engine.jobs.worker import EmbeddedWorker, is_external_worker_running
from ade_engine.services import documents, jobs


@pytest.fixture
def ade(data_dir: Path, monkeypatch, capsys):
    """ade(*args) -> CompletedProcess-like result of `ade` run in this process with the world's ADE_* settings."""
    from ade_engine.cli.main import main

    for key, value in settings_env(data_dir).items():
        if key.startswith("ADE_"):
            monkeypatch.setenv(key, value)

    def run(*args: str) -> subprocess.CompletedProcess:
        capsys.readouterr()
        rc = main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, rc, out, err)

    return run


def test_documents_are_content_addressed_and_reused(ws, inputs, tmp_path):
    path = inputs("ok", name="prices.csv")
    doc = documents.add_document(ws, path)
    stored = Path(doc.path)
    assert stored == ws.settings.documents_dir / doc.sha256[:2] / doc.sha256
    assert stored.read_bytes() == path.read_bytes() and doc.detected_type == "csv"
    copy = tmp_path / "copy.csv"
    copy.write_bytes(path.read_bytes())
    again = documents.add_document(ws, copy)
    assert again.reused and again.document_id == doc.document_id and again.original_name == "prices.csv"
    assert [p.name for p in stored.parent.iterdir()] == [doc.sha256]  # no temp file left behind


def test_doc_rm_is_refused_while_a_job_is_queued(ws, inputs):
    job = jobs.submit_job(ws, inputs("ok")).job
    with pytest.raises(AdeError) as err:
        documents.remove_document(ws, job.document_id)
    assert err.value.code == "document_in_use"
    jobs.cancel_job(ws, job.job_id)
    gone = documents.remove_document(ws, job.document_id)
    assert gone.purged_at is not None and not Path(gone.path).exists()
    with pytest.raises(AdeError) as err:
        jobs.submit_job(ws, job.document_id)
    assert err.value.code == "document_unavailable"


def test_doc_cli(ws, inputs, ade, tmp_path):
    path = inputs("ok")
    added = ade("doc", "add", str(path), "--json")
    assert added.returncode == 0, added.stderr
    doc = json.loads(added.stdout)
    assert "already registered" in ade("doc", "add", str(path)).stdout
    listed = ade("doc", "list")
    assert doc["document_id"] in listed.stdout and path.name in listed.stdout
    assert ade("doc", "pin", doc["document_id"], "--json").returncode == 0
    assert json.loads(ade("doc", "show", doc["document_id"], "--json").stdout)["pinned"] is True
    bad = tmp_path / "notes.docx"
    bad.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    refused = ade("doc", "add", str(bad))
    assert refused.returncode == 2 and refused.stderr.startswith("error: input_")
    assert "notes.docx" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1


def test_job_cli_submit_wait_show_logs_output(ws, stub, inputs, data_dir, ade, tmp_path):
    worker = start_worker(data_dir, stub)
    try:
        first_input = inputs("ok")
        done = ade("job", "submit", str(first_input), "--wait", "--json")
        assert done.returncode == 0, done.stderr
        job = json.loads(done.stdout)
        assert job["status"] == "succeeded"
        failed = ade("job", "submit", str(inputs("fail")), "--wait")
        assert failed.returncode == 1
        assert "pipeline_error" in failed.stdout and "something went wrong on row 7" in failed.stdout
        assert "pass 1/5 structure" in failed.stderr  # progress per pass
        assert is_external_worker_running(ws)
    finally:
        worker.terminate()
        worker.wait(30)
    assert worker.returncode == 0, worker.stderr.read()
    jid = job["job_id"]
    assert jid in ade("job", "list").stdout
    out = tmp_path / "result.xlsx"
    assert ade("job", "output", jid[:10], "--copy-to", str(out)).returncode == 0
    assert out.read_bytes().startswith(b"PK")
    assert json.loads(ade("job", "artifact", jid).stdout)["job"]["status"] == "succeeded"
    assert '"event":"exit"' in ade("job", "logs", jid, "--events").stdout
    assert json.loads(ade("job", "pin", jid, "--json").stdout)["pinned"] is True
    assert json.loads(ade("job", "unpin", jid, "--json").stdout)["pinned"] is False
    stats = json.loads(ade("job", "stats", "--json").stdout)
    assert stats["by_state"]["succeeded"]["count"] == 1 and stats["by_state"]["failed"]["count"] == 1
    dup = ade("job", "submit", str(first_input))
    assert "existing job" in dup.stdout
    cancel_done = ade("job", "cancel", jid)
    assert cancel_done.returncode == 2 and "job_terminal" in cancel_done.stderr


def test_embedded_worker_start_status_stop(ws, stub, inputs):
    job = jobs.submit_job(ws, inputs("sleep")).job
    emb = EmbeddedWorker(ws, concurrency=2).start()
    wait_until(lambda: emb.status().running_job_ids == [job.job_id], what="embedded worker running the job")
    st = emb.status()
    assert (st.slots, st.busy, st.mode) == (2, 1, "embedded")
    assert not is_external_worker_running(ws)  # an embedded worker is not an external one
    assert emb.stop(cancel_running=True, timeout=30)
    done = jobs.get_job(ws, job.job_id)
    assert done.status == "cancelled"
    assert json.loads((Path(done.job_dir) / "events.ndjson").read_text().splitlines()[-1])["event"] == "cleanup"
    lines = (Path(done.job_dir) / "events.ndjson").read_text().splitlines()
    assert any('"source":"shutdown"' in line for line in lines), lines


def test_real_pipeline_through_the_queue(make_ws, tmp_path):
    """No stand-in: the published package runs in the real job process at the best sandbox level."""
    import os

    from pkgfactory import write_csv

    extra = {}
    if os.geteuid() == 0:  # the job process drops to ADE_JOB_USER: it must reach an interpreter and the data dir
        from jobworld import job_python_for

        python = job_python_for("nobody")
        if python is None:
            pytest.skip("running as root and no Python the job user 'nobody' can execute")
        extra["job_python"] = python
        for d in [tmp_path, *tmp_path.parents]:
            if d.stat().st_uid == 0 and not d.stat().st_mode & 0o001:
                d.chmod((d.stat().st_mode & 0o777) | 0o711)
    ws = make_ws(sandbox="auto", **extra)
    src = write_csv(tmp_path / "prices.csv", [["Item Code", "Price"], ["AB-1234", "12.50"], ["CD-5678", "3"]])
    job = jobs.submit_job(ws, src).job
    from ade_engine.jobs.worker import Worker

    Worker(ws, concurrency=1).run(once=True)
    done = jobs.show_job(ws, job.job_id)
    assert done.status == "succeeded", (done.error_code, done.error_message, done.log_tail)
    assert done.sandbox_level in ("strict", "standard", "basic", "reduced")
    assert jobs.output_path(ws, job.job_id).read_bytes().startswith(b"PK")
