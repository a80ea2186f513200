"""Retention (jobs.md §10, §3a): `collect_garbage` and `ade gc` on a workspace with jobs in every state."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import ulid

from ade_engine.services.retention import collect_garbage
from ade_engine.services.workspace import open_workspace
from ade_engine.settings import isolated_settings
from ade_engine.store.models import ConfigVersion, Document, Job

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
OLD = NOW - timedelta(days=45)
RECENT = NOW - timedelta(days=2)


def add_document(ws, content: bytes, *, added_at: datetime, pinned: bool = False) -> str:
    sha = hashlib.sha256(content).hexdigest()
    stored = ws.settings.documents_dir / sha[:2] / sha
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(content)
    stored.chmod(0o400)
    doc_id = ulid.new().str
    with ws.sessions.begin() as s:
        s.add(Document(document_id=doc_id, workspace_id=ws.workspace_id, original_name="in.csv", sha256=sha,
                       size_bytes=len(content), detected_type="csv", added_at=added_at, pinned=pinned))
    return doc_id


def add_job(ws, status: str, *, completed_at: datetime | None, document_id: str | None = None,
            pinned: bool = False, size: int = 1000) -> str:
    job_id = ulid.new().str
    job_dir = ws.settings.jobs_dir / job_id
    (job_dir / "config").mkdir(parents=True)
    (job_dir / "config" / "manifest.json").write_text("{}")
    (job_dir / "config" / "manifest.json").chmod(0o400)
    (job_dir / "config").chmod(0o500)  # read-only, like a staged package
    (job_dir / "normalized.xlsx").write_bytes(b"x" * size)
    with ws.sessions.begin() as s:
        s.add(Job(job_id=job_id, workspace_id=ws.workspace_id, config_id="c", config_version_id="v", content_hash="h",
                  document_id=document_id, status=status, queued_at=(completed_at or NOW) - timedelta(minutes=1),
                  completed_at=completed_at, trace_id="t", pinned=pinned, job_dir=str(job_dir)))
    return job_id


@pytest.fixture
def ws(tmp_path):
    settings = isolated_settings(tmp_path / "data")
    with open_workspace(settings, import_samples=False) as w:
        yield w


@pytest.fixture
def world(ws):
    doc_old_used_by_queued = add_document(ws, b"a,b\n1,2\n", added_at=OLD)
    doc_old_unused = add_document(ws, b"c\n3\n", added_at=OLD)
    doc_old_pinned = add_document(ws, b"d\n4\n", added_at=OLD, pinned=True)
    doc_recent = add_document(ws, b"e\n5\n", added_at=RECENT)
    doc_old_of_old_job = add_document(ws, b"f\n6\n", added_at=OLD)
    jobs = {
        "queued": add_job(ws, "queued", completed_at=None, document_id=doc_old_used_by_queued),
        "running": add_job(ws, "running", completed_at=None),
        "old_succeeded": add_job(ws, "succeeded", completed_at=OLD, document_id=doc_old_of_old_job),
        "old_failed": add_job(ws, "failed", completed_at=OLD),
        "old_cancelled": add_job(ws, "cancelled", completed_at=OLD),
        "old_pinned": add_job(ws, "succeeded", completed_at=OLD, pinned=True),
        "recent": add_job(ws, "succeeded", completed_at=RECENT),
    }
    docs = {"used_by_queued": doc_old_used_by_queued, "unused": doc_old_unused, "pinned": doc_old_pinned,
            "recent": doc_recent, "of_old_job": doc_old_of_old_job}
    return jobs, docs


def job_row(ws, job_id):
    with ws.sessions() as s:
        return s.get(Job, job_id)


def doc_row(ws, doc_id):
    with ws.sessions() as s:
        return s.get(Document, doc_id)


def test_dry_run_reports_and_changes_nothing(ws, world):
    jobs, docs = world
    report = collect_garbage(ws, dry_run=True, now=NOW)
    assert {i.id for i in report.jobs} == {jobs["old_succeeded"], jobs["old_failed"], jobs["old_cancelled"]}
    assert {i.reason for i in report.jobs} == {"age"}
    assert {i.id for i in report.documents} == {docs["unused"], docs["of_old_job"]}
    for job_id in jobs.values():
        assert (ws.settings.jobs_dir / job_id).is_dir()
        assert job_row(ws, job_id).purged_at is None
    assert all(doc_row(ws, d).purged_at is None for d in docs.values())


def test_real_run_purges_old_terminal_jobs_and_unreferenced_documents_only(ws, world):
    jobs, docs = world
    report = collect_garbage(ws, now=NOW)
    gone = {jobs["old_succeeded"], jobs["old_failed"], jobs["old_cancelled"]}
    assert {i.id for i in report.jobs} == gone
    for name, job_id in jobs.items():
        row = job_row(ws, job_id)
        assert row is not None  # records stay
        if job_id in gone:
            assert not (ws.settings.jobs_dir / job_id).exists() and row.purged_at is not None
        else:
            assert (ws.settings.jobs_dir / job_id).is_dir() and row.purged_at is None, name
    for name in ("unused", "of_old_job"):
        row = doc_row(ws, docs[name])
        assert row.purged_at is not None
        assert not (ws.settings.documents_dir / row.sha256[:2] / row.sha256).exists()
    for name in ("used_by_queued", "pinned", "recent"):
        row = doc_row(ws, docs[name])
        assert row.purged_at is None and (ws.settings.documents_dir / row.sha256[:2] / row.sha256).exists(), name
    assert report.freed_bytes >= 3000
    # A second pass finds nothing more
    again = collect_garbage(ws, now=NOW)
    assert not again.jobs and not again.documents


def test_size_cap_deletes_the_oldest_terminal_dirs_first(tmp_path):
    settings = isolated_settings(tmp_path / "data", job_retention_days=365, job_retention_max_gb=2500 / 1024 ** 3)
    with open_workspace(settings, import_samples=False) as ws:
        oldest = add_job(ws, "failed", completed_at=NOW - timedelta(days=3), size=1000)
        middle = add_job(ws, "succeeded", completed_at=NOW - timedelta(days=2), size=1000)
        newest = add_job(ws, "succeeded", completed_at=NOW - timedelta(days=1), size=1000)
        running = add_job(ws, "running", completed_at=None, size=1000)
        report = collect_garbage(ws, now=NOW)
        assert [(i.id, i.reason) for i in report.jobs] == [(oldest, "size"), (middle, "size")]
        assert (ws.settings.jobs_dir / newest).is_dir() and (ws.settings.jobs_dir / running).is_dir()


def test_unused_idle_env_is_deleted_but_a_used_one_is_kept(ws):
    envs = ws.settings.envs_dir
    for name in ("unused", "used", "fresh"):
        (envs / name / "vendor").mkdir(parents=True)
        (envs / name / "last_used").touch()
    old = (NOW - timedelta(days=40)).timestamp()
    os.utime(envs / "unused" / "last_used", (old, old))
    os.utime(envs / "used" / "last_used", (old, old))
    fresh = (NOW - timedelta(days=1)).timestamp()
    os.utime(envs / "fresh" / "last_used", (fresh, fresh))
    with ws.sessions.begin() as s:
        from ade_engine.store.models import Config

        s.add(Config(config_id="cfg", workspace_id=ws.workspace_id, title="t"))
        s.flush()
        s.add(ConfigVersion(config_version_id=ulid.new().str, config_id="cfg", number=1, deps_hash="used"))
    dry = collect_garbage(ws, dry_run=True, now=NOW)
    assert [e.id for e in dry.envs] == ["unused"] and (envs / "unused").exists()
    collect_garbage(ws, now=NOW)
    assert not (envs / "unused").exists()
    assert (envs / "used").is_dir() and (envs / "fresh").is_dir()


def test_ade_gc_cli_dry_run_and_json(tmp_path, repo_root):
    data = tmp_path / "data"
    settings = isolated_settings(data)
    with open_workspace(settings, import_samples=False) as ws:
        job = add_job(ws, "failed", completed_at=datetime.now(timezone.utc) - timedelta(days=90))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADE_")}
    env.update({"ADE_DATA_DIR": str(data), "PYTHONPATH": str(repo_root)})

    def ade(*args):
        return subprocess.run([sys.executable, "-m", "ade_engine.cli.main", "gc", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    dry = ade("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would remove job dir {job}" in dry.stdout and (data / "jobs" / job).is_dir()
    real = ade("--json")
    assert real.returncode == 0, real.stderr
    doc = json.loads(real.stdout)
    assert doc["dry_run"] is False and [j["id"] for j in doc["jobs"]] == [job]
    assert not (data / "jobs" / job).exists()
