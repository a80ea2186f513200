"""Jobs service (jobs.md §1–§3, §7–§9): submit, list, show, cancel, retry, logs, artifact, output, pin, stats.

The CLI and the TUI call these; workers (`jobs.worker`) run what they queue. Submitting stages the job
directory (`inputs/01_<name>` linked from the document, `config/` copied from the version) and inserts a
`queued` row; a refusal records nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets as secrets_mod
import statistics
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import ulid
from pydantic import BaseModel
from sqlalchemy import func, select, update

from ade_engine.errors import AdeError, Conflict, NotFound
from ade_engine.services import configs, documents
from ade_engine.services.workspace import Workspace
from ade_engine.store.models import Job, utcnow

TERMINAL = ("succeeded", "failed", "cancelled")
ACTIVE = ("queued", "running")


# ----------------------------------------------------------------------------------------- models
class JobInfo(BaseModel):
    job_id: str
    status: str
    config_id: str
    config_version_id: str
    content_hash: str
    document_id: str | None
    source_file: str | None
    input_sha256: str | None
    idempotency_key: str | None
    attempt: int
    retry_of_job_id: str | None
    runtime_network_access: bool | None
    input_encoding: str | None = None
    queued_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    cancel_requested_at: datetime | None
    worker_id: str | None
    lease_expires_at: datetime | None
    worker_pid: int | None
    worker_pgid: int | None
    exit_code: int | None
    exit_signal: int | None
    sandbox_level: str | None
    sandbox_missing: list[str]
    error_code: str | None
    error_message: str | None
    error_stage: str | None
    trace_id: str
    pinned: bool
    purged_at: datetime | None
    job_dir: str | None
    artifact_path: str | None
    output_path: str | None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def duration_ms(self) -> int | None:
        if self.started_at and self.completed_at:
            return int((self.completed_at - self.started_at).total_seconds() * 1000)
        return None


class JobDetail(JobInfo):
    """A job plus its diagnostics (jobs.md §8): log tail, rule errors, completed passes, file links."""

    hint: str | None = None
    log_tail: str = ""
    rule_errors: list[dict[str, Any]] = []
    completed_passes: list[str] = []
    events_path: str | None = None
    log_path: str | None = None


class SubmitResult(BaseModel):
    job: JobInfo
    created: bool  # False: an existing job was returned (idempotent submit)


class StateStats(BaseModel):
    count: int
    avg_ms: int | None = None
    p50_ms: int | None = None
    max_ms: int | None = None


class JobStats(BaseModel):
    total: int
    by_state: dict[str, StateStats]
    queue_wait_avg_ms: int | None
    errors: dict[str, int]


def _info(row: Job) -> JobInfo:
    return JobInfo.model_validate({k: getattr(row, k) for k in JobInfo.model_fields})


# ----------------------------------------------------------------------------------------- submit
def idempotency_key(config_version_id: str, input_sha256: str, network: bool | None,
                    encoding: str | None = None) -> str:
    """SHA-256 of `version:sha256:canonical options` (jobs.md §3); `force` is not an option. The input
    encoding is an option only when given, so keys of jobs without one are unchanged."""
    opts: dict[str, Any] = {"runtime_network_access": network}
    if encoding:
        opts["input_encoding"] = encoding
    options = json.dumps(opts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{config_version_id}:{input_sha256}:{options}".encode()).hexdigest()


class _Version(BaseModel):
    config_id: str
    config_version_id: str
    content_hash: str
    deps_hash: str | None
    path: str


def resolve_version(ws: Workspace, config: str | None = None, version: str | None = None) -> _Version:
    """`--config NAME|ID [--version V]`; nothing given = the active version (jobs.md §3)."""
    from ade_engine.packages import layout

    if config is None and version is None:
        info = configs.active_version(ws)
        if info is None:
            raise AdeError("no config version is active in this workspace; activate one with 'ade config activate "
                           "CONFIG' or pass --config", code="config_unavailable")
    else:
        if config is None:
            ref = version or ""
        elif version is not None:
            ref = f"{config}@{version.lstrip('@')}"
        elif configs.ULID_RE.match(config) or "@" in config:
            ref = config
        else:
            active = configs.active_version(ws)
            ref = f"{config}@active" if active is not None and active.config_id == config else f"{config}@latest"
        try:
            info = configs.get_version(ws, ref)
        except NotFound as exc:
            raise AdeError(f"config version {ref}: {exc.message}", code="config_unavailable",
                           details={"ref": ref}) from None
    pkg = Path(info.path)
    if info.status == "published":
        configs.ensure_intact(ws, info)
        return _Version(config_id=info.config_id, config_version_id=info.config_version_id,
                        content_hash=info.content_hash or layout.content_hash(pkg), deps_hash=info.deps_hash,
                        path=str(pkg))
    # A draft runs as "draft:<content_hash>"; it must pass static validation first.
    configs._refuse_errors(info.label, configs.validate_dir(pkg, dynamic=False), "run")
    chash = layout.content_hash(pkg)
    return _Version(config_id=info.config_id, config_version_id=f"draft:{chash}", content_hash=chash,
                    deps_hash=layout.deps_hash(pkg), path=str(pkg))


def _document(ws: Workspace, input_ref: str | Path) -> documents.DocumentInfo:
    text = str(input_ref)
    if configs.ULID_RE.match(text) and not Path(text).exists():
        return documents.usable_document(ws, text)
    return documents.usable_document(ws, documents.add_document(ws, text).document_id)


def _emit(job_dir: str | Path | None, job_id: str, attempt: int, event: str, *, state: str,
          detail: dict[str, Any] | None = None, duration_ms: int | None = None) -> None:
    if not job_dir or not Path(job_dir).is_dir():
        return
    from ade_engine.runtime.events import EventLog

    EventLog(Path(job_dir) / "events.ndjson", job_id, attempt, "submitter").emit(
        event, state=state, detail=detail, duration_ms=duration_ms)


def _newest_with_key(session: Any, ws: Workspace, key: str) -> Job | None:
    return session.scalars(select(Job).where(Job.workspace_id == ws.workspace_id, Job.idempotency_key == key)
                           .order_by(Job.queued_at.desc(), Job.job_id.desc()).limit(1)).first()


def submit_job(ws: Workspace, input_ref: str | Path, *, config: str | None = None, version: str | None = None,
               force: bool = False, network: bool | None = None, encoding: str | None = None) -> SubmitResult:
    """Queue one job for a document id or a file path (registered first). Refusals record nothing.

    `encoding` is the text encoding of a CSV input (default: the manifest's, else detected in the job)."""
    if ws.settings.safe_mode:
        raise AdeError("ADE_SAFE_MODE is on: package code is not executed, so no job is queued; unset it to run "
                       "jobs", code="safe_mode")
    if encoding:
        from ade_engine.runtime.gate import normalize_encoding

        encoding = normalize_encoding(encoding)
    ver = resolve_version(ws, config, version)
    doc = _document(ws, input_ref)
    return _enqueue(ws, ver, doc, force=force, network=network, encoding=encoding)


def _enqueue(ws: Workspace, ver: _Version, doc: documents.DocumentInfo, *, force: bool, network: bool | None,
             retry_of: Job | None = None, encoding: str | None = None) -> SubmitResult:
    from ade_engine.runtime.jobfiles import remove_tree as _force_rmtree
    from ade_engine.jobs.queue import write_transaction
    from ade_engine.jobs.staging import stage_job_dir

    key = idempotency_key(ver.config_version_id, doc.sha256, network, encoding)
    if not force and retry_of is None:
        with ws.sessions() as session:
            prev = _newest_with_key(session, ws, key)
            if prev is not None and prev.status in ("queued", "running", "succeeded"):
                _emit(prev.job_dir, prev.job_id, prev.attempt, "dedupe", state=prev.status,
                      detail={"existing_job_id": prev.job_id, "existing_state": prev.status})
                return SubmitResult(job=_info(prev), created=False)

    job_id = ulid.new().str
    job_dir = ws.settings.jobs_dir / job_id
    stage_job_dir(job_dir, input_path=doc.path, original_name=doc.original_name, config_dir=ver.path)
    try:
        with write_transaction(ws) as session:
            prev = retry_of if retry_of is not None else _newest_with_key(session, ws, key)
            if not force and retry_of is None and prev is not None and prev.status in ("queued", "running", "succeeded"):
                session.rollback()
                _force_rmtree(job_dir)
                return SubmitResult(job=_info(prev), created=False)
            queued = int(session.scalar(select(func.count()).select_from(Job).where(
                Job.workspace_id == ws.workspace_id, Job.status == "queued")) or 0)
            if queued >= ws.settings.queue_size:
                raise AdeError(f"the queue already holds {queued} queued jobs (ADE_QUEUE_SIZE={ws.settings.queue_size});"
                               " wait for some to finish, cancel some, or raise ADE_QUEUE_SIZE", code="queue_full",
                               details={"queued": queued, "queue_size": ws.settings.queue_size})
            running = int(session.scalar(select(func.count()).select_from(Job).where(
                Job.workspace_id == ws.workspace_id, Job.status == "running")) or 0)
            row = Job(
                job_id=job_id, workspace_id=ws.workspace_id, config_id=ver.config_id,
                config_version_id=ver.config_version_id, content_hash=ver.content_hash, document_id=doc.document_id,
                source_file=doc.original_name, input_sha256=doc.sha256, idempotency_key=key, status="queued",
                attempt=(prev.attempt + 1) if prev is not None else 1,
                retry_of_job_id=prev.job_id if prev is not None else None,
                runtime_network_access=network, input_encoding=encoding, queued_at=utcnow(),
                trace_id=secrets_mod.token_hex(16),
                pinned=False, sandbox_missing=[], job_dir=str(job_dir), artifact_path=str(job_dir / "artifact.json"),
            )
            session.add(row)
    except BaseException:
        if job_dir.exists():
            _force_rmtree(job_dir)
        raise
    _emit(job_dir, job_id, row.attempt, "enqueue", state="queued",
          detail={"queue_depth": queued + 1, "running": running})
    return SubmitResult(job=_info(row), created=True)


# ----------------------------------------------------------------------------------------- reading
def _row(session: Any, ws: Workspace, job_id: str) -> Job:
    job_id = job_id.strip()
    row = session.get(Job, job_id)
    if row is None and 4 <= len(job_id) < 26:  # a unique prefix is enough for people
        found = list(session.scalars(select(Job).where(Job.workspace_id == ws.workspace_id,
                                                       Job.job_id.like(job_id.upper() + "%")).limit(2)))
        row = found[0] if len(found) == 1 else None
    if row is None or row.workspace_id != ws.workspace_id:
        raise NotFound(f"job {job_id} not found in this workspace; see 'ade job list'", details={"job_id": job_id})
    return row


def get_job(ws: Workspace, job_id: str) -> JobInfo:
    with ws.sessions() as session:
        return _info(_row(session, ws, job_id))


def show_job(ws: Workspace, job_id: str) -> JobDetail:
    """A job with the diagnostics of jobs.md §8 (log tail and rule errors for failed/cancelled jobs)."""
    from ade_engine.jobs.finalize import HINTS, log_tail

    info = get_job(ws, job_id)
    detail = JobDetail(**info.model_dump())
    if not info.job_dir:
        return detail
    job_dir = Path(info.job_dir)
    detail.events_path = str(job_dir / "events.ndjson")
    detail.log_path = str(job_dir / "logs" / "worker.log")
    try:
        art = json.loads((job_dir / "artifact.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        art = {}
    detail.rule_errors = list(art.get("rule_errors") or [])
    detail.completed_passes = [str(p.get("name")) for p in art.get("pass_history") or []
                               if isinstance(p, dict) and p.get("status", "completed") == "completed"]
    if info.status in ("failed", "cancelled"):
        detail.log_tail = log_tail(job_dir)
        detail.hint = HINTS.get(info.error_code or "")
    return detail


def list_jobs(ws: Workspace, *, status: str | None = None, limit: int = 50) -> list[JobInfo]:
    with ws.sessions() as session:
        q = select(Job).where(Job.workspace_id == ws.workspace_id)
        if status:
            q = q.where(Job.status == status)
        return [_info(r) for r in session.scalars(q.order_by(Job.queued_at.desc(), Job.job_id.desc()).limit(limit))]


def _job_file(ws: Workspace, job_id: str, name: str, what: str) -> Path:
    info = get_job(ws, job_id)
    if not info.job_dir or info.purged_at is not None:
        raise AdeError(f"job {info.job_id}'s directory was purged by retention; its {what} is gone",
                       code="job_purged", details={"job_id": info.job_id})
    path = Path(info.job_dir) / name
    if not path.exists():
        raise NotFound(f"job {info.job_id} ({info.status}) has no {what} yet at {path}", details={"path": str(path)})
    return path


def log_path(ws: Workspace, job_id: str) -> Path:
    return _job_file(ws, job_id, "logs/worker.log", "log")


def events_path(ws: Workspace, job_id: str) -> Path:
    return _job_file(ws, job_id, "events.ndjson", "events")


def artifact_path(ws: Workspace, job_id: str) -> Path:
    return _job_file(ws, job_id, "artifact.json", "artifact")


def output_path(ws: Workspace, job_id: str) -> Path:
    """The normalized workbook of a succeeded job (`output_unavailable` otherwise)."""
    info = get_job(ws, job_id)
    if info.status != "succeeded":
        raise AdeError(f"job {info.job_id} is {info.status}; only a succeeded job has output "
                       + ("(a partial result, if any, is normalized.incomplete.xlsx in the job directory)"
                          if info.status in ("failed", "cancelled") else "(wait for it to finish)"),
                       code="output_unavailable", details={"job_id": info.job_id, "status": info.status})
    return _job_file(ws, info.job_id, info.output_path or "normalized.xlsx", "output")


def pin_job(ws: Workspace, job_id: str, pinned: bool = True) -> JobInfo:
    """Pinned jobs keep their directory through retention."""
    from ade_engine.jobs.queue import write_transaction

    with write_transaction(ws) as session:
        row = _row(session, ws, job_id)
        row.pinned = pinned
        return _info(row)


# ----------------------------------------------------------------------------------------- cancel / retry
def cancel_job(ws: Workspace, job_id: str, *, source: str = "user") -> JobInfo:
    """Cancel a queued job now, or record the cancel of a running one for its worker, which stops it within a
    fraction of a second (before the spawn, or SIGTERM then SIGKILL of its group).

    The request is in the store before this returns, and a job is never started once it is: the claim ends
    a queued job with a recorded cancel as `cancelled`."""
    from ade_engine.jobs.outcome import CAUSE_CANCELLED, LaunchOutcome
    from ade_engine.jobs.queue import write_transaction

    # The write lock first (BEGIN IMMEDIATE): read-then-write in a deferred transaction fails at once with
    # "database is locked" when a worker's claim commits in between.
    with write_transaction(ws) as session:
        row = _row(session, ws, job_id)
        jid = row.job_id
        now = utcnow()
        if row.status in TERMINAL:
            raise Conflict(f"job {jid} is already {row.status}; nothing to cancel", code="job_terminal",
                           details={"job_id": jid, "status": row.status})
        res = session.execute(update(Job).where(Job.job_id == jid, Job.status == "queued").values(
            status="cancelled", completed_at=now, cancel_requested_at=now, error_code="cancelled",
            error_message=f"cancelled by {source} while queued", error_stage="start"))
        was_queued = res.rowcount == 1
        if not was_queued:
            session.execute(update(Job).where(Job.job_id == jid, Job.status == "running",
                                              Job.cancel_requested_at.is_(None)).values(cancel_requested_at=now))
    info = get_job(ws, jid)
    if was_queued and info.job_dir and Path(info.job_dir).is_dir():
        from ade_engine.jobs.finalize import finalize

        _emit(info.job_dir, jid, info.attempt, "cancel.requested", state="queued", detail={"source": source})
        request = _stub_request(info)
        finalize(info.job_dir, LaunchOutcome(pid=None, pgid=None, exit_code=None, signal=None, cause=CAUSE_CANCELLED,
                                             cancel_source=source), request, remove_inputs=False)
    return info


def _stub_request(info: JobInfo) -> dict[str, Any]:
    return {"job_id": info.job_id, "attempt": info.attempt, "retry_of_job_id": info.retry_of_job_id,
            "trace_id": info.trace_id, "config_id": info.config_id, "config_version_id": info.config_version_id,
            "content_hash": info.content_hash,
            "input": {"document_id": info.document_id, "filename": info.source_file, "sha256": info.input_sha256},
            "runtime_network_access": info.runtime_network_access}


def retry_job(ws: Workspace, job_id: str) -> SubmitResult:
    """A new linked job (attempt + 1) with the same document, version and options; failed/cancelled only."""
    with ws.sessions() as session:
        prev = _row(session, ws, job_id)
        session.expunge(prev)
    if prev.status not in ("failed", "cancelled"):
        raise Conflict(f"job {prev.job_id} is {prev.status}; only failed or cancelled jobs are retried "
                       "(use 'ade job submit --force' to run a finished job again)", code="job_not_retryable",
                       details={"job_id": prev.job_id, "status": prev.status})
    return resubmit(ws, prev)


def resubmit(ws: Workspace, prev: Job) -> SubmitResult:
    """Queue the next attempt of `prev` (also used by automatic retries of interrupted jobs)."""
    if ws.settings.safe_mode:
        raise AdeError("ADE_SAFE_MODE is on: no job is queued; unset it to run jobs", code="safe_mode")
    if prev.document_id is None:
        raise AdeError(f"job {prev.job_id} has no document to run again", code="document_unavailable")
    doc = documents.usable_document(ws, prev.document_id)
    ref = prev.config_version_id
    if ref.startswith("draft:"):
        ver = resolve_version(ws, f"{prev.config_id}@draft")
        if ver.config_version_id != ref:
            raise AdeError(f"the draft of {prev.config_id} changed since job {prev.job_id} ran; submit it again",
                           code="config_unavailable")
    else:
        ver = resolve_version(ws, ref)
    return _enqueue(ws, ver, doc, force=True, network=prev.runtime_network_access, retry_of=prev,
                    encoding=prev.input_encoding)


# ----------------------------------------------------------------------------------------- stats / waiting
def job_stats(ws: Workspace) -> JobStats:
    """Counts and durations by state, average queue wait, and error codes."""
    with ws.sessions() as session:
        rows = session.execute(select(Job.status, Job.queued_at, Job.started_at, Job.completed_at, Job.error_code)
                               .where(Job.workspace_id == ws.workspace_id)).all()
    by: dict[str, list[int]] = {}
    counts: dict[str, int] = {}
    waits: list[int] = []
    errors: dict[str, int] = {}
    for status, queued, started, completed, code in rows:
        counts[status] = counts.get(status, 0) + 1
        if started and completed:
            by.setdefault(status, []).append(int((completed - started).total_seconds() * 1000))
        if started:
            waits.append(int((started - queued).total_seconds() * 1000))
        if code:
            errors[code] = errors.get(code, 0) + 1
    states = {}
    for status in ("queued", "running", "succeeded", "failed", "cancelled"):
        d = by.get(status, [])
        states[status] = StateStats(count=counts.get(status, 0), avg_ms=int(statistics.mean(d)) if d else None,
                                    p50_ms=int(statistics.median(d)) if d else None, max_ms=max(d) if d else None)
    return JobStats(total=len(rows), by_state=states, queue_wait_avg_ms=int(statistics.mean(waits)) if waits else None,
                    errors=dict(sorted(errors.items())))


def wait_for_job(ws: Workspace, job_id: str, *, on_event: Callable[[dict[str, Any]], None] | None = None,
                 poll_s: float = 0.2, timeout_s: float | None = None) -> JobInfo:
    """Block until the job is terminal, feeding each new `events.ndjson` line to `on_event`."""
    info = get_job(ws, job_id)
    path = Path(info.job_dir) / "events.ndjson" if info.job_dir else None
    pos = 0
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        if path is not None and on_event is not None:
            pos = _follow(path, pos, on_event)
        info = get_job(ws, info.job_id)
        if info.terminal:
            if path is not None and on_event is not None:
                _follow(path, pos, on_event)
            return info
        if deadline is not None and time.monotonic() > deadline:
            return info
        time.sleep(poll_s)


def _follow(path: Path, pos: int, on_event: Callable[[dict[str, Any]], None]) -> int:
    from ade_engine.runtime.jobfiles import open_regular

    try:  # the job may have swapped the file for a link or a FIFO: never follow or block on it
        with os.fdopen(open_regular(path, os.O_RDONLY), "rb") as fh:
            fh.seek(pos)
            chunk = fh.read()
    except OSError:
        return pos
    complete, _, _ = chunk.rpartition(b"\n")
    if not complete:
        return pos
    for line in complete.decode("utf-8", "replace").splitlines():
        try:
            on_event(json.loads(line))
        except ValueError:
            continue
    return pos + len(complete) + 1


# ----------------------------------------------------------------------------------------- workers
def check_concurrency(value: Any) -> int:
    """The slots of one worker, 1 to 64; `concurrency_invalid` otherwise (e.g. `ade worker --concurrency 999`)."""
    from ade_engine.jobs.worker import check_concurrency as check

    return check(value)


def new_worker(ws: Workspace, *, concurrency: int | None = None, mode: str = "standalone",
               on_message: Callable[[str], None] | None = None) -> Any:
    """A queue loop (`jobs.worker.Worker`): `.run(stop=, once=)` serves the queue in the calling thread."""
    from ade_engine.jobs.worker import Worker

    return Worker(ws, concurrency=concurrency, mode=mode, on_message=on_message)


def embedded_worker(ws: Workspace, *, concurrency: int | None = None) -> Any:
    """The worker as a background thread (TUI): `.start()`, `.status()`, `.stop(cancel_running=)`."""
    from ade_engine.jobs.worker import EmbeddedWorker

    return EmbeddedWorker(ws, concurrency=concurrency)


def external_worker_running(ws: Workspace) -> bool:
    """True when a standalone `ade worker` is serving this queue (heartbeat younger than a lease)."""
    from ade_engine.jobs.worker import is_external_worker_running

    return is_external_worker_running(ws)


def external_worker_slots(settings: Any) -> tuple[int, int]:
    """(busy, total) slots of the live standalone `ade worker` processes (their heartbeat files)."""
    from ade_engine.jobs import queue

    live = [w for w in queue.live_workers(settings) if w.get("mode") == "standalone"]
    return sum(int(w.get("busy") or 0) for w in live), sum(int(w.get("slots") or 0) for w in live)


# ----------------------------------------------------------------------------------------- viewing (TUI)
class JobProgress(BaseModel):
    """What a job list shows beyond the record: pass progress, rows, issues (from events or the artifact)."""

    passes_done: int = 0
    current_pass: str | None = None  # name of the pass running now
    rows: int | None = None  # rows written (terminal) or rows read so far (running)
    errors: int | None = None
    warnings: int | None = None
    issues: int | None = None


PASSES = ("structure", "mapping", "transform", "validate", "generate")


def job_progress(info: JobInfo) -> JobProgress:
    """Progress of one job from its files: the artifact summary once terminal, else `events.ndjson`."""
    progress = JobProgress()
    if not info.job_dir or info.status == "queued":
        return progress
    job_dir = Path(info.job_dir)
    if info.terminal:
        try:
            art = json.loads((job_dir / "artifact.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            art = {}
        summary = art.get("summary") or {}
        progress.passes_done = sum(1 for p in art.get("pass_history") or [] if isinstance(p, dict))
        if summary:
            progress.rows = summary.get("rows_written")
            progress.errors, progress.warnings = summary.get("errors"), summary.get("warnings")
            progress.issues = summary.get("issues_found")
        return progress
    done: set[str] = set()
    for event in read_events_file(job_dir / "events.ndjson")[0]:
        detail = event.get("detail") or {}
        name = event.get("event")
        if name == "pass.started":
            progress.current_pass = detail.get("name")
        elif name == "pass.completed":
            done.add(str(detail.get("name")))
            stats = detail.get("stats") or {}
            if "data_rows" in stats:
                progress.rows = stats["data_rows"]
            if "rows_written" in stats:
                progress.rows = stats["rows_written"]
            if "errors" in stats:
                progress.errors, progress.warnings = stats.get("errors"), stats.get("warnings")
                progress.issues = int(stats.get("errors") or 0) + int(stats.get("warnings") or 0) + int(
                    stats.get("infos") or 0)
        elif name == "pass.progress" and "rows" in detail:
            progress.rows = detail["rows"]
    progress.passes_done = len(done)
    if progress.current_pass in done:
        progress.current_pass = next((p for p in PASSES if p not in done), None)
    return progress


def read_events_file(path: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Complete `events.ndjson` lines from byte `offset` on, and the offset to read from next time."""
    found: list[dict[str, Any]] = []
    pos = _follow(path, offset, found.append)
    return found, pos


def read_events(ws: Workspace, job_id: str, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """A job's events from byte `offset` (0 = all), and the next offset (for following a running job)."""
    return read_events_file(events_path(ws, job_id), offset)


def load_artifact(ws: Workspace, job_id: str) -> Any:
    """The job's `artifact.json` as the typed `runtime.artifact.Artifact` (`artifact_invalid` when it is not)."""
    from pydantic import ValidationError

    from ade_engine.runtime.artifact import Artifact

    path = artifact_path(ws, job_id)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Artifact.model_validate(data)
    except (OSError, ValueError, ValidationError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else None
        where = ".".join(map(str, first["loc"])) + ": " + first["msg"] if first else str(exc)
        raise AdeError(f"the artifact of job {job_id} cannot be read ({where}); see {path}", code="artifact_invalid",
                       details={"job_id": job_id}) from None


class OutputPreview(BaseModel):
    """A window of rows of a job's `normalized.xlsx` (values as display text)."""

    sheet: str
    headers: list[str]
    rows: list[list[str]]
    offset: int  # data rows skipped before `rows`
    total_rows: int | None  # data rows in the sheet when the file says so
    more: bool  # rows after this window


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ").removesuffix(" 00:00:00").removesuffix("T00:00:00")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def preview_output(ws: Workspace, job_id: str, limit: int = 200, offset: int = 0) -> OutputPreview:
    """Up to `limit` data rows of the job's output from data row `offset` (streamed: openpyxl read-only)."""
    import openpyxl

    path = output_path(ws, job_id)
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # a broken zip or workbook: say where
        raise AdeError(f"the output of job {job_id} cannot be read ({exc.__class__.__name__}: {exc}); see {path}",
                       code="output_unreadable", details={"job_id": job_id}) from None
    try:
        sheet = book.worksheets[0]
        rows_iter = sheet.iter_rows(values_only=True)
        headers = [_cell_text(v) for v in next(rows_iter, ())]
        width = len(headers)
        rows: list[list[str]] = []
        more = False
        for index, values in enumerate(rows_iter):
            if index < offset:
                continue
            if len(rows) >= limit:
                more = True
                break
            cells = [_cell_text(v) for v in values[:width]]
            rows.append(cells + [""] * (width - len(cells)))
        total = sheet.max_row - 1 if sheet.max_row else None
        return OutputPreview(sheet=sheet.title, headers=headers, rows=rows, offset=offset,
                             total_rows=total if total is not None and total >= 0 else None, more=more)
    finally:
        book.close()
