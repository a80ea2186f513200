"""Finalization after the job's process group is gone (jobs.md §8).

0. The launcher has reclaimed the job dir and listed swapped entries (`permissions`); a tampered job dir
   fails the job (`job_dir_tampered`), and every file here is read and written without following links.
   When the job was given secrets, every file it left is scanned for their values (`secret_scan`): a find
   fails a job that would have succeeded (`secret_in_output`).
1. Decide the outcome: clean exit 0 + valid `result.json` saying `succeeded` wins; otherwise the parent's
   own cause (cancel → `cancelled`, timeout → `timeout`, RSS watchdog → `memory_limit`) wins over
   `result.json`, which wins over the exit code/signal (`worker_crash`).
2. Make `artifact.json` terminal (the last saved one, or a stub with `job`, `input`, `config`).
3. Delete `normalized.xlsx.partial`; when not succeeded rename `normalized.xlsx` to
   `normalized.incomplete.xlsx` (and set `output.path`).
4. Remove `tmp/` (and `inputs/` on success when asked); events `exit` (+ `error`), `cleanup`.
"""

from __future__ import annotations

import json
import os
import signal as signal_mod
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ade_engine.jobs.outcome import CAUSE_CANCELLED, CAUSE_MEMORY, CAUSE_TIMEOUT, JobOutcome, LaunchOutcome
from ade_engine.jobs.permissions import PARENT_FILES
from ade_engine.jobs.secret_scan import scan_job_dir
from ade_engine.runtime.atomic import save_json_atomic
from ade_engine.runtime.jobfiles import describe, read_bytes, remove_tree, unlink_entry

RESULT_SCHEMA = "ade.run_result/v1"
ARTIFACT_SCHEMA = "ade.artifact/v1"
ARTIFACT_VERSION = "1.2"
TERMINAL = ("succeeded", "failed", "cancelled")
LOG_TAIL_LINES = 50
LOG_TAIL_BYTES = 8 * 1024
MESSAGE_MAX = 400
JSON_MAX_BYTES = 256 * 1024 * 1024  # an artifact of a very large workbook stays well below this
EVENTS_MAX_BYTES = 16 * 1024 * 1024

HINTS = {
    "timeout": "Raise timeout_ms in the manifest's engine.defaults (the operator's cap is ADE_JOB_TIMEOUT_SECONDS) "
               "or reduce the input size.",
    "cpu_limit": "Look for slow detectors (row detectors run on every row), or raise ADE_WORKER_CPU_SECONDS.",
    "memory_limit": "Lower writer.chunk_rows, use row_streaming, or raise memory_mb in the manifest's "
                    "engine.defaults (the operator's cap is ADE_WORKER_MEM_MB).",
    "file_size_limit": "Raise ADE_WORKER_FSIZE_MB above the size this job needs, or split the input.",
    "worker_crash": "See the log tail.",
    "secret_in_output": "Remove what writes or prints the secret (encoded or not) from the package's scripts.",
    "job_dir_tampered": "The package replaced files of its job dir with links; do not run it again before review.",
    "sandbox_unavailable": "Run `ade doctor`; fix what it names or change ADE_SANDBOX.",
    "rule_error": "See rule_errors and the log tail.",
    "pipeline_error": "Report it with the trace id.",
}


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _read_json(path: Path) -> Any:
    """The JSON of a job-dir file, read without following links (None when absent, unsafe or not JSON)."""
    try:
        return json.loads(read_bytes(path, limit=JSON_MAX_BYTES).decode("utf-8"))
    except (OSError, ValueError):
        return None


def read_result(job_dir: Path) -> dict[str, Any] | None:
    """`result.json` if it exists and has the run-result shape, else None."""
    data = _read_json(job_dir / "result.json")
    if not isinstance(data, dict) or data.get("schema") != RESULT_SCHEMA or data.get("status") not in TERMINAL:
        return None
    err = data.get("error")
    if data["status"] != "succeeded" and not (isinstance(err, dict) and err.get("code")):
        return None
    return data


def log_tail(job_dir: Path, lines: int = LOG_TAIL_LINES, max_bytes: int = LOG_TAIL_BYTES) -> str:
    """The last `lines` lines of `logs/worker.log`, at most `max_bytes` bytes."""
    path = job_dir / "logs" / "worker.log"
    try:
        data = read_bytes(path, limit=max_bytes + 1, tail=True)
    except OSError:
        return ""
    text = data.decode("utf-8", "replace")
    if len(data) > max_bytes:
        text = text.split("\n", 1)[-1]  # drop the partial first line
    return "\n".join(text.splitlines()[-lines:])


def _running_stage(job_dir: Path) -> str:
    """The pass or hook that was running, from the job's events (`start` before the pipeline began)."""
    stage = "start"
    try:
        text = read_bytes(job_dir / "events.ndjson", limit=EVENTS_MAX_BYTES, tail=True).decode("utf-8", "replace")
    except OSError:
        return stage
    for line in text.splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if not isinstance(ev, dict):
            continue
        name, detail = ev.get("event"), ev.get("detail") or {}
        if not isinstance(detail, dict):
            continue
        if name == "pass.started":
            stage = str(detail.get("name") or stage)
        elif name == "hook.started":
            stage = str(detail.get("stage") or stage)
    return stage


def _signal_name(sig: int) -> str:
    try:
        return signal_mod.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def decide(launch: LaunchOutcome, result: dict[str, Any] | None, job_dir: Path,
           limits: dict[str, Any] | None = None) -> tuple[str, dict[str, Any] | None]:
    """Outcome of jobs.md §8 step 1: (status, error)."""
    limits = limits or {}
    if launch.tampered:
        return "failed", {"code": "job_dir_tampered", "stage": _running_stage(job_dir),
                          "message": "the job swapped entries of its job dir, which ADE then refused to read or "
                                     "write through: " + "; ".join(launch.tampered)}
    if launch.exit_code == 0 and result is not None and result["status"] == "succeeded":
        return "succeeded", None
    if launch.spawn_error:
        return "failed", {"code": "worker_crash", "message": launch.spawn_error, "stage": "start"}
    if launch.cause == CAUSE_CANCELLED:
        source = launch.cancel_source or "user"
        return "cancelled", {"code": "cancelled", "message": f"cancelled by {source}", "stage": _running_stage(job_dir)}
    if launch.cause == CAUSE_TIMEOUT:
        return "failed", {"code": "timeout", "stage": _running_stage(job_dir),
                          "message": f"the job exceeded its wall-clock limit of {limits.get('timeout_s', '?')} s"}
    if launch.cause == CAUSE_MEMORY:
        return "failed", {"code": "memory_limit", "stage": _running_stage(job_dir),
                          "message": f"the job's processes used more than 110% of its {limits.get('memory_mb', '?')} "
                                     "MiB memory limit (resident memory, checked by the parent)"}
    if result is not None and result["status"] != "succeeded":
        err = dict(result["error"])
        err.setdefault("stage", _running_stage(job_dir))
        err.setdefault("message", "")
        return result["status"], err
    # Limits the kernel enforced without the job process getting to say so in result.json.
    cpu_limit = limits.get("cpu_seconds")
    if launch.signal == signal_mod.SIGXCPU or (
            launch.signal == signal_mod.SIGKILL and cpu_limit and launch.cpu_seconds_used is not None
            and launch.cpu_seconds_used >= float(cpu_limit)):
        return "failed", {"code": "cpu_limit", "stage": _running_stage(job_dir),
                          "message": f"the job process used its CPU-time limit of {cpu_limit or '?'} s and the kernel "
                                     f"ended it ({_signal_name(launch.signal)})"}
    if launch.signal == signal_mod.SIGXFSZ:
        return "failed", {"code": "file_size_limit", "stage": _running_stage(job_dir),
                          "message": f"a file written by the job reached this job's file size limit of "
                                     f"{limits.get('fsize_mb', '?')} MiB and the kernel ended it (SIGXFSZ)"}
    if launch.signal is not None:
        how = f"was killed by {_signal_name(launch.signal)}"
    elif result is None:
        how = f"exited with code {launch.exit_code} without a valid result.json"
    else:
        how = f"reported success but exited with code {launch.exit_code}"
    return "failed", {"code": "worker_crash", "message": f"the job process {how}", "stage": _running_stage(job_dir)}


def _stub_artifact(request: dict[str, Any]) -> dict[str, Any]:
    inp = request.get("input") or {}
    return {
        "schema": ARTIFACT_SCHEMA,
        "artifact_version": ARTIFACT_VERSION,
        "job": {
            "job_id": request.get("job_id"),
            "attempt": int(request.get("attempt") or 1),
            "retry_of_job_id": request.get("retry_of_job_id"),
            "trace_id": request.get("trace_id"),
            "status": "running",
            "source_file": inp.get("filename"),
            "started_at": request.get("started_at") or request.get("created_at"),
            "completed_at": None,
            "config_version_id": request.get("config_version_id"),
            "runtime_network_access": bool(request.get("runtime_network_access")),
            "secrets_used": sorted(request.get("secrets_requested") or []),
        },
        "input": {
            "document_id": inp.get("document_id"),
            "format": inp.get("format"),
            "size_bytes": inp.get("size_bytes"),
            "sha256": inp.get("sha256"),
            "encoding": None,
            "delimiter": None,
            "sheet_count": 0,
        },
        "config": {
            "config_id": request.get("config_id"),
            "config_version_id": request.get("config_version_id"),
            "title": request.get("config_title"),
            "manifest_version": request.get("manifest_version"),
            "manifest_schema": request.get("manifest_schema"),
            "config_script_api_version": request.get("config_script_api_version"),
            "content_hash": request.get("content_hash"),
            "deps_hash": request.get("deps_hash"),
        },
        "sheets": [],
        "output": None,
        "summary": None,
        "pass_history": [],
        "annotations": [],
        "rule_errors": [],
        "warnings": [],
        "error": None,
    }


def _load_artifact(path: Path) -> dict[str, Any] | None:
    data = _read_json(path)
    return data if isinstance(data, dict) and isinstance(data.get("job"), dict) else None


def finalize(
    job_dir: str | Path,
    launch: LaunchOutcome,
    request: dict[str, Any],
    *,
    secrets: dict[str, str] | None = None,
    remove_inputs: bool = True,
    on_event: Callable[[str, dict[str, Any] | None], None] | None = None,
) -> JobOutcome:
    """Finalize a job whose process group is gone; returns what the record and the UI show."""
    from ade_engine.runtime.redact import Redactor
    from ade_engine.runtime.events import EventLog

    job_dir = Path(job_dir)
    redact = Redactor(secrets)
    if launch.tampered:
        # Links and hard links in place of ADE's files are removed (never their targets): the files are written
        # afresh below, and the job's own result and artifact are not trusted.
        for name in PARENT_FILES:
            if describe(job_dir / name) is not None:
                unlink_entry(job_dir / name)
    result = None if launch.tampered else read_result(job_dir)
    status, error = decide(launch, result, job_dir, request.get("limits"))
    # 1b. secret values in files the job left (any spelling): records redacted, other files removed
    leaks = scan_job_dir(job_dir, secrets)
    leak_note = None
    if leaks:
        leak_note = ("secret values were found in files the job left, and were contained: "
                     + "; ".join(f.describe() for f in leaks)
                     + ". A script must not write a secret to a file or print it encoded.")
        if status == "succeeded":
            status, error = "failed", {"code": "secret_in_output", "message": leak_note,
                                       "stage": _running_stage(job_dir)}
    if error is not None:
        error = {**error, "message": redact(str(error.get("message") or ""))[:MESSAGE_MAX]}
        if error["code"] in HINTS:
            error.setdefault("hint", HINTS[error["code"]])

    # 2–3. terminal artifact and output files
    unlink_entry(job_dir / "normalized.xlsx.partial")
    output = job_dir / "normalized.xlsx"
    incomplete = job_dir / "normalized.incomplete.xlsx"
    output_path: str | None = None
    if status == "succeeded":
        output_path = output.name if output.exists() else None
    elif output.exists():
        os.replace(output, incomplete)  # renames the name itself; inspect() made sure it is a plain file
        output_path = incomplete.name

    artifact_path = job_dir / "artifact.json"
    artifact = (None if launch.tampered else _load_artifact(artifact_path)) or _stub_artifact(request)
    artifact["job"]["status"] = status
    artifact["job"]["completed_at"] = _now()
    artifact["error"] = None if error is None else {k: error[k] for k in ("code", "message", "stage", "rule") if k in error}
    if isinstance(artifact.get("output"), dict) and status != "succeeded":
        artifact["output"]["path"] = incomplete.name if output_path else None
    if leak_note is not None:
        artifact["warnings"] = [*(artifact.get("warnings") or []), {"code": "secret_in_output", "message": leak_note}]
    save_json_atomic(artifact_path, artifact)

    # 4. events and cleanup
    log = EventLog(job_dir / "events.ndjson", request.get("job_id"), int(request.get("attempt") or 1), "parent")

    def emit(event: str, detail: dict[str, Any] | None, **kw: Any) -> None:
        log.emit(event, detail=detail, **kw)
        if on_event is not None:
            on_event(event, detail)

    emit("exit", None if error is None else {"error_code": error["code"]}, state=status, duration_ms=launch.duration_ms)
    if error is not None:
        emit("error", {"code": error["code"], "message": error["message"]}, state=status)
    removed = []
    for name in ("inputs", "tmp") if (remove_inputs and status == "succeeded") else ("tmp",):
        target = job_dir / name
        if target.exists() or target.is_symlink():
            try:
                remove_tree(target)
            except OSError:
                continue  # e.g. a tree nested too deep to walk; retention removes the whole job dir later
            removed.append(name)
    emit("cleanup", {"removed": removed}, state=status)

    engine = artifact.get("engine") if isinstance(artifact.get("engine"), dict) else {}
    sandbox = engine.get("sandbox") if isinstance(engine.get("sandbox"), dict) else {}
    return JobOutcome(
        status=status,
        error=error,
        exit_code=launch.exit_code,
        signal=launch.signal,
        duration_ms=launch.duration_ms,
        log_tail=redact(log_tail(job_dir)) if status != "succeeded" else "",
        output_path=output_path,
        sandbox_level=sandbox.get("level") or request.get("sandbox_level"),
        sandbox_missing=list(sandbox.get("missing") or []),
        removed=removed,
        result=result,
    )
