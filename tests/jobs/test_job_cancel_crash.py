"""Cancel (queued and running, from another process), timeout, kill -9 of the job and of the worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from jobworld import REPO_ROOT, events, pid_alive, settings_env, start_worker, wait_until

from ade_engine.jobs.worker import Worker, recover_expired
from ade_engine.services import jobs


class Running:
    """An in-process worker in a thread (its job threads are the job processes' parents)."""

    def __init__(self, ws, concurrency: int = 2):
        self.stop = threading.Event()
        self.worker = Worker(ws, concurrency=concurrency)
        self.thread = threading.Thread(target=self.worker.run, kwargs={"stop": self.stop}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self.worker

    def __exit__(self, *exc):
        self.stop.set()
        self.worker.cancel_all()
        self.thread.join(30)


def cancel_from_another_process(data_dir: Path, job_id: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ade_engine.cli.main", "job", "cancel", job_id],
                          env=settings_env(data_dir), capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)


def test_cancel_queued_job_is_immediate(ws, inputs, data_dir):
    job = jobs.submit_job(ws, inputs("ok")).job
    proc = cancel_from_another_process(data_dir, job.job_id)
    assert proc.returncode == 0, proc.stderr
    after = jobs.show_job(ws, job.job_id)
    assert after.status == "cancelled" and after.completed_at and after.started_at is None
    assert [e for e in events(job.job_dir) if e["event"] == "exit"][0]["state"] == "cancelled"
    Worker(ws).run(once=True)  # nothing to claim
    assert jobs.get_job(ws, job.job_id).status == "cancelled"


def test_cancel_running_job_from_another_process_kills_the_whole_group(ws, stub, inputs, data_dir):
    job = jobs.submit_job(ws, inputs("sleep")).job
    child_pid_file = Path(job.job_dir) / "child.pid"
    with Running(ws):
        wait_until(child_pid_file.exists, what="the job's grandchild")
        grandchild = int(child_pid_file.read_text())
        leader = wait_until(lambda: jobs.get_job(ws, job.job_id).worker_pid, what="recorded pid")
        proc = cancel_from_another_process(data_dir, job.job_id)
        assert proc.returncode == 0, proc.stderr
        done = wait_until(lambda: (j := jobs.get_job(ws, job.job_id)).terminal and j, what="cancelled")
    assert done.status == "cancelled" and done.error_code == "cancelled"
    assert not pid_alive(leader) and not pid_alive(grandchild)
    job_dir = Path(job.job_dir)
    assert not (job_dir / "normalized.xlsx").exists()
    import json

    art = json.loads((job_dir / "artifact.json").read_text())
    assert art["job"]["status"] == "cancelled" and art["job"]["completed_at"]
    assert any(e["event"] == "cancel.requested" for e in events(job_dir))


def test_timeout_kills_a_job_that_ignores_sigterm(make_ws, stub, inputs):
    ws = make_ws(job_timeout_seconds=1, cancel_grace_seconds=0.5)
    job = jobs.submit_job(ws, inputs("hang")).job
    Worker(ws, concurrency=1).run(once=True)
    done = jobs.show_job(ws, job.job_id)
    assert (done.status, done.error_code) == ("failed", "timeout")
    assert done.exit_signal == signal.SIGKILL
    assert not pid_alive(done.worker_pid)
    assert any(e["event"] == "worker.timeout" for e in events(job.job_dir))


def test_kill_9_of_the_job_mid_write_exposes_no_output(ws, stub, inputs):
    job = jobs.submit_job(ws, inputs("halfwrite")).job
    marker = Path(job.job_dir) / "writing"
    with Running(ws):
        wait_until(marker.exists, what="the job to start writing")
        os.kill(int(marker.read_text()), signal.SIGKILL)
        done = wait_until(lambda: (j := jobs.get_job(ws, job.job_id)).terminal and j, what="job end")
    assert (done.status, done.error_code, done.exit_signal) == ("failed", "worker_crash", signal.SIGKILL)
    job_dir = Path(job.job_dir)
    assert not (job_dir / "normalized.xlsx").exists() and not (job_dir / "normalized.xlsx.partial").exists()
    assert done.output_path is None


def test_kill_9_of_the_worker_then_another_worker_recovers_the_job(ws, stub, inputs, data_dir):
    job = jobs.submit_job(ws, inputs("sleep")).job
    worker = start_worker(data_dir, stub)
    try:
        running = wait_until(lambda: (j := jobs.get_job(ws, job.job_id)).worker_pid and j, what="job running")
        assert running.status == "running" and running.worker_id.split(":")[1] == str(worker.pid)
        os.killpg(worker.pid, signal.SIGKILL)  # the worker (and anything in its group) dies at once
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
    # The job process's lifeline ends it when its parent is gone.
    wait_until(lambda: not pid_alive(running.worker_pid), what="job process gone")
    assert jobs.get_job(ws, job.job_id).status == "running"  # nobody finalized it yet
    recovered = wait_until(lambda: recover_expired(ws), what="lease expiry")
    assert recovered == [job.job_id]
    done = jobs.show_job(ws, job.job_id)
    assert (done.status, done.error_code) == ("failed", "interrupted")
    import json

    assert json.loads((Path(job.job_dir) / "artifact.json").read_text())["job"]["status"] == "failed"
    assert recover_expired(ws) == []  # never finalized twice
    again = jobs.retry_job(ws, job.job_id).job
    assert again.attempt == 2 and again.status == "queued"


def test_worker_recovers_a_local_orphan_by_killing_its_group(ws, inputs):
    """A running job whose lease expired while its process lives on this machine: the group is killed."""
    from datetime import timedelta

    from sqlalchemy import update

    from ade_engine.jobs import queue
    from ade_engine.store.models import Job, utcnow

    job = jobs.submit_job(ws, inputs("ok")).job
    claimed = queue.claim(ws, "ghost-host:1:abc", 2)
    # A stand-in for a job process left behind by a dead worker on this host: the bootstrap in the job dir.
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "ade_engine.runtime.bootstrap"],
                              cwd=job.job_dir, start_new_session=True)
    import socket

    with ws.sessions.begin() as s:
        s.execute(update(Job).where(Job.job_id == claimed.job_id).values(
            worker_id=f"{socket.gethostname()}:1:abc", worker_pid=orphan.pid, worker_pgid=orphan.pid,
            lease_expires_at=utcnow() - timedelta(seconds=1)))
    assert recover_expired(ws) == [job.job_id]
    orphan.wait(10)
    assert orphan.returncode == -signal.SIGKILL
    assert jobs.get_job(ws, job.job_id).error_code == "interrupted"


def test_log_flood_is_capped(make_ws, stub, inputs):
    ws = make_ws(worker_log_mb=1)
    job = jobs.submit_job(ws, inputs("flood")).job
    Worker(ws, concurrency=1).run(once=True)
    done = jobs.get_job(ws, job.job_id)
    assert done.status == "succeeded"
    log = Path(job.job_dir) / "logs" / "worker.log"
    size = log.stat().st_size
    assert 512 * 1024 < size <= 1024 * 1024 + 4096
    assert "reached its cap" in log.read_text()[-300:]
