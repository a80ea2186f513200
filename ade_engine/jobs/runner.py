"""Run ONE staged job: resolve the sandbox level → prepare → secrets → run request → launch → finalize.

Shared by the queue worker and `ade run`. Failures before the spawn (sandbox, prepare, secrets) still end in
a finalized job: `result.json` says what failed (stage `start`) and `finalize` makes the artifact terminal.
Call `run_job` from a thread that outlives the job (the launcher ties the child's lifeline to it).
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ade_engine.errors import AdeError
from ade_engine.jobs.outcome import (CAUSE_CANCELLED, JobOutcome, LaunchOutcome, OperatorLimits,
                                   output_bytes_for_input)
from ade_engine.runtime.atomic import save_json_atomic

RESULT_SCHEMA = "ade.run_result/v1"
EventSink = Callable[[str, dict[str, Any] | None], None]


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def build_request(
    job_dir: Path, *, settings: Any, job_id: str, attempt: int, retry_of_job_id: str | None, trace_id: str,
    config_id: str, config_version_id: str, content_hash: str, deps_hash: str | None,
    document_id: str | None, filename: str, input_path: Path, input_format: str, input_sha256: str,
    input_size: int, network_override: bool | None = None, reader: str = "auto", created_at: str | None = None,
    input_encoding: str | None = None,
) -> dict[str, Any]:
    """The run request of jobs.md §4 plus the keys the pipeline needs (docs/internals.md)."""
    from ade_engine import ENGINE_VERSION
    from ade_engine.manifest import load_manifest

    config_dir = job_dir / "config"
    manifest = load_manifest(config_dir)
    caps = OperatorLimits.from_settings(settings)
    defaults = manifest.engine.defaults
    wanted_net = defaults.runtime_network_access if network_override is None else network_override
    warnings = []
    if wanted_net and not caps.network_allowed:  # the operator's cap wins; say so instead of dropping it
        who = "the job's network option (--network)" if network_override else "the manifest (runtime_network_access)"
        warnings.append({"code": "network_refused",
                         "message": f"network access was asked for by {who}, but the operator does not allow it "
                                    "(ADE_RUNTIME_NETWORK_ALLOWED is off): the job runs without network"})
    now = now_iso()
    return {
        "schema": "ade.run_request/v1",
        "job_id": job_id,
        "attempt": attempt,
        "retry_of_job_id": retry_of_job_id,
        "trace_id": trace_id,
        "config_id": config_id,
        "config_version_id": config_version_id,
        "content_hash": content_hash,
        "deps_hash": deps_hash,
        "config_title": manifest.info.title,
        "manifest_version": manifest.info.version,
        "manifest_schema": manifest.info.schema_,
        "config_script_api_version": manifest.config_script_api_version,
        "input": {"document_id": document_id, "filename": filename, "sha256": input_sha256,
                  "path": str(input_path), "format": input_format, "size_bytes": input_size,
                  "encoding": input_encoding},
        "limits": caps.effective(timeout_ms=defaults.timeout_ms, memory_mb=defaults.memory_mb,
                                 output_bytes=output_bytes_for_input(input_path)),
        "runtime_network_access": bool(wanted_net and caps.network_allowed),
        "warnings": warnings,  # job-level artifact warnings known before the job starts
        "sandbox_level": None,
        "secrets_requested": sorted(manifest.requested_secrets()),
        "engine_version": ENGINE_VERSION,
        "python_executable": sys.executable,
        "created_at": created_at or now,
        "started_at": now,
        "job_dir": str(job_dir),
        "config_dir": str(config_dir),
        "reader": reader,
        "job_user": getattr(settings, "job_user", None),
        "input_budget": {"max_uncompressed_mb": settings.input_max_uncompressed_mb,
                         "max_ratio": settings.input_max_ratio,
                         "inmemory_max_mb": settings.reader_inmemory_max_mb},
    }


def resolve_sandbox(settings: Any) -> tuple[str, list[str]]:
    """The level jobs run at (ADE_SANDBOX against a real probe, root rule included) and what it lacks."""
    from ade_engine.jobs.sandbox import probe, resolve_level

    report = probe()
    level = resolve_level(settings.sandbox, report, job_user=settings.job_user)
    return level, report.missing(level)


def sandbox_warning(level: str, missing: list[str]) -> dict[str, str]:
    """The artifact warning of a job that runs without some protection: the level, each missing layer and
    the fix the probe found for it."""
    from ade_engine.jobs.sandbox import probe

    fixes = probe().fixes()
    parts = [f"{name} (fix: {fixes[name]})" if fixes.get(name) else name for name in missing]
    return {"code": "sandbox_degraded",
            "message": f"the job ran at sandbox level {level!r} without {'; '.join(parts)}; "
                       "ade doctor shows the same"}


def _optional(module: str, name: str) -> Callable[..., Any] | None:
    """A function another part of the engine provides once it exists (prepare, secrets)."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return None
    return getattr(mod, name, None)


def _write_result(job_dir: Path, code: str, message: str, stage: str = "start") -> None:
    data = {"schema": RESULT_SCHEMA, "status": "failed", "error": {"code": code, "message": message, "stage": stage},
            "stats": {"rows_written": 0, "tables": 0, "issues_found": 0}, "duration_ms": 0}
    save_json_atomic(job_dir / "result.json", data, pretty=False)


def fail_without_spawn(job_dir: Path, request: dict[str, Any], code: str, message: str, *,
                       secrets: dict[str, str] | None = None, remove_inputs: bool = True,
                       on_event: EventSink | None = None, stage: str = "start") -> JobOutcome:
    """Finalize a job that never started (or whose process is gone) with a given error."""
    from ade_engine.jobs import permissions
    from ade_engine.jobs.finalize import finalize

    # A job whose worker died may have left its dir to the job account: reclaim it before writing into it.
    permissions.reclaim(job_dir)
    tampered = permissions.inspect(job_dir, None)
    if not tampered:
        _write_result(job_dir, code, message, stage)
    launched = LaunchOutcome(pid=None, pgid=None, exit_code=1, signal=None, cause=None, tampered=tampered)
    return finalize(job_dir, launched, request, secrets=secrets, remove_inputs=remove_inputs, on_event=on_event)


def link_vendor(job_dir: Path, vendor: Path) -> None:
    link = job_dir / "vendor"
    if link.is_symlink() or link.exists():
        return
    try:
        os.symlink(vendor, link, target_is_directory=True)
    except OSError:
        import shutil

        shutil.copytree(vendor, link, symlinks=False)


def run_job(
    job_dir: str | Path,
    request: dict[str, Any],
    settings: Any,
    *,
    secrets_for: Callable[[dict[str, Any]], dict[str, str]] | None = None,
    cancel_check: Callable[[], Any] | None = None,
    on_event: EventSink | None = None,
    on_sandbox: Callable[[str | None, list[str]], None] | None = None,
    remove_inputs: bool = True,
    command: list[str] | tuple[str, ...] | None = None,
    still_owner: Callable[[], bool] | None = None,
) -> JobOutcome | None:
    """Run a staged job to its finalized end and return the decided outcome (never raises for job failures).

    `still_owner()` (the queue worker) is asked once the job process is gone: False means the job was reaped
    meanwhile, so its files are the reaper's and None is returned without finalizing (no second terminal event)."""
    from ade_engine.jobs.finalize import finalize
    from ade_engine.jobs.launcher import launch
    from ade_engine.jobs.staging import write_run_request
    from ade_engine.runtime.events import EventLog

    job_dir = Path(job_dir)
    log = EventLog(job_dir / "events.ndjson", request.get("job_id"), int(request.get("attempt") or 1), "parent")

    def emit(event: str, detail: dict[str, Any] | None = None, duration_ms: int | None = None) -> None:
        log.emit(event, state="running", detail=detail, duration_ms=duration_ms)
        if on_event is not None:
            on_event(event, detail)

    def fail(code: str, message: str, secrets: dict[str, str] | None = None) -> JobOutcome:
        write_run_request(job_dir, request)
        return fail_without_spawn(job_dir, request, code, message, secrets=secrets, remove_inputs=remove_inputs,
                                  on_event=on_event)

    for warning in request.get("warnings") or []:
        if warning.get("code") == "network_refused":
            emit("network.refused", {"setting": "ADE_RUNTIME_NETWORK_ALLOWED", "message": warning.get("message")})

    # 1. sandbox level: never weaker than chosen; unavailable → sandbox_unavailable before anything runs
    try:
        level, missing = resolve_sandbox(settings)
    except AdeError as exc:
        request["sandbox_level"] = None
        return fail("sandbox_unavailable", exc.message)
    request["sandbox_level"] = level
    request["sandbox_missing"] = missing
    if missing:  # one warning on the job and its artifact naming each missing layer and its fix
        request["warnings"] = [*(request.get("warnings") or []), sandbox_warning(level, missing)]
    if on_sandbox is not None:
        on_sandbox(level, missing)

    # 2. prepare (once per deps_hash; does not count against the job's wall clock)
    deps = request.get("deps_hash")
    if deps:
        ensure_prepared = _optional("ade_engine.jobs.prepare", "ensure_prepared")
        if ensure_prepared is None:
            return fail("prepare_failed", "the package has requirements.txt but this engine cannot prepare "
                                          "dependencies yet; remove requirements.txt or upgrade ADE")
        t0 = time.monotonic()
        emit("prepare", {"deps_hash": deps, "phase": "started"})
        try:
            vendor = ensure_prepared(settings, Path(request.get("config_dir") or job_dir / "config"), deps,
                                     on_progress=lambda line: emit("prepare.progress", {"line": line[:300]}))
        except AdeError as exc:
            emit("prepare", {"deps_hash": deps, "phase": "failed"}, int((time.monotonic() - t0) * 1000))
            return fail(exc.code if exc.code.startswith(("prepare", "requirements")) else "prepare_failed", exc.message)
        emit("prepare", {"deps_hash": deps, "phase": "done"}, int((time.monotonic() - t0) * 1000))
        if vendor is not None:
            link_vendor(job_dir, Path(vendor))
            from ade_engine.jobs.prepare import prepare_record, resolved_dependencies

            request["dependencies"] = resolved_dependencies(vendor)  # artifact.environment.dependencies
            request["prepare"] = prepare_record(vendor)  # artifact.environment.prepare: how pip ran

    # 3. secrets (decrypted in the parent, sent over stdin only)
    secrets: dict[str, str] = {}
    if request.get("secrets_requested"):
        if secrets_for is None:
            return fail("secrets_unavailable", "the package requests secrets "
                        f"({', '.join(request['secrets_requested'])}) but no secrets store is available here")
        try:
            secrets = dict(secrets_for(request) or {})
        except AdeError as exc:
            return fail("secrets_unavailable" if exc.code != "safe_mode" else exc.code, exc.message)

    # 4. cancelled while preparing? then nothing is spawned
    if cancel_check is not None and (wanted := cancel_check()):
        source = wanted if isinstance(wanted, str) else "user"
        emit("cancel.requested", {"source": source})
        write_run_request(job_dir, request)
        launched = LaunchOutcome(pid=None, pgid=None, exit_code=None, signal=None, cause=CAUSE_CANCELLED,
                                 cancel_source=source)
        return finalize(job_dir, launched, request, secrets=secrets, remove_inputs=remove_inputs, on_event=on_event)

    # 5. spawn, watch, finalize
    request["started_at"] = now_iso()
    write_run_request(job_dir, request)
    try:
        launched = launch(job_dir, request, secrets, limits=OperatorLimits.from_settings(settings), on_event=on_event,
                          cancel_check=cancel_check, command=command, settings=settings)
    except AdeError as exc:  # refused before spawning (runtime site, job user's access, …)
        return fail(exc.code if exc.code != "error" else "sandbox_unavailable", exc.message, secrets)
    if still_owner is not None and not still_owner():
        return None
    outcome = finalize(job_dir, launched, request, secrets=secrets, remove_inputs=remove_inputs, on_event=on_event)
    # Every job records the level it ran under; the artifact's own record wins when the job wrote one.
    if outcome.sandbox_level is None or (outcome.sandbox_level == level and not outcome.sandbox_missing):
        outcome.sandbox_level, outcome.sandbox_missing = level, list(missing)
    return outcome
