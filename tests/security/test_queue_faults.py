"""Queue faults that must not surprise the user (issue 19 §4; checks 3 and 7 of the security checks).

- A cancel recorded before a job starts is honoured: at the claim, and between the claim and the spawn.
- A database locked by another process beyond the busy timeout: `database_busy` on one line, naming the
  holder; the worker logs one line, survives, and runs jobs once the lock is gone.
- kill -9 of one worker never touches another worker's jobs.
- A stale worker (SIGSTOPped past its lease, reaped, then SIGCONTed) cannot finalize: the job keeps the
  reaper's outcome and gets no second terminal event.
- `ade worker --concurrency 999` is refused; `ade gc` removes what killed imports left behind.
- Checks 4, 5, 6 and 8: a recycled pid is never killed, N workers claim 300 jobs once each, read-then-write
  transactions take the write lock first, a writer killed mid-transaction leaves nothing behind.

Workers here run the real bootstrap with a stand-in pipeline (tests/jobs/jobworld.py) so the tests are about
the queue, not about reading spreadsheets.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "jobs"))

from jobworld import (  # noqa: E402
    CLAIMER, REPO_ROOT, STUB_PIPELINE, WORKER_MAIN, events, install_stub, pid_alive, queue_rows, settings_env, stub_command,
    wait_until)
from pkgfactory import write_package  # noqa: E402
from sqlalchemy import update  # noqa: E402

from ade_engine.jobs import queue  # noqa: E402
from ade_engine.jobs.worker import Worker, recover_expired, run_claimed_job  # noqa: E402
from ade_engine.services import configs, jobs  # noqa: E402
from ade_engine.services.workspace import open_workspace  # noqa: E402
from ade_engine.settings import isolated_settings  # noqa: E402
from ade_engine.store.models import Job, utcnow  # noqa: E402

# The stand-in pipeline plus "nap": a job that works for a few seconds, then succeeds.
NAP_STUB = STUB_PIPELINE.replace('    if mode == "hang":', '    if mode == "nap":\n        time.sleep(4)\n'
                                 '    if mode == "hang":')


# ----------------------------------------------------------------------------------------- the world
@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def ws(data_dir: Path, tmp_path: Path):
    """A workspace with package 'prices' published and active (lease 2 s, reduced sandbox, job user as root)."""
    extra = {"job_user": "nobody"} if os.geteuid() == 0 else {}
    settings = isolated_settings(data_dir, sample_configs_dir=tmp_path / "no-samples", sandbox="reduced",
                                 worker_lease_seconds=2, cancel_grace_seconds=1, **extra)
    with open_workspace(settings) as opened:
        draft = configs.import_package(opened, write_package(tmp_path / "pkgs" / "prices"), config_id="prices")
        configs.publish(opened, draft.config_version_id)
        configs.activate(opened, "prices@latest")
        yield opened


@pytest.fixture
def stub(tmp_path: Path, monkeypatch) -> Path:
    """The stand-in pipeline (with "nap"), also used by in-process workers of the test."""
    return install_stub(tmp_path, monkeypatch, NAP_STUB)


@pytest.fixture
def inputs(tmp_path: Path):
    counter = iter(range(1_000_000))

    def make(mode: str = "ok") -> Path:
        n = next(counter)
        path = tmp_path / "in" / f"{mode}_{n}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{mode}\nName,Amount\nAnn,{n}\n", encoding="utf-8")
        return path

    return make


class WorkerProcess:
    """A real `ade worker` process with the stand-in pipeline; its stderr goes to a file the test can read."""

    def __init__(self, data_dir: Path, stub: Path, log: Path, *, concurrency: int = 1, **extra):
        self.log = log
        argv = [sys.executable, "-c", WORKER_MAIN, str(concurrency), *stub_command(stub)]
        with open(log, "w") as err:
            self.proc = subprocess.Popen(argv, env=settings_env(data_dir, **extra), stdout=subprocess.DEVNULL,
                                         stderr=err, text=True, start_new_session=True, cwd=REPO_ROOT)
        self.pid = self.proc.pid

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> str:
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait(30)
        return self.text()


def _beat(ws, pid: int) -> dict | None:
    return next((w for w in queue.live_workers(ws.settings) if w.get("pid") == pid), None)


def _ade(data_dir: Path, *args: str, **extra) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ade_engine.cli.main", *args], env=settings_env(data_dir, **extra),
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)


def _terminal(ws, job_id: str):
    return wait_until(lambda: (j := jobs.get_job(ws, job_id)).terminal and j, timeout=90, what=f"job {job_id} ends")


# ----------------------------------------------------------------------------------------- cancel
def test_cancel_recorded_between_claim_and_start_means_the_job_never_starts(ws, stub, inputs):
    """The user's cancel lands right after a worker claimed the job: nothing is spawned, the job is
    `cancelled`, and its events say why (observed: the job ran and succeeded, no `cancel.requested`)."""
    job = jobs.submit_job(ws, inputs("ok")).job

    def cancel_then_run(worker, claimed, cancel_check):
        jobs.cancel_job(ws, claimed.job_id)  # recorded in the store; the worker has not looked yet
        return run_claimed_job(worker, claimed, cancel_check)

    Worker(ws, concurrency=1, execute=cancel_then_run).run(once=True)
    done = jobs.show_job(ws, job.job_id)
    assert (done.status, done.error_code) == ("cancelled", "cancelled")
    names = [e["event"] for e in events(job.job_dir)]
    assert "cancel.requested" in names and "worker.spawn" not in names
    assert names.count("exit") == 1
    assert done.worker_pid is None and not (Path(job.job_dir) / "normalized.xlsx").exists()


def test_claim_never_starts_a_queued_job_whose_cancel_is_recorded(ws, stub, inputs):
    """A cancel recorded on a queued job that was not ended with it (an older client, a canceller killed half
    way): the claim ends it `cancelled` with the event, and takes the next job."""
    doomed = jobs.submit_job(ws, inputs("ok")).job
    after = jobs.submit_job(ws, inputs("ok")).job
    with ws.sessions.begin() as s:
        s.execute(update(Job).where(Job.job_id == doomed.job_id).values(cancel_requested_at=utcnow()))
    Worker(ws, concurrency=1).run(once=True)
    gone = jobs.show_job(ws, doomed.job_id)
    assert (gone.status, gone.error_code, gone.started_at, gone.worker_pid) == ("cancelled", "cancelled", None, None)
    names = [e["event"] for e in events(doomed.job_dir)]
    assert "cancel.requested" in names and "worker.spawn" not in names and names.count("exit") == 1
    art = json.loads((Path(doomed.job_dir) / "artifact.json").read_text())
    assert art["job"]["status"] == "cancelled"
    assert jobs.get_job(ws, after.job_id).status == "succeeded"


def test_cancel_while_queued_writes_the_event(ws, inputs, data_dir):
    job = jobs.submit_job(ws, inputs("ok")).job
    proc = _ade(data_dir, "job", "cancel", job.job_id)
    assert proc.returncode == 0, proc.stderr
    assert jobs.get_job(ws, job.job_id).status == "cancelled"
    assert [e["detail"]["source"] for e in events(job.job_dir) if e["event"] == "cancel.requested"] == ["user"]


# ----------------------------------------------------------------------------------------- database busy
HOLDER = r'''
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
con.execute("BEGIN IMMEDIATE")
print("held", flush=True)
sys.stdin.readline()
con.execute("ROLLBACK")
'''


def test_db_busy_beyond_timeout_is_reported(ws, stub, inputs, data_dir, tmp_path):
    """Check 7: another process holds the write lock past the busy timeout → `database_busy` on one line with
    the holder and a retry path; the worker logs one line (no traceback, no SQL), survives, and runs the next
    job once the lock is gone (observed: a raw SQLAlchemy traceback after 11 s)."""
    worker = WorkerProcess(data_dir, stub, tmp_path / "worker.err", database_busy_timeout_seconds=1)
    holder = None
    try:
        wait_until(lambda: _beat(ws, worker.pid), what="the worker's first heartbeat")
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(data_dir / "ade.sqlite")],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "held"

        submit = _ade(data_dir, "job", "submit", str(inputs("ok")), database_busy_timeout_seconds=1)
        assert submit.returncode == 2
        lines = submit.stderr.strip().splitlines()
        assert len(lines) == 1, submit.stderr
        message = lines[0]
        assert message.startswith("error: database_busy: ") and "retry" in message
        assert f"pid {holder.pid}" in message and str(data_dir / "ade.sqlite") in message
        assert "Traceback" not in submit.stderr and "sqlalchemy" not in submit.stderr.lower()

        wait_until(lambda: "is busy" in worker.text(), what="the worker to meet the lock")
        assert worker.proc.poll() is None
    finally:
        if holder is not None:
            holder.stdin.write("go\n")
            holder.stdin.flush()
            holder.wait(30)
    job = jobs.submit_job(ws, inputs("ok")).job
    assert _terminal(ws, job.job_id).status == "succeeded"  # the loop survived
    log = worker.stop()
    busy_lines = [line for line in log.splitlines() if "is busy" in line]
    assert len(busy_lines) == 1, log
    assert f"pid {holder.pid}" in busy_lines[0]
    assert "Traceback" not in log and "[SQL" not in log and "OperationalError" not in log


def test_db_busy_message_from_the_service_layer(ws, inputs, data_dir):
    """The same error through the services (what the workstation shows), with the holder's details."""
    settings = ws.settings.model_copy(update={"database_busy_timeout_seconds": 0.2})
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(data_dir / "ade.sqlite")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with open_workspace(settings) as other:
            from ade_engine.errors import AdeError

            with pytest.raises(AdeError) as err:
                jobs.submit_job(other, inputs("ok"))
        assert err.value.code == "database_busy"
        assert any(f"pid {holder.pid}" in h for h in err.value.details["holders"])
    finally:
        holder.stdin.write("go\n")
        holder.stdin.flush()
        holder.wait(30)


# ----------------------------------------------------------------------------------------- crashes and leases
def test_kill_9_of_one_worker_never_touches_the_other_workers_jobs(ws, stub, inputs, data_dir, tmp_path):
    """Two workers with two jobs each; worker A is killed with SIGKILL, the operator lists jobs and starts a
    new worker. A's jobs end `interrupted`; every job of B succeeds (observed: 3 of B's failed worker_crash)."""
    ids = [jobs.submit_job(ws, inputs("nap")).job.job_id for _ in range(4)]
    a = WorkerProcess(data_dir, stub, tmp_path / "a.err", concurrency=2)
    b = WorkerProcess(data_dir, stub, tmp_path / "b.err", concurrency=2)
    restarted = None
    try:
        def owners():
            rows = [jobs.get_job(ws, j) for j in ids]
            return rows if all(r.worker_pid for r in rows) else None

        rows = wait_until(owners, what="all four jobs running")
        by_pid = {}
        for r in rows:
            by_pid.setdefault(int(r.worker_id.split(":")[1]), []).append(r.job_id)
        assert set(by_pid) == {a.pid, b.pid}, by_pid  # two each (each worker has two slots)
        os.kill(a.pid, signal.SIGKILL)
        a.proc.wait(30)
        listed = _ade(data_dir, "job", "list")  # what an operator does next
        assert listed.returncode == 0, listed.stderr
        restarted = WorkerProcess(data_dir, stub, tmp_path / "a2.err", concurrency=2)
        done = {j: _terminal(ws, j) for j in ids}
        assert b.proc.poll() is None, b.text()
    finally:
        if restarted is not None:
            restarted.stop()
        log_b = b.stop()
    for job_id in by_pid[b.pid]:
        assert (done[job_id].status, done[job_id].error_code) == ("succeeded", None), log_b
    for job_id in by_pid[a.pid]:
        assert (done[job_id].status, done[job_id].error_code) == ("failed", "interrupted")
        assert [e["event"] for e in events(done[job_id].job_dir)].count("exit") == 1


def test_stale_worker_cannot_finalize(ws, stub, inputs, data_dir, tmp_path):
    """Check 3: a worker SIGSTOPped past its lease is reaped; once SIGCONTed its fenced writes change nothing:
    the job keeps the reaper's outcome and has one terminal event (observed: duplicate terminal events)."""
    job = jobs.submit_job(ws, inputs("sleep")).job
    worker = WorkerProcess(data_dir, stub, tmp_path / "worker.err")
    try:
        running = wait_until(lambda: (j := jobs.get_job(ws, job.job_id)).worker_pid and j, what="job running")
        os.kill(worker.pid, signal.SIGSTOP)
        wait_until(lambda: jobs.get_job(ws, job.job_id).lease_expires_at < utcnow(), what="the lease to expire")
        assert recover_expired(ws) == [job.job_id]  # the reaper (another worker, here the test)
        reaped = jobs.get_job(ws, job.job_id)
        assert (reaped.status, reaped.error_code) == ("failed", "interrupted")
        wait_until(lambda: not pid_alive(running.worker_pid), what="the reaped job's process gone")
        art_before = (Path(job.job_dir) / "artifact.json").read_text()
        resumed_at = time.time()
        os.kill(worker.pid, signal.SIGCONT)
        # The stale worker looks at its job again, finds it gone, and drops its slot.
        wait_until(lambda: (beat := _beat(ws, worker.pid)) and beat["beat"] > resumed_at and beat["busy"] == 0,
                   what="the stale worker to let go of the job")
    finally:
        log = worker.stop()
    after = jobs.get_job(ws, job.job_id)
    assert (after.status, after.error_code, after.completed_at) == ("failed", "interrupted", reaped.completed_at)
    assert after.lease_expires_at is None and after.worker_id == running.worker_id
    names = [e["event"] for e in events(job.job_dir)]
    assert names.count("exit") == 1 and names.count("cleanup") == 1, names
    assert (Path(job.job_dir) / "artifact.json").read_text() == art_before
    assert "not recorded" in log
    # The stale worker's renewal and its last lease check before finalizing are fenced: they affect no row.
    assert queue.hold(ws, job.job_id, running.worker_id, 30) is False
    assert queue.renew(ws, running.worker_id, [job.job_id], 30)[job.job_id].owned is False
    assert jobs.get_job(ws, job.job_id).lease_expires_at is None


# ----------------------------------------------------------------------------------------- limits and leftovers
def test_concurrency_above_the_limit_is_refused(ws, tmp_path):
    fresh = tmp_path / "fresh-data"
    proc = _ade(fresh, "worker", "--concurrency", "999")
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: concurrency_invalid: concurrency 999 is out of range")
    assert "1 to 64" in proc.stderr and "--concurrency" in proc.stderr
    assert not fresh.exists()  # refused before anything was opened or created
    from ade_engine.errors import AdeError

    for slots in (0, 65):  # the workstation's embedded worker goes through the same check
        with pytest.raises(AdeError) as err:
            jobs.new_worker(ws, concurrency=slots)
        assert err.value.code == "concurrency_invalid"
    assert jobs.new_worker(ws, concurrency=64).concurrency == 64


def test_gc_removes_what_killed_imports_left_behind(ws, data_dir):
    """`.staging-*` of killed config imports (and the like of uploads, preparations and runtime builds) are
    removed by `ade gc` once untouched for an hour; a fresh one (an import in progress) stays."""
    old = time.time() - 2 * 3600
    leftovers = [
        data_dir / "configs" / "prices" / ".staging-01J0000000000000000000OLD1",
        data_dir / "documents" / ".incoming-abc123",
        data_dir / "envs" / ".prepare-0123456789ab-xyz",
        data_dir / "runtime" / ".build-1.0.0-abc-xyz",
    ]
    for path in leftovers:
        if path.name.startswith(".incoming-"):
            path.write_bytes(b"half an upload")
        else:
            (path / "sub").mkdir(parents=True)
            (path / "sub" / "manifest.json").write_text("{}")
            (path / "sub").chmod(0o500)  # read-only folders, as a half-published package has
    fresh = data_dir / "configs" / "prices" / ".staging-01J0000000000000000000NEW1"
    (fresh / "columns").mkdir(parents=True)
    (fresh / "columns" / "a.py").write_text("x = 1\n")
    for path in leftovers:
        for p in [path, *path.rglob("*")]:
            os.utime(p, (old, old), follow_symlinks=False)

    dry = _ade(data_dir, "gc", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    reported = {item["path"] for item in json.loads(dry.stdout)["staging"]}
    assert reported == {str(p) for p in leftovers}
    assert all(p.exists() for p in leftovers)

    real = _ade(data_dir, "gc")
    assert real.returncode == 0, real.stderr
    assert "4 leftover(s)" in real.stdout
    assert not any(p.exists() for p in leftovers)
    assert (fresh / "columns" / "a.py").exists()
    assert configs.active_version(ws).config_id == "prices"  # the real package next to it is untouched


# ----------------------------------------------------------------------------------------- checks 4, 5, 6, 8
def test_reaper_does_not_kill_recycled_pid(ws, inputs, tmp_path):
    """Check 4: the pid recorded for an expired job now belongs to unrelated processes (one even sits in the
    job's folder, one carries the bootstrap's name in its command line) → both untouched; the job is still
    failed `interrupted`."""
    import socket

    job = jobs.submit_job(ws, inputs("ok")).job
    dead_worker = f"{socket.gethostname()}:1:dead00"  # a worker of this machine that is gone
    claimed = queue.claim(ws, dead_worker, 2)
    assert claimed.job_id == job.job_id
    in_job_dir = subprocess.Popen(["sleep", "300"], cwd=job.job_dir, start_new_session=True)
    named_like = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)",
                                   "ade_engine.runtime.bootstrap"], cwd=tmp_path, start_new_session=True)
    try:
        # The first job's recorded pid is now a process that carries the bootstrap's name elsewhere.
        with ws.sessions.begin() as s:
            s.execute(update(Job).where(Job.job_id == job.job_id, Job.status == "running").values(
                worker_pid=named_like.pid, worker_pgid=named_like.pid,
                lease_expires_at=utcnow() - timedelta(seconds=1)))
        assert recover_expired(ws) == [job.job_id]
        assert in_job_dir.poll() is None and named_like.poll() is None
        done = jobs.get_job(ws, job.job_id)
        assert (done.status, done.error_code) == ("failed", "interrupted")
        # The second job's recorded pid is now a process sitting in that job's folder.
        second = jobs.submit_job(ws, inputs("ok")).job
        queue.claim(ws, dead_worker, 2)
        with ws.sessions.begin() as s:
            s.execute(update(Job).where(Job.job_id == second.job_id).values(
                worker_pid=in_job_dir.pid, worker_pgid=in_job_dir.pid, lease_expires_at=utcnow() - timedelta(seconds=1)))
        assert recover_expired(ws) == [second.job_id]
        assert in_job_dir.poll() is None and named_like.poll() is None
        assert jobs.get_job(ws, second.job_id).error_code == "interrupted"
    finally:
        for proc in (in_job_dir, named_like):
            proc.kill()
            proc.wait(10)




def test_concurrent_claim_no_duplicates(ws, data_dir):
    """Check 5: N worker processes and 300 queued jobs on SQLite → every job claimed exactly once.
    (PostgreSQL: not run here — no server in this environment; the claim uses FOR UPDATE SKIP LOCKED there.)"""
    ids = queue_rows(ws, 300)
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER], env=settings_env(data_dir), cwd=REPO_ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    for p in procs:
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    claimed: list[str] = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        claimed += json.loads(out)
    assert len(claimed) == len(set(claimed)) == 300 and set(claimed) == set(ids)
    with ws.sessions() as s:
        assert {r.status for r in s.query(Job).all()} == {"running"}


def _commit_elsewhere_after_first_read(ws, writer_sql: str):
    """Arrange that another connection tries to commit `writer_sql` right after our transaction's first read.

    Our transaction holds the write lock from BEGIN IMMEDIATE, so that writer waits for us; a deferred one would
    let it commit in between and then fail its own write at once with "database is locked" (SQLITE_BUSY_SNAPSHOT)."""
    import sqlite3
    import threading

    from sqlalchemy import event

    state = {"armed": True, "thread": None, "error": None}
    path = str(ws.settings.data_dir / "ade.sqlite")

    def write() -> None:
        try:
            con = sqlite3.connect(path, isolation_level=None, timeout=30)
            con.execute("BEGIN IMMEDIATE")
            con.execute(writer_sql)
            con.execute("COMMIT")
            con.close()
        except Exception as exc:  # reported by the test
            state["error"] = exc

    def after(conn, cursor, statement, *_):
        if state["armed"] and statement.lstrip().upper().startswith("SELECT"):
            state["armed"] = False
            t = threading.Thread(target=write)
            t.start()
            state["thread"] = t
            t.join(0.5)  # long enough for a writer that is not blocked to commit

    event.listen(ws.engine, "after_cursor_execute", after)
    return state, lambda: event.remove(ws.engine, "after_cursor_execute", after)


@pytest.mark.parametrize("operation", ["cancel", "pin", "claim"])
def test_sqlite_write_path_uses_begin_immediate(ws, inputs, operation):
    """Check 6: a concurrent writer commits between our read and our write → no `database is locked`
    (observed: deferred transactions failed at 0.000 s)."""
    job = jobs.submit_job(ws, inputs("ok")).job
    other = jobs.submit_job(ws, inputs("ok")).job
    bump = f"UPDATE jobs SET pinned = 1 WHERE job_id = '{other.job_id}'"
    state, disarm = _commit_elsewhere_after_first_read(ws, bump)
    try:
        if operation == "cancel":
            assert jobs.cancel_job(ws, job.job_id).status == "cancelled"
        elif operation == "pin":
            assert jobs.pin_job(ws, job.job_id).pinned
        else:
            assert queue.claim(ws, "host:1:abc", 30).job_id == job.job_id
    finally:
        disarm()
        if state["thread"] is not None:
            state["thread"].join(30)
    assert state["thread"] is not None and state["error"] is None
    assert jobs.get_job(ws, other.job_id).pinned  # the other writer's commit went in too, after ours


KILLED_WRITER = r'''
import sys
from ade_engine.jobs.queue import write_transaction
from ade_engine.services.workspace import open_workspace
from ade_engine.settings import load_settings
from ade_engine.store.models import Job, utcnow

ws = open_workspace(load_settings())
with write_transaction(ws) as s:
    for i in range(500):
        s.add(Job(job_id=f"KILLED{i:020d}", workspace_id=ws.workspace_id, config_id="prices",
                  config_version_id="v", content_hash="h", status="queued", attempt=1, queued_at=utcnow(),
                  trace_id=f"k{i}", sandbox_missing=[], pinned=False))
        if i == 250:
            s.flush()  # half the rows are written into the transaction (the WAL), not committed
            print("mid", flush=True)
            sys.stdin.readline()  # killed here
'''


def test_sigkill_during_db_transaction(ws, inputs, data_dir):
    """Check 8: a writer killed mid-transaction → integrity_check ok, none of its rows, and the next writer
    proceeds at once (a busy timeout of 0.1 s would fail it with database_busy otherwise)."""
    import sqlite3

    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER], env=settings_env(data_dir), cwd=REPO_ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "mid", writer.stderr.read()
    finally:
        writer.kill()
        writer.wait(30)
    con = sqlite3.connect(data_dir / "ade.sqlite")
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT count(*) FROM jobs WHERE job_id LIKE 'KILLED%'").fetchone()[0] == 0
    finally:
        con.close()
    quick = ws.settings.model_copy(update={"database_busy_timeout_seconds": 0.1})
    with open_workspace(quick) as again:
        submitted = jobs.submit_job(again, inputs("ok")).job
        assert submitted.status == "queued"
        assert queue.claim(again, "host:1:next", 30).job_id == submitted.job_id
