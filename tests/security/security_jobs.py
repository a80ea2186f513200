"""Real jobs for the named security checks: a workspace data dir, a package whose `on_job_start` hook tries
things and records what it saw, and the shared runner (stage, build the request, spawn, finalize) — what the
worker does for a claimed job, without the queue. As root the job runs as the unprivileged job user.

The hook records into `<job dir>/probe.json`: `attempt(fn)` gives "ok" or "<ExceptionName>:<errno name>".
"""

from __future__ import annotations

import json
import os
import textwrap
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pkgfactory import deep_merge, write_csv, write_package
from sandbox_helpers import IS_ROOT, JOB_PYTHON, JOB_USER, wait_until

PROBE_HEAD = '''
import errno, json, os, sys

def record(**found):
    path = os.path.join(os.environ["ADE_JOB_DIR"], "probe.json")
    data = json.load(open(path)) if os.path.exists(path) else {}
    data.update(found)
    with open(path, "w") as fh:
        json.dump(data, fh)

def hold():
    """Say "ready" and wait until the test writes <job dir>/release (bounded: a broken test cannot leave it)."""
    import time
    job_dir = os.environ["ADE_JOB_DIR"]
    open(os.path.join(job_dir, "ready"), "w").write(str(os.getpid()))
    deadline = time.monotonic() + 120
    while not os.path.exists(os.path.join(job_dir, "release")) and time.monotonic() < deadline:
        time.sleep(0.05)

def attempt(fn):
    try:
        fn()
        return "ok"
    except BaseException as exc:
        code = getattr(exc, "errno", None)
        return type(exc).__name__ + ":" + (errno.errorcode.get(code, str(code)) if code else "")
'''

HOLD_HOOK = "def run(**_):\n    hold()\n"

DENIED = ("EACCES", "EPERM", "ENOENT", "EROFS")


def denied(result: str) -> bool:
    """An attempt the job made was refused by the system (not merely failed for another reason)."""
    return result != "ok" and result.rpartition(":")[2] in DENIED


def settings_for(data_dir: Path, level: str, **extra: Any):
    from ade_engine.settings import isolated_settings

    return isolated_settings(data_dir, sample_configs_dir=data_dir.parent / "no-samples", sandbox=level,
                             job_user=JOB_USER if IS_ROOT else None, job_python=JOB_PYTHON, cancel_grace_seconds=1,
                             **extra)


def probe_package(root: Path, hook_body: str, *, manifest: dict | None = None,
                  secrets: list[str] | None = None) -> Path:
    """The example package with an `on_job_start` hook running `hook_body` (which defines `run`), requesting
    `secrets` when given; `manifest` is merged over it."""
    hook: dict[str, Any] = {"script": "hooks/probe.py"}
    if secrets:
        hook["secrets"] = list(secrets)
    merged = deep_merge({"hooks": {"on_job_start": [hook]}}, manifest or {})
    return write_package(root, manifest=merged, files={"hooks/probe.py": PROBE_HEAD + textwrap.dedent(hook_body)})


def prices_csv(path: Path) -> Path:
    return write_csv(path, [["SKU", "Unit Price"], ["AB-1234", "3.50"], ["CD-5678", "4.00"]])


@dataclass
class JobRun:
    job_dir: Path
    outcome: Any
    found: dict[str, Any]
    spawned: dict[str, Any] = field(default_factory=dict)  # detail of worker.spawn (pid, pgid)

    @property
    def artifact(self) -> dict[str, Any]:
        return json.loads((self.job_dir / "artifact.json").read_text(encoding="utf-8"))


def new_job_id() -> str:
    import ulid

    return str(ulid.new())


def run_probe_job(settings: Any, pkg: Path, src: Path, *, job_id: str | None = None,
                  secrets_for: Callable[[dict[str, Any]], dict[str, str]] | None = None,
                  spawned: dict[str, Any] | None = None) -> JobRun:
    """Stage `pkg` + `src` as job `<jobs dir>/<job id>` and run it to its finalized end (inputs kept)."""
    from ade_engine.jobs.runner import build_request, run_job
    from ade_engine.jobs.staging import stage_job_dir

    job_id = job_id or new_job_id()
    job_dir = settings.jobs_dir / job_id
    staged = stage_job_dir(job_dir, input_path=src, original_name=src.name, config_dir=pkg)
    request = build_request(
        job_dir, settings=settings, job_id=job_id, attempt=1, retry_of_job_id=None, trace_id="0" * 32,
        config_id=pkg.name, config_version_id="draft:probe", content_hash="probe", deps_hash=None, document_id=None,
        filename=src.name, input_path=staged, input_format=src.suffix.lstrip(".") or "csv", input_sha256="",
        input_size=src.stat().st_size)
    seen = spawned if spawned is not None else {}

    def on_event(event: str, detail: dict[str, Any] | None) -> None:
        if event == "worker.spawn":
            seen.update(detail or {})

    outcome = run_job(job_dir, request, settings, secrets_for=secrets_for, on_event=on_event, remove_inputs=False)
    probe = job_dir / "probe.json"
    found = json.loads(probe.read_text(encoding="utf-8")) if probe.is_file() else {}
    return JobRun(job_dir, outcome, found, seen)


class HeldJob:
    """A job running in a thread of the test, held in its hook (`hold()`) until released."""

    def __init__(self, job_dir: Path, spawned: dict[str, Any]):
        self.job_dir = job_dir
        self.spawned = spawned  # worker.spawn detail: pid, pgid
        self.run: JobRun | None = None  # once released and finalized


@contextmanager
def held_job(settings: Any, pkg: Path, src: Path, *,
             secrets_for: Callable[[dict[str, Any]], dict[str, str]] | None = None) -> Iterator[HeldJob]:
    """Run a job whose hook calls `hold()`; the body runs while it is held; it is released and finalized after."""
    job_id = new_job_id()
    held = HeldJob(settings.jobs_dir / job_id, {})

    def target() -> None:
        held.run = run_probe_job(settings, pkg, src, job_id=job_id, secrets_for=secrets_for, spawned=held.spawned)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        wait_until(lambda: (held.job_dir / "ready").exists() or not thread.is_alive(), timeout=90,
                   what="the held job to start")
        assert thread.is_alive(), f"the held job ended early: {held.run and held.run.outcome}"
        yield held
    finally:
        if held.job_dir.is_dir():
            (held.job_dir / "release").write_text("1")
        thread.join(timeout=120)


@contextmanager
def running_sibling(settings: Any, tmp_path: Path) -> Iterator[HeldJob]:
    """Another job of the same workspace, running while the body runs."""
    with held_job(settings, probe_package(tmp_path / "sibling-pkg", HOLD_HOOK),
                  prices_csv(tmp_path / "sibling.csv")) as sibling:
        yield sibling
