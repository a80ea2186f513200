"""A jobs world: a workspace in tmp_path with one published, active package, a stand-in pipeline whose
behaviour each input chooses (its first line), and helpers to run real `ade worker` processes.

The stand-in keeps these tests about the queue, not the pipeline (tested where it lives): it runs
inside the real bootstrap (limits, lifeline, signals, result.json) as the job process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sandbox_helpers import wait_until  # noqa: F401 - re-exported for the jobs tests

REPO_ROOT = Path(__file__).resolve().parents[2]

STUB_PIPELINE = r'''
import json, os, subprocess, sys, time

def _events(request, job_dir):
    from ade_engine.runtime.events import EventLog
    return EventLog(os.path.join(job_dir, "events.ndjson"), request["job_id"], request.get("attempt", 1), "job")

def run_pipeline(request, secrets, job_dir, cancel):
    job_dir = str(job_dir)
    mode = open(request["input"]["path"], encoding="utf-8").readline().strip()
    ev = _events(request, job_dir)
    ev.emit("pass.started", detail={"pass": 1, "name": "structure"})
    ev.emit("pass.completed", detail={"pass": 1, "name": "structure", "stats": {"data_rows": 3}})
    ok = {"schema": "ade.run_result/v1", "status": "succeeded", "error": None,
          "stats": {"rows_written": 3, "tables": 1, "issues_found": 0}, "duration_ms": 1}
    if mode == "sleep":  # cancellable; leaves a grandchild in the group to prove the whole group dies
        child = subprocess.Popen(["sleep", "300"])
        open(os.path.join(job_dir, "child.pid"), "w").write(str(child.pid))
        while not cancel.is_set():
            time.sleep(0.05)
        return {**ok, "status": "cancelled", "error": {"code": "cancelled", "message": "cancelled", "stage": "structure"}}
    if mode == "hang":  # ignores the cancel flag: only SIGKILL ends it
        open(os.path.join(job_dir, "hanging"), "w").write("1")
        while True:
            time.sleep(0.05)
    if mode == "halfwrite":  # dies mid-write (the test kills it)
        with open(os.path.join(job_dir, "normalized.xlsx.partial"), "wb") as fh:
            fh.write(b"PK\x03\x04 half a workbook")
            fh.flush()
            open(os.path.join(job_dir, "writing"), "w").write(str(os.getpid()))
            while True:
                time.sleep(0.05)
    if mode == "flood":
        line = "x" * 1023 + "\n"
        for _ in range(4 * 1024):  # 4 MiB of output
            sys.stdout.write(line)
        sys.stdout.flush()
    if mode == "fail":
        print("something went wrong on row 7", file=sys.stderr)
        return {**ok, "status": "failed", "error": {"code": "pipeline_error", "message": "stand-in failure",
                                                      "stage": "mapping"}}
    ev.emit("pass.started", detail={"pass": 3, "name": "transform"})
    ev.emit("pass.progress", detail={"pass": 3, "sheet_id": "sheet_1", "rows": 3})
    ev.emit("pass.completed", detail={"pass": 5, "name": "generate", "stats": {"rows_written": 3}})
    with open(os.path.join(job_dir, "normalized.xlsx.partial"), "wb") as fh:
        fh.write(b"PK\x03\x04 stand-in workbook")
    os.replace(os.path.join(job_dir, "normalized.xlsx.partial"), os.path.join(job_dir, "normalized.xlsx"))
    return ok
'''

WRAPPER = (
    "import sys, types\n"
    "mod = types.ModuleType('ade_engine.runtime.pipeline')\n"
    "exec(open(sys.argv[1]).read(), mod.__dict__)\n"
    "sys.modules[mod.__name__] = mod\n"
    "from ade_engine.runtime.bootstrap import main\n"
    "sys.exit(main())\n"
)


def stub_command(stub_path: Path) -> list[str]:
    return [sys.executable, "-s", "-P", "-B", "-c", WRAPPER, str(stub_path)]


def settings_env(data_dir: Path, **extra: Any) -> dict[str, str]:
    """ADE_* for a worker subprocess (the developer's own ADE_* are dropped)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADE_")}
    env.update({"ADE_DATA_DIR": str(data_dir), "ADE_SANDBOX": "reduced", "ADE_WORKER_LEASE_SECONDS": "2",
                "ADE_CANCEL_GRACE_SECONDS": "1"})
    if os.geteuid() == 0:
        env["ADE_JOB_USER"] = "nobody"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.update({f"ADE_{k.upper()}": str(v) for k, v in extra.items()})
    return env


WORKER_MAIN = (
    "import sys, ade_engine.jobs.worker as w\n"
    "w._command_override = sys.argv[2:] or None\n"
    "from ade_engine.cli.main import main\n"
    "sys.exit(main(['worker', '--concurrency', sys.argv[1]]))\n"
)


def start_worker(data_dir: Path, stub: Path | None, *, concurrency: int = 1, **extra: Any) -> subprocess.Popen:
    """A real `ade worker` process (with the stand-in pipeline when `stub` is given)."""
    argv = [sys.executable, "-c", WORKER_MAIN, str(concurrency), *(stub_command(stub) if stub else [])]
    return subprocess.Popen(argv, env=settings_env(data_dir, **extra), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def pid_alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def events(job_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(job_dir) / "events.ndjson"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def job_python_for(user: str) -> str | None:
    """An interpreter of this minor version `user` can execute (the venv's may sit under /root)."""
    from ade_engine.jobs.runtime_site import unreachable_for

    major, minor = sys.version_info[:2]
    for cand in (sys.executable, f"/usr/bin/python{major}.{minor}", f"/usr/local/bin/python{major}.{minor}"):
        if os.path.exists(cand) and not unreachable_for(user, os.path.realpath(cand), need="x"):
            return cand
    return None


# A process that claims queued jobs until none is left and prints their ids (claim-race tests).
CLAIMER = r'''
import json, sys
from ade_engine.jobs import queue
from ade_engine.services.workspace import open_workspace
from ade_engine.settings import load_settings

ws = open_workspace(load_settings())
wid = queue.new_worker_id()
got = []
print("ready", flush=True)
sys.stdin.readline()  # all start claiming together
while (job := queue.claim(ws, wid, 30)) is not None:
    got.append(job.job_id)
print(json.dumps(got), flush=True)
'''


def queue_rows(ws: Any, n: int) -> list[str]:
    """Insert `n` bare queued job rows (no job dir) and return their ids, oldest first."""
    import ulid

    from ade_engine.store.models import Job, utcnow

    ids = []
    with ws.sessions.begin() as s:
        for i in range(n):
            jid = ulid.new().str
            ids.append(jid)
            s.add(Job(job_id=jid, workspace_id=ws.workspace_id, config_id="prices", config_version_id="v",
                      content_hash="h", status="queued", attempt=1, queued_at=utcnow(), trace_id=f"t{i}",
                      sandbox_missing=[], pinned=False))
    return ids


def install_stub(tmp_path: Path, monkeypatch: Any, source: str = STUB_PIPELINE) -> Path:
    """Write a stand-in pipeline and make in-process workers of the test run it; returns its path."""
    import ade_engine.jobs.worker as worker_mod

    path = tmp_path / "stub_pipeline.py"
    path.write_text(source, encoding="utf-8")
    monkeypatch.setattr(worker_mod, "_command_override", stub_command(path))
    return path
