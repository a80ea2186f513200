"""The database is the queue (jobs.md §0): claims, leases, heartbeats, conditional finalization, recovery.

Every write a worker makes to a running job is conditional on still owning it (`worker_id` and
`status = 'running'`), so a job recovered by another worker is never finalized twice. Claims are atomic:
SQLite takes the write lock up front (`BEGIN IMMEDIATE`), PostgreSQL uses `FOR UPDATE SKIP LOCKED`.
A queued job whose cancel was requested is never started: the claim ends it `cancelled` instead.
The reaper decides before it acts: `mark_interrupted` (conditional on the same expired lease) comes first,
and only the winner kills a local process group and writes the job's files.

Live workers also leave a heartbeat file in `${ADE_DATA_DIR}/workers/` (the data dir is shared in
scale-out setups, like the database) so a TUI can tell whether a standalone `ade worker` is serving.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ade_engine.store.models import Job, utcnow

BOOTSTRAP_MARKERS = ("ade_engine.runtime.bootstrap", "ade_worker_bootstrap")
WORKERS_SUBDIR = "workers"
CLAIM_SCAN = 100  # queued jobs one claim looks at when it may pass some over


def new_worker_id() -> str:
    """`<hostname>:<pid>:<random>` (jobs.md §1): tells a recovering worker whether a job was local."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def worker_host(worker_id: str | None) -> str | None:
    return worker_id.rsplit(":", 2)[0] if worker_id and worker_id.count(":") >= 2 else None


def _is_sqlite(ws: Any) -> bool:
    return ws.engine.dialect.name == "sqlite"


@contextmanager
def write_transaction(ws: Any) -> Iterator[Session]:
    """A session whose transaction holds the write lock from its first statement (SQLite: BEGIN IMMEDIATE)."""
    with ws.sessions() as session:
        if _is_sqlite(ws):
            session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# ----------------------------------------------------------------------------------------- claims
def claim(ws: Any, worker_id: str, lease_seconds: int,
          accept: Callable[[Job], bool] | None = None, *, cancelled: list[Job] | None = None) -> Job | None:
    """Take the oldest queued job (FIFO by `queued_at`) for `worker_id`, or None when the queue is empty.
    `accept(job)` may pass over a job (it stays queued for another worker, e.g. one whose engine satisfies
    the version's `info.requires_engine`); then the next one in FIFO order is taken.
    Queued jobs whose cancel was requested are ended `cancelled` in the same transaction, never started; they
    are appended to `cancelled` (the caller writes their files)."""
    with write_transaction(ws) as session:
        now = utcnow()
        doomed = list(session.scalars(select(Job).where(
            Job.status == "queued", Job.workspace_id == ws.workspace_id, Job.cancel_requested_at.is_not(None))))
        for row in doomed:
            session.execute(update(Job).where(Job.job_id == row.job_id, Job.status == "queued").values(
                status="cancelled", completed_at=now, error_code="cancelled", error_stage="start",
                error_message="cancelled before it started (the cancel was recorded while it was queued)"))
        if doomed:
            session.flush()
            for row in doomed:
                session.refresh(row)
                session.expunge(row)
            if cancelled is not None:
                cancelled.extend(doomed)
        q = (select(Job).where(Job.status == "queued", Job.workspace_id == ws.workspace_id,
                               Job.cancel_requested_at.is_(None))
             .order_by(Job.queued_at, Job.job_id))
        if not _is_sqlite(ws):
            q = q.with_for_update(skip_locked=True)
        job = session.scalars(q.limit(1)).first()
        if job is not None and accept is not None and not accept(job):  # look further only when passed over
            job = next((j for j in session.scalars(q.offset(1).limit(CLAIM_SCAN)) if accept(j)), None)
        if job is None:
            return None
        # Read the clock once the write lock is held: taken before it, a job submitted while this worker
        # waited for the lock would look started before it was queued.
        now = utcnow()
        res = session.execute(
            update(Job).where(Job.job_id == job.job_id, Job.status == "queued",
                              Job.cancel_requested_at.is_(None)).values(
                status="running", started_at=now, worker_id=worker_id, heartbeat_at=now,
                lease_expires_at=now + timedelta(seconds=lease_seconds)))
        if res.rowcount != 1:
            return None
        session.refresh(job)
        session.expunge(job)
        return job


def _owned(job_id: str, worker_id: str) -> Any:
    return (Job.job_id == job_id) & (Job.worker_id == worker_id) & (Job.status == "running")


def record_spawn(ws: Any, job_id: str, worker_id: str, pid: int | None, pgid: int | None) -> bool:
    with ws.sessions.begin() as session:
        res = session.execute(update(Job).where(_owned(job_id, worker_id)).values(worker_pid=pid, worker_pgid=pgid))
        return res.rowcount == 1


def record_sandbox(ws: Any, job_id: str, worker_id: str, level: str | None, missing: list[str]) -> bool:
    with ws.sessions.begin() as session:
        res = session.execute(update(Job).where(_owned(job_id, worker_id)).values(
            sandbox_level=level, sandbox_missing=list(missing)))
        return res.rowcount == 1


def cancel_requested(ws: Any, job_id: str) -> bool:
    """True when a cancel of `job_id` is recorded (the worker polls this between heartbeats)."""
    with ws.sessions() as session:
        return session.scalar(select(Job.cancel_requested_at).where(Job.job_id == job_id)) is not None


def hold(ws: Any, job_id: str, worker_id: str, lease_seconds: int) -> bool:
    """Renew one lease right before finalizing: True (and a fresh lease) only while we still own the job.

    A reaper fails a job only on the exact expired lease it saw, so once this returns True nobody else
    finalizes the job before our lease runs out again; False means it was reaped and its files are not ours."""
    now = utcnow()
    with ws.sessions.begin() as session:
        res = session.execute(update(Job).where(_owned(job_id, worker_id)).values(
            heartbeat_at=now, lease_expires_at=now + timedelta(seconds=lease_seconds)))
        return res.rowcount == 1


@dataclass
class LeaseState:
    owned: bool
    cancel_requested: bool


def renew(ws: Any, worker_id: str, job_ids: list[str], lease_seconds: int) -> dict[str, LeaseState]:
    """Extend the leases of `job_ids`; report per job whether we still own it and whether cancel was asked."""
    if not job_ids:
        return {}
    now = utcnow()
    with ws.sessions.begin() as session:
        session.execute(update(Job).where(
            Job.job_id.in_(job_ids), Job.worker_id == worker_id, Job.status == "running",
        ).values(heartbeat_at=now, lease_expires_at=now + timedelta(seconds=lease_seconds)))
        rows = session.execute(select(Job.job_id, Job.cancel_requested_at).where(
            Job.job_id.in_(job_ids), Job.worker_id == worker_id, Job.status == "running")).all()
    found = {jid: LeaseState(True, cancel is not None) for jid, cancel in rows}
    return {jid: found.get(jid, LeaseState(False, False)) for jid in job_ids}


def finish(ws: Any, job_id: str, worker_id: str, outcome: Any, *, output_path: str | None = None) -> bool:
    """Record a decided outcome (`JobOutcome`) on a job we own; False when we no longer own it."""
    err = outcome.error or {}
    with ws.sessions.begin() as session:
        res = session.execute(update(Job).where(_owned(job_id, worker_id)).values(
            status=outcome.status, completed_at=utcnow(), lease_expires_at=None,
            exit_code=outcome.exit_code, exit_signal=outcome.signal,
            error_code=err.get("code"), error_message=(err.get("message") or None) and str(err["message"])[:400],
            error_stage=err.get("stage"),
            sandbox_level=outcome.sandbox_level, sandbox_missing=list(outcome.sandbox_missing or []),
            output_path=output_path))
        return res.rowcount == 1


# ----------------------------------------------------------------------------------------- recovery
def expired(ws: Any, now: datetime | None = None) -> list[Job]:
    now = now or utcnow()
    with ws.sessions() as session:
        rows = list(session.scalars(select(Job).where(
            Job.status == "running", Job.workspace_id == ws.workspace_id, Job.lease_expires_at < now)))
        for r in rows:
            session.expunge(r)
        return rows


def local_group_alive(job: Job) -> bool:
    """True when the job's process group leader is on this machine, alive, and still that job's bootstrap."""
    if not job.worker_pgid or worker_host(job.worker_id) != socket.gethostname():
        return False
    import psutil

    try:
        leader = psutil.Process(job.worker_pgid)
        if leader.status() == psutil.STATUS_ZOMBIE:
            return False
        cmd = " ".join(leader.cmdline())
        cwd = leader.cwd()
    except (psutil.Error, OSError):
        return False
    same_dir = job.job_dir is not None and os.path.realpath(cwd) == os.path.realpath(job.job_dir)
    return same_dir and any(m in cmd for m in BOOTSTRAP_MARKERS)


def kill_group(pgid: int, wait_s: float = 5.0) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
    from ade_engine.jobs.launcher import _group_members  # live (non-zombie) members only

    deadline = time.monotonic() + wait_s
    while _group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)


def mark_interrupted(ws: Any, job: Job, message: str) -> bool:
    """Fail an expired running job as `interrupted`, conditional on it still being the same expired lease."""
    with ws.sessions.begin() as session:
        res = session.execute(update(Job).where(
            Job.job_id == job.job_id, Job.status == "running", Job.worker_id == job.worker_id,
            Job.lease_expires_at == job.lease_expires_at,
        ).values(status="failed", completed_at=utcnow(), error_code="interrupted", error_message=message[:400],
                 error_stage="start", lease_expires_at=None))
        return res.rowcount == 1


def set_error_stage(ws: Any, job_id: str, stage: str) -> None:
    with ws.sessions.begin() as session:
        session.execute(update(Job).where(Job.job_id == job_id).values(error_stage=stage))


# ----------------------------------------------------------------------------------------- worker beats
def workers_dir(settings: Any) -> Path:
    return Path(settings.data_dir) / WORKERS_SUBDIR


def _beat_path(settings: Any, worker_id: str) -> Path:
    return workers_dir(settings) / (worker_id.replace(":", "_").replace("/", "_") + ".json")


def write_beat(settings: Any, worker_id: str, info: dict[str, Any]) -> None:
    path = _beat_path(settings, worker_id)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({**info, "worker_id": worker_id, "beat": time.time()}), encoding="utf-8")
    os.replace(tmp, path)


def remove_beat(settings: Any, worker_id: str) -> None:
    _beat_path(settings, worker_id).unlink(missing_ok=True)


def live_workers(settings: Any) -> list[dict[str, Any]]:
    """Heartbeat records younger than a lease whose process (when on this machine) is alive."""
    root = workers_dir(settings)
    found = []
    if not root.is_dir():
        return found
    horizon = time.time() - float(settings.worker_lease_seconds)
    for path in root.glob("*.json"):
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if float(info.get("beat") or 0) < horizon:
            continue
        if info.get("hostname") == socket.gethostname() and info.get("pid"):
            try:
                os.kill(int(info["pid"]), 0)
            except ProcessLookupError:
                continue
            except PermissionError:
                pass
        found.append(info)
    return found
