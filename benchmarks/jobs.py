"""Jobs benchmark: what the queue, worker and job process cost per job, relative to bare process starts.

(a) overhead — N tiny jobs (a 3-row CSV through `sample_configs/member_roster`) run by one worker with 2
    slots, against N bare `python -c pass` starts also run 2 at a time, in the same run: the ratio is what
    to compare across machines.
(b) latency  — with an embedded worker idle, submit→running (`enqueue` → `claim`) and submit→spawned
    (`enqueue` → `worker.spawn`) from the job's own events, median of several submits.
Runs in a throwaway data dir. As root it sets ADE_JOB_USER=nobody (decision 11) and says so.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def _ts(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")


def _events(job_dir: str) -> dict[str, datetime]:
    import json

    out: dict[str, datetime] = {}
    for line in (Path(job_dir) / "events.ndjson").read_text(encoding="utf-8").splitlines():
        ev = json.loads(line)
        out.setdefault(ev["event"], _ts(ev["ts"]))
    return out


def _workspace(data: Path, config: Path) -> tuple[Any, str]:
    from ade_engine.services import configs
    from ade_engine.services.workspace import open_workspace
    from ade_engine.settings import isolated_settings

    note = ""
    extra: dict[str, Any] = {"sandbox": os.environ.get("ADE_SANDBOX", "auto")}
    if os.geteuid() == 0:
        extra["job_user"] = os.environ.get("ADE_JOB_USER") or "nobody"
        note = f"as root with ADE_JOB_USER={extra['job_user']}"
        python = os.environ.get("ADE_JOB_PYTHON") or _job_python(extra["job_user"])
        if python:
            extra["job_python"] = python
            note += f", ADE_JOB_PYTHON={python}"
    ws = open_workspace(isolated_settings(data, max_concurrency=2, **extra), import_samples=False)
    draft = configs.import_package(ws, config, config_id="bench")
    configs.publish(ws, draft.config_version_id)
    configs.activate(ws, "bench@latest")
    return ws, note


def _job_python(user: str) -> str | None:
    """An interpreter of this minor version the job user can execute (the venv's may sit under /root)."""
    from ade_engine.jobs.runtime_site import find_job_python

    return find_job_python(user)[0]


def _inputs(root: Path, n: int, tag: str) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = root / f"{tag}_{i:03d}.csv"
        p.write_text(f"Member ID,Name,Email\nM{i:04d},Ann {tag} {i},ann{i}@example.org\n"
                     f"M{i + 1:04d},Bob {i},bob{i}@example.org\nM{i + 2:04d},Cy {i},cy{i}@example.org\n")
        paths.append(p)
    return paths


def bare_starts(n: int, slots: int = 2) -> float:
    def one(_: int) -> None:
        subprocess.run([sys.executable, "-c", "pass"], check=True)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(slots) as pool:
        list(pool.map(one, range(n)))
    return time.perf_counter() - t0


def measure_jobs(n: int = 50, slots: int = 2, latency_samples: int = 8,
                 config: Path = REPO / "sample_configs" / "member_roster") -> dict[str, Any]:
    from ade_engine.jobs.worker import EmbeddedWorker, Worker
    from ade_engine.services import jobs

    with tempfile.TemporaryDirectory(prefix="ade-bench-jobs-") as tmp:
        root = Path(tmp)
        if os.geteuid() == 0:
            root.chmod(0o711)  # the job user must pass through to the data dir
        ws, note = _workspace(root / "data", config)
        try:
            bare_s = bare_starts(n, slots)
            t0 = time.perf_counter()
            ids = [jobs.submit_job(ws, p).job.job_id for p in _inputs(root / "in", n, "load")]
            submit_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            Worker(ws, concurrency=slots).run(once=True)
            run_s = time.perf_counter() - t0
            states = [jobs.get_job(ws, j) for j in ids]
            ok = sum(j.status == "succeeded" for j in states)
            first_error = next((f"{j.error_code}: {j.error_message}" for j in states if j.error_code), None)
            level = states[0].sandbox_level if states else None

            emb = EmbeddedWorker(ws, concurrency=slots).start()
            to_running, to_spawn = [], []
            try:
                for p in _inputs(root / "lat", latency_samples, "lat"):
                    job = jobs.submit_job(ws, p).job
                    jobs.wait_for_job(ws, job.job_id, poll_s=0.02, timeout_s=120)
                    ev = _events(job.job_dir)
                    if "claim" in ev:
                        to_running.append((ev["claim"] - ev["enqueue"]).total_seconds() * 1000)
                    if "worker.spawn" in ev:
                        to_spawn.append((ev["worker.spawn"] - ev["enqueue"]).total_seconds() * 1000)
            finally:
                emb.stop(cancel_running=True, timeout=60)
        finally:
            ws.close()
    return {
        "jobs": n, "slots": slots, "succeeded": ok, "sandbox_level": level, "note": note, "first_error": first_error,
        "submit_s": round(submit_s, 3), "run_s": round(run_s, 3), "bare_starts_s": round(bare_s, 3),
        "ratio_to_bare": round(run_s / bare_s, 2) if bare_s else None,
        "per_job_ms": round(run_s * slots / n * 1000, 1), "per_bare_start_ms": round(bare_s * slots / n * 1000, 1),
        "submit_per_job_ms": round(submit_s / n * 1000, 1),
        "latency_to_running_ms_p50": round(statistics.median(to_running), 1) if to_running else None,
        "latency_to_spawn_ms_p50": round(statistics.median(to_spawn), 1) if to_spawn else None,
    }


def print_jobs(rec: dict[str, Any]) -> None:
    print(f"jobs: {rec['jobs']} tiny jobs, {rec['slots']} slots, sandbox {rec['sandbox_level']}"
          + (f" ({rec['note']})" if rec["note"] else "") + f": {rec['succeeded']} succeeded")
    if rec["first_error"]:
        print(f"  first error: {rec['first_error']}")
    print(f"  run {rec['run_s']} s vs {rec['jobs']} bare python starts {rec['bare_starts_s']} s → "
          f"ratio {rec['ratio_to_bare']} (slot time per job {rec['per_job_ms']} ms vs {rec['per_bare_start_ms']} ms)")
    print(f"  submit {rec['submit_per_job_ms']} ms/job · embedded worker latency p50: submit→running "
          f"{rec['latency_to_running_ms_p50']} ms, submit→spawned {rec['latency_to_spawn_ms_p50']} ms")
    sys.stdout.flush()


def main() -> int:
    import json

    rec = measure_jobs()
    print_jobs(rec)
    out = REPO / "bench-out"
    out.mkdir(exist_ok=True)
    (out / "jobs.json").write_text(json.dumps(rec, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
