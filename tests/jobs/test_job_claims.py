"""Two worker processes claiming 200 jobs from one SQLite queue: every job once, none twice."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

from jobworld import CLAIMER, REPO_ROOT, queue_rows, settings_env

from ade_engine.jobs.worker import Worker
from ade_engine.store.models import Job



def test_two_worker_processes_claim_200_jobs_without_duplicates(ws, data_dir):
    ids = queue_rows(ws, 200)
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER], env=settings_env(data_dir), cwd=REPO_ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    for p in procs:
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    a, b = results
    assert not set(a) & set(b)
    assert sorted(a + b) == sorted(ids)
    with ws.sessions() as s:
        rows = s.query(Job).all()
        assert {r.status for r in rows} == {"running"}
        # each row's owner is the process that reported it
        owner = {r.job_id: r.worker_id for r in rows}
        assert len({owner[j] for j in a}) <= 1 and len({owner[j] for j in b}) <= 1


def test_worker_slots_bound_concurrency_and_claim_fifo(ws):
    """A fake launcher: the loop never runs more than its slots at once, and takes jobs oldest first."""
    ids = queue_rows(ws, 12)
    lock = threading.Lock()
    running, peak, order = 0, 0, []

    class Done:
        status, error, exit_code, signal, duration_ms = "succeeded", None, 0, None, 1
        sandbox_level, sandbox_missing, output_path = "reduced", [], None

    def fake(worker, job, cancel_check):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            order.append(job.job_id)
        threading.Event().wait(0.02)
        with lock:
            running -= 1
        return Done()

    Worker(ws, concurrency=3, execute=fake).run(once=True)
    assert sorted(order) == sorted(ids) and peak <= 3
    assert order[:3] == ids[:3] or sorted(order[:3]) == ids[:3]
    with ws.sessions() as s:
        assert {r.status for r in s.query(Job).all()} == {"succeeded"}
