"""The queue loop (jobs.md §0, §7, §9): `ADE_MAX_CONCURRENCY` slots, atomic claims, leases renewed by a
heartbeat every second, cancel requests seen within `CANCEL_POLL_S`, recovery of expired leases, retention.

Lease renewal has a thread of its own (`ade-worker-heartbeat`) that does nothing slow: recovery of other
workers' jobs and retention run in `ade-worker-maintenance`, so a long cleanup never lets this worker's own
leases run out (which would let another worker reap jobs that are alive and well).

The same `Worker` runs standalone (`ade worker`, in the main thread) and embedded (`EmbeddedWorker`, a
background thread the TUI starts). Each claimed job runs in its own thread, which is the job process's
parent for its whole life (the launcher's lifeline needs that).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ade_engine.errors import AdeError
from ade_engine.jobs import queue

log = logging.getLogger("ade.worker")
HEARTBEAT_S = 1.0
RETENTION_EVERY_S = 6 * 3600
CANCEL_POLL_S = 0.2  # a running job's cancel flag is read from the store at most this often
RECOVERY_EVERY_S = 5.0  # expired leases are looked for this often (or every lease, when that is shorter)
BUSY_RETRY_S = 0.5  # between attempts to record an outcome while the database is busy
# Runs one claimed job to its decided outcome: (worker, job row, cancel_check) -> JobOutcome.
Execute = Callable[["Worker", Any, Callable[[], Any]], Any]


@dataclass
class _Slot:
    job_id: str
    thread: threading.Thread | None = None
    cancel: str | None = None  # cancel source once asked: user | shutdown | lease_lost
    lease_until: float = 0.0  # monotonic time our lease ends if we cannot renew it
    next_cancel_poll: float = 0.0  # monotonic time the store is asked again about a cancel


@dataclass
class WorkerStatus:
    worker_id: str
    mode: str
    slots: int
    busy: int
    running_job_ids: list[str] = field(default_factory=list)
    safe_mode: bool = False
    alive: bool = True
    last_error: str | None = None


class Worker:
    """One queue loop. `execute` replaces the real job run (claim-level tests and benchmarks)."""

    def __init__(self, ws: Any, *, concurrency: int | None = None, mode: str = "standalone",
                 execute: Execute | None = None, poll_s: float = 0.2,
                 on_message: Callable[[str], None] | None = None):
        self.ws = ws
        self.settings = ws.settings
        self.concurrency = check_concurrency(concurrency if concurrency is not None else self.settings.max_concurrency)
        self.mode = mode
        self.worker_id = queue.new_worker_id()
        from ade_engine.jobs.engine_gate import EngineGate

        self.engine_gate = EngineGate(self.settings, self.worker_id)  # info.requires_engine at claim time
        self.poll_s = poll_s
        self._execute = execute or run_claimed_job
        self._on_message = on_message
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._draining = threading.Event()
        self.last_error: str | None = None
        self._last_note: str | None = None
        self.alive = False

    # ------------------------------------------------------------------------------- public
    def status(self) -> WorkerStatus:
        with self._lock:
            ids = sorted(self._slots)
        return WorkerStatus(worker_id=self.worker_id, mode=self.mode, slots=self.concurrency, busy=len(ids),
                            running_job_ids=ids, safe_mode=self.settings.safe_mode, alive=self.alive,
                            last_error=self.last_error)

    def wake(self) -> None:
        """Look at the queue now (after a submit in this process) instead of at the next poll."""
        self._wake.set()

    def cancel_all(self, source: str = "shutdown") -> None:
        with self._lock:
            for slot in self._slots.values():
                slot.cancel = slot.cancel or source

    def drain(self) -> None:
        """Stop claiming; running jobs go on."""
        self._draining.set()
        self._wake.set()

    def run(self, *, stop: threading.Event | None = None, once: bool = False) -> int:
        """Serve the queue until `stop` is set (then wait for running jobs), or with `once` until it is empty."""
        stop = stop or threading.Event()
        self.alive = True
        self._say(f"worker {self.worker_id}: {self.concurrency} slot(s)"
                  + (" — ADE_SAFE_MODE is on, claiming nothing" if self.settings.safe_mode else ""))
        beat_stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat_loop, args=(beat_stop,), name="ade-worker-heartbeat",
                                daemon=True)
        upkeep = threading.Thread(target=self._maintenance_loop, args=(beat_stop,), name="ade-worker-maintenance",
                                  daemon=True)
        self._beat_file()
        self._recover()
        beat.start()
        upkeep.start()
        try:
            while not stop.is_set() and not self._draining.is_set():
                claimed = self._fill_slots()
                if once and not claimed and not self._busy():
                    if not self._queue_has_work():
                        break
                if not claimed:
                    self._wake.wait(self.poll_s)
                    self._wake.clear()
            while self._busy():  # drain: running jobs finish (or are cancelled by cancel_all)
                time.sleep(0.05)
        finally:
            beat_stop.set()
            beat.join(timeout=5)
            upkeep.join(timeout=5)
            queue.remove_beat(self.settings, self.worker_id)
            self.alive = False
        return 0

    # ------------------------------------------------------------------------------- internals
    def _say(self, text: str) -> None:
        log.info(text)
        if self._on_message is not None:
            self._on_message(text)

    def _busy(self) -> int:
        with self._lock:
            return len(self._slots)

    def _queue_has_work(self) -> bool:
        from sqlalchemy import func, select

        from ade_engine.store.models import Job

        try:
            with self.ws.sessions() as session:
                return bool(session.scalar(select(func.count()).select_from(Job).where(
                    Job.workspace_id == self.ws.workspace_id, Job.status == "queued")))
        except Exception as exc:  # database busy or gone: look again at the next poll
            self._note(f"queue check failed: {exc}")
            return True

    def _note(self, text: str) -> None:
        """One log line for a problem the loop survives (never a traceback or raw SQL); the same line again
        (a database busy for a while) is not repeated until something else happened."""
        line = " ".join(text.split())[:500]
        self.last_error = line
        if line != self._last_note:
            self._last_note = line
            log.warning(line)

    def _fill_slots(self) -> int:
        if self.settings.safe_mode:
            return 0
        claimed = 0
        while self._busy() < self.concurrency and not self._draining.is_set():
            cancelled: list[Any] = []
            try:
                job = queue.claim(self.ws, self.worker_id, self.settings.worker_lease_seconds,
                                  accept=self.engine_gate.accept, cancelled=cancelled)
            except Exception as exc:  # database busy or gone: try again at the next poll
                self._note(f"claim failed: {exc}")
                return claimed
            self._last_note = None  # the database answered: a later problem is news again
            for gone in cancelled:
                self._finalize_cancelled(gone)
            if job is None:
                return claimed
            claimed += 1
            slot = _Slot(job.job_id, lease_until=time.monotonic() + self.settings.worker_lease_seconds)
            with self._lock:
                self._slots[job.job_id] = slot
            slot.thread = threading.Thread(target=self._run_slot, args=(slot, job), name=f"ade-job-{job.job_id}",
                                           daemon=True)
            slot.thread.start()
        return claimed

    def _finalize_cancelled(self, job: Any) -> None:
        """Files of a queued job the claim ended `cancelled` (its cancel was recorded first): never started."""
        say = f"job {job.job_id}: cancelled before it started"
        try:
            _finalize_never_started(job, source="user")
        except Exception as exc:
            say += f" (its files could not be finalized: {exc})"
        self._say(say)

    def _cancel_check(self, slot: _Slot) -> Callable[[], str | None]:
        """The job's cancel check: this worker's own reasons at once, a user's cancel from the store within
        `CANCEL_POLL_S` (the launcher asks about ten times a second; the heartbeat also reports it)."""

        def check() -> str | None:
            if slot.cancel is None and time.monotonic() >= slot.next_cancel_poll:
                slot.next_cancel_poll = time.monotonic() + CANCEL_POLL_S
                try:
                    if queue.cancel_requested(self.ws, slot.job_id):
                        slot.cancel = slot.cancel or "user"
                except Exception:  # busy or gone: the heartbeat reports it too
                    pass
            return slot.cancel

        return check

    def _finish(self, job_id: str, outcome: Any) -> bool:
        """Record the outcome; a busy database is retried (the job is done, only its record waits) for as long
        as our lease would last, so the outcome is not lost to a lock held by someone else."""
        deadline = time.monotonic() + max(float(self.settings.worker_lease_seconds), HEARTBEAT_S)
        while True:
            try:
                return queue.finish(self.ws, job_id, self.worker_id, outcome,
                                    output_path=getattr(outcome, "output_path", None))
            except AdeError as exc:
                if exc.code != "database_busy" or time.monotonic() >= deadline:
                    raise
                self._note(f"job {job_id}: recording the outcome waits: {exc.message}")
                time.sleep(BUSY_RETRY_S)

    def _run_slot(self, slot: _Slot, job: Any) -> None:
        self._say(f"job {job.job_id}: running ({job.source_file})")
        try:
            outcome = self._execute(self, job, self._cancel_check(slot))
            if outcome is None:  # the lease was taken over before finalizing: the reaper's outcome stands
                self._say(f"job {job.job_id}: not recorded — the lease was lost to another worker")
            else:
                owned = self._finish(job.job_id, outcome)
                code = (outcome.error or {}).get("code")
                self._say(f"job {job.job_id}: {outcome.status}" + (f" ({code})" if code else "")
                          + ("" if owned else " — not recorded: the lease was lost to another worker"))
        except Exception as exc:  # an engine bug: the job must still end
            log.exception("job %s: worker error", job.job_id)
            self.last_error = f"job {job.job_id}: {exc}"
            try:
                from ade_engine.jobs.outcome import JobOutcome

                queue.finish(self.ws, job.job_id, self.worker_id, JobOutcome(
                    status="failed", error={"code": "worker_crash", "message": f"worker error: {exc}"[:400],
                                            "stage": "start"}, exit_code=None, signal=None, duration_ms=0))
            except Exception:
                log.exception("job %s: could not record the failure", job.job_id)
        finally:
            with self._lock:
                self._slots.pop(job.job_id, None)
            self._wake.set()

    def _heartbeat_loop(self, stop: threading.Event) -> None:
        while not stop.wait(HEARTBEAT_S):
            self._renew()
            self._beat_file()

    def _maintenance_loop(self, stop: threading.Event) -> None:
        """Recovery of expired leases and retention, away from the heartbeat (either may take a while)."""
        self._retention()
        every = min(RECOVERY_EVERY_S, float(self.settings.worker_lease_seconds))
        next_retention = time.monotonic() + RETENTION_EVERY_S
        while not stop.wait(every):
            self._recover()
            if time.monotonic() >= next_retention:
                next_retention = time.monotonic() + RETENTION_EVERY_S
                self._retention()

    def _renew(self) -> None:
        with self._lock:
            slots = dict(self._slots)
        if not slots:
            return
        lease = self.settings.worker_lease_seconds
        try:
            states = queue.renew(self.ws, self.worker_id, list(slots), lease)
        except Exception as exc:
            # Cannot renew: a job whose lease runs out may be recovered elsewhere, so it must not run on.
            self._note(f"lease renewal failed: {exc}")
            for slot in slots.values():
                if time.monotonic() >= slot.lease_until - HEARTBEAT_S:
                    slot.cancel = slot.cancel or "lease_lost"
            return
        until = time.monotonic() + lease
        for jid, state in states.items():
            slot = slots[jid]
            if not state.owned:
                slot.cancel = slot.cancel or "lease_lost"
            else:
                slot.lease_until = until
                if state.cancel_requested:
                    slot.cancel = slot.cancel or "user"

    def _beat_file(self) -> None:
        try:
            queue.write_beat(self.settings, self.worker_id, {
                "mode": self.mode, "hostname": socket.gethostname(), "pid": os.getpid(),
                "slots": self.concurrency, "busy": self._busy(), "engine_version": self.engine_gate.engine_version})
        except OSError as exc:
            log.warning("cannot write the worker heartbeat file: %s", exc)

    def _recover(self) -> list[str]:
        try:
            return recover_expired(self.ws, on_message=self._say, exclude_worker=self.worker_id)
        except Exception as exc:
            self._note(f"recovery failed: {exc}")
            return []

    def _retention(self) -> None:
        from ade_engine.jobs.runner import _optional

        collect_garbage = _optional("ade_engine.services.retention", "collect_garbage")  # another part's module
        if collect_garbage is None:
            return
        try:
            collect_garbage(self.ws)
        except Exception as exc:
            self.last_error = f"retention failed: {exc}"
            log.warning(self.last_error)


# ----------------------------------------------------------------------------------------- one job
def run_claimed_job(worker: Worker, job: Any, cancel_check: Callable[[], Any]) -> Any:
    """Build the run request of a claimed job and run it through the shared runner."""
    from ade_engine.jobs.runner import build_request, run_job
    from ade_engine.runtime.events import EventLog

    ws, settings = worker.ws, worker.settings
    job_dir = Path(job.job_dir)
    EventLog(job_dir / "events.ndjson", job.job_id, job.attempt, "parent").emit(
        "claim", state="running", detail={"worker_id": worker.worker_id,
                                          "queued_ms": _ms_between(job.queued_at, job.started_at)})
    staged = next(iter(sorted((job_dir / "inputs").glob("01_*"))), None) if (job_dir / "inputs").is_dir() else None
    deps = _deps_hash(ws, job)
    request: dict[str, Any] = {"job_id": job.job_id, "attempt": job.attempt, "trace_id": job.trace_id,
                               "config_id": job.config_id, "config_version_id": job.config_version_id,
                               "content_hash": job.content_hash, "retry_of_job_id": job.retry_of_job_id,
                               "input": {"document_id": job.document_id, "filename": job.source_file,
                                         "sha256": job.input_sha256}}
    from ade_engine.jobs.runner import fail_without_spawn

    refusal = worker.engine_gate.refusal(job)  # claimed only after no worker with a matching engine took it
    if refusal:
        return fail_without_spawn(job_dir, request, "engine_unsupported", refusal)
    if staged is None:
        return fail_without_spawn(job_dir, request, "input_unreadable",
                                  "the job's input copy is missing from its directory; retry the job")
    try:
        from ade_engine.runtime.gate import inspect_input

        # A text file's encoding is found in the job, with the job's --encoding and the manifest's default.
        info = inspect_input(staged, job.source_file or staged.name,
                             max_uncompressed_mb=settings.input_max_uncompressed_mb,
                             max_ratio=settings.input_max_ratio, sniff_text=False)
        request = build_request(
            job_dir, settings=settings, job_id=job.job_id, attempt=job.attempt, retry_of_job_id=job.retry_of_job_id,
            trace_id=job.trace_id, config_id=job.config_id, config_version_id=job.config_version_id,
            content_hash=job.content_hash, deps_hash=deps, document_id=job.document_id,
            filename=job.source_file or staged.name, input_path=staged.resolve(), input_format=info.format,
            input_sha256=info.sha256, input_size=info.size_bytes, network_override=job.runtime_network_access,
            input_encoding=job.input_encoding,
            created_at=job.queued_at.isoformat())
    except AdeError as exc:
        return fail_without_spawn(job_dir, request, exc.code, exc.message)

    # Bookkeeping must not end a job: a busy database here costs a record, logged in one line, not the job.
    def on_event(event: str, detail: dict[str, Any] | None) -> None:
        if event == "worker.spawn" and detail:
            try:
                queue.record_spawn(ws, job.job_id, worker.worker_id, detail.get("pid"), detail.get("pgid"))
            except Exception as exc:
                worker._note(f"job {job.job_id}: the job's pid was not recorded: {exc}")

    def on_sandbox(level: str | None, missing: list[str]) -> None:
        try:
            queue.record_sandbox(ws, job.job_id, worker.worker_id, level, missing)
        except Exception as exc:
            worker._note(f"job {job.job_id}: the sandbox level was not recorded yet: {exc}")

    def still_owner() -> bool:
        try:
            return queue.hold(ws, job.job_id, worker.worker_id, settings.worker_lease_seconds)
        except Exception as exc:  # cannot tell: finalize; `finish` stays conditional on owning the job
            worker._note(f"job {job.job_id}: could not confirm the lease before finalizing: {exc}")
            return True

    return run_job(job_dir, request, settings, secrets_for=_secrets_provider(ws, job), cancel_check=cancel_check,
                   on_event=on_event, on_sandbox=on_sandbox, command=_command_override, still_owner=still_owner)


# Tests and benchmarks may replace the job process command (e.g. a stand-in pipeline); None = the bootstrap.
_command_override: list[str] | None = None


def _ms_between(a: Any, b: Any) -> int | None:
    return int((b - a).total_seconds() * 1000) if a and b else None


def _deps_hash(ws: Any, job: Any) -> str | None:
    if job.config_version_id.startswith("draft:"):
        from ade_engine.packages.layout import deps_hash

        return deps_hash(Path(job.job_dir) / "config")
    from ade_engine.store.models import ConfigVersion

    with ws.sessions() as session:
        row = session.get(ConfigVersion, job.config_version_id)
        return row.deps_hash if row is not None else None


def _secrets_provider(ws: Any, job: Any) -> Callable[[dict[str, Any]], dict[str, str]] | None:
    from ade_engine.jobs.runner import _optional

    secrets_for_job = _optional("ade_engine.services.secrets", "secrets_for_job")
    if secrets_for_job is None:
        return None

    def provide(request: dict[str, Any]) -> dict[str, str]:
        from ade_engine.manifest import load_manifest

        manifest = load_manifest(Path(request["config_dir"]))
        return secrets_for_job(ws, config_id=job.config_id, manifest=manifest, job_id=job.job_id)

    return provide


# ----------------------------------------------------------------------------------------- recovery
def recover_expired(ws: Any, *, on_message: Callable[[str], None] | None = None,
                    exclude_worker: str | None = None) -> list[str]:
    """Fail every running job whose lease expired as `interrupted` (killing its group if it is local).

    The record is decided first (`mark_interrupted`, conditional on the very lease found expired): a job whose
    worker renewed meanwhile is left alone — nothing of it is killed or written. `exclude_worker` is the
    caller's own id (its heartbeat speaks for its jobs)."""
    from ade_engine.jobs.runner import fail_without_spawn

    recovered = []
    for job in queue.expired(ws):
        if exclude_worker is not None and job.worker_id == exclude_worker:
            continue
        message = (f"the worker {job.worker_id} stopped renewing this job's lease (crashed or lost); "
                   "the job was interrupted — retry it")
        if not queue.mark_interrupted(ws, job, message):
            continue  # someone else recovered it, or its worker came back
        if queue.local_group_alive(job):  # ours now: its process must not write on
            queue.kill_group(int(job.worker_pgid))
        if queue.worker_host(job.worker_id) == socket.gethostname():
            # The job process died with its worker (parent-death signal); what it started did not.
            from ade_engine.jobs.launcher import kill_job_processes

            kill_job_processes(job.job_id, user=ws.settings.job_user if _is_root() else None)
        recovered.append(job.job_id)
        if on_message is not None:
            on_message(f"job {job.job_id}: interrupted (lease of {job.worker_id} expired)")
        job_dir = Path(job.job_dir) if job.job_dir else None
        if job_dir is not None and job_dir.is_dir():
            request = _request_from_dir(job_dir, job)
            try:
                outcome = fail_without_spawn(job_dir, request, "interrupted", message)
                queue.set_error_stage(ws, job.job_id, (outcome.error or {}).get("stage") or "start")
            except Exception:
                log.exception("job %s: could not finalize the interrupted job's files", job.job_id)
        _auto_retry(ws, job)
    return recovered


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _finalize_never_started(job: Any, *, source: str) -> None:
    """A job cancelled before it was started: `cancel.requested`, a terminal artifact, `exit`/`cleanup`."""
    from ade_engine.jobs.finalize import finalize
    from ade_engine.jobs.outcome import CAUSE_CANCELLED, LaunchOutcome
    from ade_engine.runtime.events import EventLog

    job_dir = Path(job.job_dir) if job.job_dir else None
    if job_dir is None or not job_dir.is_dir():
        return
    EventLog(job_dir / "events.ndjson", job.job_id, job.attempt, "parent").emit(
        "cancel.requested", state="queued", detail={"source": source, "at": "claim"})
    finalize(job_dir, LaunchOutcome(pid=None, pgid=None, exit_code=None, signal=None, cause=CAUSE_CANCELLED,
                                    cancel_source=source), _request_from_dir(job_dir, job), remove_inputs=False)


def check_concurrency(value: Any) -> int:
    """Slots of one worker: 1 to the `ADE_MAX_CONCURRENCY` ceiling (64); anything else is refused."""
    from ade_engine.settings import Settings

    top = next((m.le for m in Settings.model_fields["max_concurrency"].metadata if getattr(m, "le", None)), 64)
    try:
        slots = int(value)
    except (TypeError, ValueError):
        slots = 0
    if slots < 1 or slots > top or str(value).strip() != str(slots):
        raise AdeError(f"concurrency {value} is out of range: a worker runs 1 to {top} jobs at once; set "
                       f"--concurrency (or ADE_MAX_CONCURRENCY) between 1 and {top}", code="concurrency_invalid",
                       details={"value": str(value), "min": 1, "max": top})
    return slots


def _request_from_dir(job_dir: Path, job: Any) -> dict[str, Any]:
    import json

    try:
        from ade_engine.runtime.jobfiles import read_bytes

        data = json.loads(read_bytes(job_dir / "run-request.json", limit=16 * 1024 * 1024))
        if isinstance(data, dict):
            return data
    except (OSError, ValueError):
        pass
    return {"job_id": job.job_id, "attempt": job.attempt, "trace_id": job.trace_id, "config_id": job.config_id,
            "config_version_id": job.config_version_id, "content_hash": job.content_hash,
            "input": {"document_id": job.document_id, "filename": job.source_file, "sha256": job.input_sha256}}


def _auto_retry(ws: Any, job: Any) -> None:
    """`ADE_JOB_AUTO_RETRY`: re-queue an interrupted job, at most that many times per attempt chain."""
    allowed = int(ws.settings.job_auto_retry)
    if allowed <= 0 or job.attempt > allowed:
        return
    from ade_engine.services.jobs import resubmit

    try:
        resubmit(ws, job)
    except AdeError as exc:
        log.warning("job %s: automatic retry refused: %s", job.job_id, exc.message)


# ----------------------------------------------------------------------------------------- embedding
class EmbeddedWorker:
    """The worker as a background thread of another process (the TUI): start, status, stop."""

    def __init__(self, ws: Any, *, concurrency: int | None = None, execute: Execute | None = None):
        self.worker = Worker(ws, concurrency=concurrency, mode="embedded", execute=execute)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def worker_id(self) -> str:
        return self.worker.worker_id

    def start(self) -> EmbeddedWorker:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self.worker.run, kwargs={"stop": self._stop},
                                            name="ade-embedded-worker", daemon=True)
            self._thread.start()
        return self

    def wake(self) -> None:
        self.worker.wake()

    def status(self) -> WorkerStatus:
        return self.worker.status()

    def stop(self, *, cancel_running: bool = False, timeout: float | None = None) -> bool:
        """Stop claiming; wait for running jobs (or cancel them with source `shutdown`). True once stopped."""
        self._stop.set()
        self.worker.wake()
        if cancel_running:
            self.worker.cancel_all("shutdown")
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True


def is_external_worker_running(ws: Any, *, exclude: str | None = None) -> bool:
    """True when a live standalone `ade worker` (any machine sharing the data dir) serves this queue."""
    return any(w.get("mode") == "standalone" and w.get("worker_id") != exclude for w in queue.live_workers(ws.settings))
