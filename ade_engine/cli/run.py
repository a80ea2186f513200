"""`ade run INPUT --config PACKAGE_DIR`: one job in the foreground, without the database (jobs.md §12).

Same path as a queued job: input gate, static validation, staging, prepare (requirements.txt, once per
deps_hash, progress on a terminal), spawn with sandbox and limits, cancellation (Ctrl-C) and finalization.
The job directory is `--out` and is never cleaned up: `tmp/` is removed like for every job, but `inputs/` is
kept (it is the record of what ran; a hard link when it can be).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets as secrets_mod
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Callable

from ade_engine.errors import AdeError, ConfigInvalid, Conflict, InputError

# Entries a job dir holds; `--force` clears exactly these from an existing --out folder.
JOB_ENTRIES = ("inputs", "config", "tmp", "logs", "vendor", "run-request.json", "events.ndjson", "result.json",
               "artifact.json", "artifact.json.tmp", "result.json.tmp", "normalized.xlsx", "normalized.xlsx.partial",
               "normalized.incomplete.xlsx")
PASS_NAMES = {1: "structure", 2: "mapping", 3: "transform", 4: "validate", 5: "generate"}
EXIT_FAILED = 1
EXIT_REFUSED = 2
EXIT_CANCELLED = 130


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "run", help="run one input file through a config package, in the foreground",
        description="Run one input through a config package without the database; prints a summary "
                    "(or one JSON object with --json). Exit status 0 only when the job succeeded.")
    p.add_argument("input", metavar="INPUT", help="the .xlsx, .xlsm or .csv file to normalize")
    p.add_argument("--config", required=True, metavar="PACKAGE_DIR", help="config package folder (has manifest.json)")
    p.add_argument("--out", metavar="DIR", help="job directory (default ./ade-out/<input stem>/)")
    p.add_argument("--force", action="store_true", help="reuse a non-empty --out directory (its job files are replaced)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")
    p.add_argument("--reader", choices=("auto", "calamine", "openpyxl"), default="auto",
                   help="workbook reader engine (default auto)")
    p.add_argument("--encoding", metavar="NAME",
                   help="text encoding of a CSV/TSV input, e.g. windows-1252 or shift_jis (default: the manifest's "
                        "engine.input.encoding, else detected)")
    p.set_defaults(handler=handle)


# ----------------------------------------------------------------------------- the run itself (no printing)
def _load_settings() -> Any:
    from ade_engine.services.startup import check_startup
    from ade_engine.settings import load_settings

    settings = load_settings()
    check_startup(settings)
    return settings


def _sandbox_level(settings: Any) -> str:
    """The level a job runs at: ADE_SANDBOX against a real probe (jobs.md §6.2), root rule included."""
    from ade_engine.jobs.runner import resolve_sandbox

    return resolve_sandbox(settings)[0]


def _warm_sandbox_probe() -> None:
    """Start the sandbox probe (two throwaway subprocesses, mostly waiting) in the background while settings
    load, the input is inspected and the package validated; `_sandbox_level` then finds it done or waits."""
    import threading

    from ade_engine.jobs.sandbox import probe

    def run() -> None:
        try:
            probe()
        except Exception:
            pass  # the foreground call probes again and reports the error

    threading.Thread(target=run, name="ade-sandbox-probe", daemon=True).start()


def _warm_job_python(settings: Any) -> None:
    """Ask the job interpreter for its version and paths (one short subprocess, cached per process) in the
    background while the package is validated; the launcher needs the answer before it spawns the job."""
    from ade_engine.jobs.runtime_site import interpreter_info

    python = str(getattr(settings, "job_python", None) or sys.executable)
    threading.Thread(target=interpreter_info, args=(python,), name="ade-job-python", daemon=True).start()


def _config_problems(config_dir: Path) -> None:
    from ade_engine.packages.validation import validate_static

    errors = [d for d in validate_static(config_dir) if d.level == "error"]
    if not errors:
        return
    shown = []
    for d in errors[:3]:
        where = d.path + (f":{d.line}" if d.line else "")
        shown.append(f"{where}: {d.message} [{d.code}]")
    more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
    raise ConfigInvalid(
        f"package {config_dir} is invalid: " + "; ".join(shown) + more
        + f" — run `ade config validate {config_dir}` for the full list",
        details={"problems": [d.to_dict() if hasattr(d, "to_dict") else vars(d) for d in errors]})


def _prepare_out_dir(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise Conflict(f"--out {out} exists and is not a directory; choose another path", code="out_dir_not_empty")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise Conflict(f"output directory {out} is not empty; use --force to reuse it or --out to pick another",
                           code="out_dir_not_empty")
        from ade_engine.runtime.jobfiles import remove_tree as _force_rmtree

        for name in JOB_ENTRIES:
            target = out / name
            if target.is_dir() and not target.is_symlink():
                _force_rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()


def plan_run(input_path: str, config_dir: str, out: str | None, *, force: bool, reader: str,
             settings: Any, encoding: str | None = None) -> tuple[Path, dict[str, Any]]:
    """Everything before the spawn: gate, validation, refusals, staging. Returns (job_dir, request)."""
    from ade_engine.jobs.runner import build_request
    from ade_engine.jobs.staging import stage_job_dir, write_run_request
    from ade_engine.manifest import load_manifest
    from ade_engine.packages.layout import content_hash, deps_hash
    from ade_engine.runtime.gate import inspect_input, normalize_encoding

    if getattr(settings, "safe_mode", False):
        raise AdeError("ADE_SAFE_MODE is on: package code is not executed; unset it to run jobs", code="safe_mode")
    _warm_job_python(settings)
    src = Path(input_path).expanduser()
    if not src.is_file():
        what = "is a directory" if src.is_dir() else "does not exist"
        raise InputError(f"input {src} {what}; give the path of an .xlsx, .xlsm or .csv file", code="input_unreadable")
    # The text encoding is found in the job (with the manifest's default); here only a bad name is refused.
    encoding = normalize_encoding(encoding) if encoding else None
    info = inspect_input(src, src.name, max_uncompressed_mb=settings.input_max_uncompressed_mb,
                         max_ratio=settings.input_max_ratio, sniff_text=False)
    pkg = Path(config_dir).expanduser().resolve()
    if not pkg.is_dir():
        raise ConfigInvalid(f"--config {config_dir} is not a folder; point it at a config package (with manifest.json)",
                            code="config_unavailable")
    _config_problems(pkg)
    manifest = load_manifest(pkg)
    requested = sorted(manifest.requested_secrets())
    if requested:
        raise AdeError(f"package requests secrets ({', '.join(requested)}) and `ade run` has no secrets store; "
                       "run it as a workspace job instead", code="secrets_unavailable")
    # requirements.txt is prepared by the runner like for a queued job: once per deps_hash into
    # ${ADE_DATA_DIR}/envs (offline from ADE_WHEELHOUSE when set), reused by later runs and jobs.
    deps = deps_hash(pkg)
    level = _sandbox_level(settings)

    job_dir = (Path(out).expanduser() if out else Path.cwd() / "ade-out" / (src.stem or "input")).resolve()
    _prepare_out_dir(job_dir, force)
    staged = stage_job_dir(job_dir, input_path=src, original_name=src.name, config_dir=pkg)

    request = build_request(
        job_dir, settings=settings, job_id=_new_job_id(), attempt=1, retry_of_job_id=None,
        trace_id=secrets_mod.token_hex(16), config_id=pkg.name, config_version_id=f"draft:{content_hash(pkg)}",
        content_hash=content_hash(pkg), deps_hash=deps, document_id=None, filename=src.name, input_path=staged,
        input_format=info.format, input_sha256=info.sha256, input_size=info.size_bytes, reader=reader,
        input_encoding=encoding)
    request["sandbox_level"] = level
    write_run_request(job_dir, request)
    return job_dir, request


def _new_job_id() -> str:
    import ulid

    return str(ulid.new())


def execute(job_dir: Path, request: dict[str, Any], settings: Any, *,
            cancel_check: Callable[[], Any] | None = None) -> Any:
    """Spawn, wait and finalize (the shared runner); returns the `JobOutcome`."""
    from ade_engine.jobs.runner import run_job

    return run_job(job_dir, request, settings, cancel_check=cancel_check, remove_inputs=False)


# ----------------------------------------------------------------------------- presentation
class _Progress(threading.Thread):
    """Follows `events.ndjson` as it grows and prints one line per pass (terminal only)."""

    def __init__(self, path: Path, stream: Any):
        super().__init__(name="ade-run-progress", daemon=True)
        self._path, self._stream = path, stream
        self._done = threading.Event()

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=2)

    def run(self) -> None:
        pos = 0
        while True:
            finished = self._done.wait(0.2)
            try:
                with open(self._path, encoding="utf-8", errors="replace") as fh:
                    fh.seek(pos)
                    chunk = fh.read()
            except OSError:
                chunk = ""
            complete, _, _rest = chunk.rpartition("\n")
            if complete:
                pos += len((complete + "\n").encode("utf-8"))
                for line in complete.splitlines():
                    self._show(line)
            if finished:
                return

    def _show(self, line: str) -> None:
        try:
            ev = json.loads(line)
        except ValueError:
            return
        name, d = ev.get("event"), ev.get("detail") or {}
        if name == "pass.started":
            text = f"pass {d.get('pass')}/5 {d.get('name')} …"
        elif name == "pass.completed":
            stats = ", ".join(f"{k} {v}" for k, v in (d.get("stats") or {}).items())
            text = f"pass {d.get('pass')}/5 {d.get('name')} done" + (f" ({stats})" if stats else "")
        elif name == "pass.progress":
            text = f"  {d.get('sheet_id')}: {d.get('rows')} rows"
        elif name == "worker.timeout":
            text = f"timed out after {d.get('timeout_s')} s; stopping the job"
        elif name == "cancel.requested":
            text = "cancelling…"
        elif name == "prepare" and d.get("phase") in ("started", "failed"):
            text = "preparing dependencies…" if d.get("phase") == "started" else "preparing dependencies failed"
        elif name == "prepare.progress":
            text = f"  {d.get('line')}"
        else:
            return
        print(text, file=self._stream, flush=True)


def _artifact(job_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((job_dir / "artifact.json").read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def report_dict(job_dir: Path, request: dict[str, Any], job: Any) -> dict[str, Any]:
    """The `--json` object: the same facts as the printed summary."""
    art = _artifact(job_dir)
    tables = []
    for sheet in art.get("sheets") or []:
        for t in sheet.get("tables") or []:
            tables.append({
                "id": t.get("id"), "sheet": sheet.get("name"), "range": t.get("range"),
                "data_range": t.get("data_range"), "data_row_count": t.get("data_row_count"),
                "header_kind": (t.get("header") or {}).get("kind"), "output_range": t.get("output_range"),
                "mapping": [{"column": (m.get("raw") or {}).get("column"), "header": (m.get("raw") or {}).get("header"),
                             "target_field": m.get("target_field"), "score": m.get("score"),
                             "decision": m.get("decision")} for m in t.get("mapping") or []],
            })
    return {
        "job_id": request["job_id"],
        "status": job.status,
        "job_dir": str(job_dir),
        "output": str(job_dir / job.output_path) if job.output_path else None,
        "error": job.error,
        "exit_code": job.exit_code,
        "signal": job.signal,
        "duration_ms": job.duration_ms,
        "sandbox": {"level": job.sandbox_level, "missing": job.sandbox_missing},
        "summary": art.get("summary"),
        "tables": tables,
        "warnings": art.get("warnings") or [],
        "rule_errors": art.get("rule_errors") or [],
        "log_tail": job.log_tail or None,
    }


def _print_summary(rep: dict[str, Any], out: Any) -> None:
    w = lambda s="": print(s, file=out)  # noqa: E731
    w(f"job {rep['job_id']}: {rep['status']} in {rep['duration_ms'] / 1000:.1f} s "
      f"(sandbox {rep['sandbox']['level']})")
    for t in rep["tables"]:
        w(f"table {t['id']} on sheet {t['sheet']!r}: {t['range']} ({t['data_row_count']} data rows, "
          f"{t['header_kind']} header)")
        for m in t["mapping"]:
            head = m["header"] if m["header"] is not None else "(no header)"
            score = f"{m['score']:.2f}" if isinstance(m["score"], (int, float)) else "-"
            if m["target_field"] and m["decision"] in ("mapped", "hook_override"):
                w(f"  {m['column']:>3} {head!s:<28} → {m['target_field']} (score {score})")
            else:
                why = (m["decision"] or "unmapped").replace("_", " ")
                w(f"  {m['column']:>3} {head!s:<28} ✗ unmapped: {why} (best {score})")
    if not rep["tables"] and rep["status"] == "succeeded":
        w("no tables found")
    s = rep.get("summary") or {}
    if s:
        w(f"issues: {s.get('errors', 0)} errors, {s.get('warnings', 0)} warnings, {s.get('infos', 0)} info "
          f"· rows written {s.get('rows_written', 0)}")
    for warn in rep["warnings"]:
        w(f"warning: {warn.get('code')}: {warn.get('message')}")
    for r in rep["rule_errors"]:
        w(f"rule {r.get('level')}: {r.get('rule')} {r.get('kind')} ×{r.get('count')}: {r.get('message')}")
    if rep["output"]:
        w(f"output: {rep['output']}")
    w(f"details: {rep['job_dir']}/artifact.json")


def handle(args: argparse.Namespace) -> int:
    _warm_sandbox_probe()  # first: the probe's processes run while settings and the package load
    try:
        settings = _load_settings()
        job_dir, request = plan_run(args.input, args.config, args.out, force=args.force, reader=args.reader,
                                    settings=settings, encoding=args.encoding)
    except AdeError as exc:
        if args.json:
            print(json.dumps({"error": {"code": exc.code, "message": exc.message}}))
        else:
            print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return EXIT_REFUSED

    cancel = threading.Event()

    def on_sigint(*_: Any) -> None:
        cancel.set()

    previous = signal.signal(signal.SIGINT, on_sigint) if threading.current_thread() is threading.main_thread() else None
    progress = _Progress(job_dir / "events.ndjson", sys.stderr) if sys.stderr.isatty() and not args.json else None
    if progress:
        progress.start()
    try:
        job = execute(job_dir, request, settings, cancel_check=lambda: cancel.is_set() and "user")
    finally:
        if progress:
            progress.stop()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)

    rep = report_dict(job_dir, request, job)
    if args.json:
        print(json.dumps(rep, ensure_ascii=False))
    else:
        _print_summary(rep, sys.stdout)
        if job.error:
            if job.log_tail:
                print("--- last lines of logs/worker.log ---\n" + job.log_tail, file=sys.stderr)
            print(f"error: {job.error['code']}: {job.error['message']}", file=sys.stderr)
    if job.status == "succeeded":
        return 0
    return EXIT_CANCELLED if job.status == "cancelled" else EXIT_FAILED
