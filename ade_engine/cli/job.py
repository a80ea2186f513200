"""`ade job submit|list|show|cancel|retry|logs|artifact|output|pin|unpin|stats` (jobs.md §3, §7–§9)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from ade_engine.cli._output import add_json_flag, emit, guarded, print_json, short, table

EXIT_FAILED = 1


def _ws() -> Any:
    from ade_engine.services.workspace import open_workspace
    from ade_engine.settings import load_settings

    return open_workspace(load_settings())


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("job", help="queued jobs: submit, watch, cancel, retry, results",
                                   description="Jobs run one document through one config version, queued in the "
                                               "workspace database and run by a worker (TUI or 'ade worker').")
    sub = parser.add_subparsers(dest="job_command", metavar="SUBCOMMAND", required=True)

    def add(name: str, handler: Any, help_text: str, *, job_arg: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_json_flag(p)
        p.set_defaults(handler=handler)
        if job_arg:
            p.add_argument("job_id", metavar="JOB", help="job id (a unique prefix is enough)")
        return p

    p = add("submit", cmd_submit, "queue a job for a file or a document id", job_arg=False)
    p.add_argument("input", metavar="INPUT", help="a file path (registered as a document) or a document id")
    p.add_argument("--config", metavar="NAME|ID", help="config (default: the active version)")
    p.add_argument("--version", metavar="V", help="version of --config: N, draft, latest, active")
    p.add_argument("--force", action="store_true", help="run again even if the same job is queued/running/succeeded")
    net = p.add_mutually_exclusive_group()
    net.add_argument("--network", dest="network", action="store_true", default=None,
                     help="ask for network access (needs ADE_RUNTIME_NETWORK_ALLOWED)")
    net.add_argument("--no-network", dest="network", action="store_false", help="no network, whatever the manifest says")
    p.add_argument("--wait", action="store_true", help="wait for the job to end, with progress per pass")
    p.add_argument("--encoding", metavar="NAME",
                   help="text encoding of a CSV/TSV input, e.g. windows-1252 or shift_jis (default: the manifest's "
                        "engine.input.encoding, else detected)")

    p = add("list", cmd_list, "list jobs, newest first", job_arg=False)
    p.add_argument("--status", choices=("queued", "running", "succeeded", "failed", "cancelled"))
    p.add_argument("--limit", type=int, default=50)
    add("show", cmd_show, "show a job with its diagnostics")
    add("cancel", cmd_cancel, "cancel a queued or running job")
    add("retry", cmd_retry, "run a failed or cancelled job again (new linked job)")
    p = add("logs", cmd_logs, "print the job process log (logs/worker.log)")
    p.add_argument("--tail", type=int, metavar="N", help="only the last N lines")
    p.add_argument("--events", action="store_true", help="print events.ndjson instead")
    add("artifact", cmd_artifact, "print artifact.json")
    p = add("output", cmd_output, "path of the normalized workbook of a succeeded job")
    p.add_argument("--copy-to", metavar="PATH", help="copy the workbook there")
    add("pin", cmd_pin, "keep a job's directory through retention")
    add("unpin", cmd_unpin, "let retention clean a job's directory")
    add("stats", cmd_stats, "counts and durations by state", job_arg=False)


def _when(dt: Any) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S") if dt else "-"


def _summary(j: Any) -> str:
    dur = f" in {j.duration_ms / 1000:.1f} s" if j.duration_ms is not None else ""
    err = f" — {j.error_code}: {j.error_message}" if j.error_code else ""
    return f"job {j.job_id}: {j.status}{dur} ({j.source_file}, {j.config_id}, attempt {j.attempt}){err}"


# ----------------------------------------------------------------------------------------- submit
class _Progress:
    """One progress line per pass from `events.ndjson`; a bar when the row total is known (passes 3–5)."""

    def __init__(self, stream: Any):
        self.stream = stream
        self.tty = stream.isatty()
        self.total_rows: int | None = None
        self.open_line = False

    def _line(self, text: str, final: bool = True) -> None:
        if self.tty:
            self.stream.write("\r\x1b[2K" + text + ("\n" if final else ""))
            self.open_line = not final
        elif final:
            self.stream.write(text + "\n")
        self.stream.flush()

    @staticmethod
    def _bar(done: int, total: int, width: int = 24) -> str:
        frac = min(1.0, done / total) if total else 1.0
        full = int(frac * width)
        return "[" + "#" * full + "." * (width - full) + f"] {int(frac * 100):3d}%"

    def __call__(self, ev: dict[str, Any]) -> None:
        name, d = ev.get("event"), ev.get("detail") or {}
        if name == "enqueue":
            self._line(f"queued (queue depth {d.get('queue_depth')}, running {d.get('running')})")
        elif name == "claim":
            self._line("claimed by a worker")
        elif name == "prepare" and d.get("phase") == "started":
            self._line("preparing dependencies…")
        elif name == "worker.spawn":
            self._line(f"started (pid {d.get('pid')}, timeout {d.get('timeout_s')} s)")
        elif name == "pass.started":
            self._line(f"pass {d.get('pass')}/5 {d.get('name')} …", final=False)
        elif name == "pass.progress":
            rows = int(d.get("rows") or 0)
            bar = self._bar(rows, self.total_rows) if self.total_rows and int(d.get("pass") or 0) >= 3 else ""
            self._line(f"pass {d.get('pass')}/5 {bar} {rows} rows ({d.get('sheet_id')})", final=False)
        elif name == "pass.completed":
            stats = d.get("stats") or {}
            if d.get("pass") == 1 and isinstance(stats.get("data_rows"), int):
                self.total_rows = stats["data_rows"]
            text = ", ".join(f"{k} {v}" for k, v in stats.items())
            bar = self._bar(1, 1) + " " if self.tty else ""
            self._line(f"pass {d.get('pass')}/5 {d.get('name')} {bar}done" + (f" ({text})" if text else ""))
        elif name == "cancel.requested":
            self._line(f"cancelling ({d.get('source')})…")
        elif name == "worker.timeout":
            self._line(f"timed out after {d.get('timeout_s')} s")


@guarded
def cmd_submit(args: argparse.Namespace) -> int:
    from ade_engine.services import jobs

    with _ws() as ws:
        res = jobs.submit_job(ws, args.input, config=args.config, version=args.version, force=args.force,
                              network=args.network, encoding=args.encoding)
        j = res.job
        if args.network and not ws.settings.runtime_network_allowed:  # the job records it too (network.refused)
            print("warning: --network is ignored: the operator does not allow network "
                  "(ADE_RUNTIME_NETWORK_ALLOWED is off); the job runs without network", file=sys.stderr)
        if not args.wait:
            emit(args, res, (f"queued job {j.job_id}" if res.created else f"existing job {j.job_id} ({j.status}); "
                             "use --force to run it again") + f" ({j.source_file}, {j.config_id})")
            return 0
        if not args.json:
            print(f"{'queued' if res.created else 'existing'} job {j.job_id}", file=sys.stderr)
            if j.status == "queued" and not jobs.external_worker_running(ws):
                print("note: no 'ade worker' is running; start one (or the TUI) to run queued jobs", file=sys.stderr)
        progress = None if args.json else _Progress(sys.stderr)
        final = jobs.wait_for_job(ws, j.job_id, on_event=progress)
        detail = jobs.show_job(ws, final.job_id)
    emit(args, detail, lambda: _show_text(detail))
    return 0 if final.status == "succeeded" else EXIT_FAILED


# ----------------------------------------------------------------------------------------- reading
@guarded
def cmd_list(args: argparse.Namespace) -> int:
    from ade_engine.services import jobs

    with _ws() as ws:
        items = jobs.list_jobs(ws, status=args.status, limit=args.limit)
    rows = [(j.job_id, j.status, _when(j.queued_at), j.source_file, j.config_id, j.attempt,
             f"{j.duration_ms / 1000:.1f}s" if j.duration_ms is not None else "-", j.error_code or "") for j in items]
    emit(args, items, lambda: table(rows, ["JOB", "STATUS", "QUEUED", "INPUT", "CONFIG", "TRY", "TIME", "ERROR"])
         if rows else "no jobs; submit one with 'ade job submit FILE'")
    return 0


def _show_text(d: Any) -> str:
    lines = [_summary(d),
             f"config version: {d.config_version_id} (content {short(d.content_hash)})",
             f"document: {d.document_id} sha256 {short(d.input_sha256)}",
             f"queued {_when(d.queued_at)} · started {_when(d.started_at)} · completed {_when(d.completed_at)}",
             f"sandbox: {d.sandbox_level or '-'}" + (f" (missing: {', '.join(d.sandbox_missing)})"
                                                     if d.sandbox_missing else "")]
    if d.retry_of_job_id:
        lines.append(f"retry of: {d.retry_of_job_id}")
    if d.error_code:
        lines.append(f"error: {d.error_code} at stage {d.error_stage or '-'}: {d.error_message}")
        if d.hint:
            lines.append(f"hint: {d.hint}")
    if d.exit_code is not None or d.exit_signal is not None:
        lines.append(f"exit: code {d.exit_code}" + (f", signal {d.exit_signal}" if d.exit_signal else ""))
    if d.completed_passes:
        lines.append("completed passes: " + ", ".join(d.completed_passes))
    for r in d.rule_errors[:10]:
        lines.append(f"rule {r.get('level')}: {r.get('rule')} {r.get('kind')} ×{r.get('count')}: {r.get('message')}")
    if d.output_path and d.job_dir:
        lines.append(f"output: {Path(d.job_dir) / d.output_path}")
    if d.job_dir:
        lines.append(f"files: {d.job_dir}/ (artifact.json, events.ndjson, logs/worker.log)")
    if d.log_tail:
        lines.append("--- last lines of logs/worker.log ---")
        lines.append(d.log_tail)
    return "\n".join(lines)


@guarded
def cmd_show(args: argparse.Namespace) -> int:
    from ade_engine.services import jobs

    with _ws() as ws:
        d = jobs.show_job(ws, args.job_id)
    emit(args, d, lambda: _show_text(d))
    return 0


@guarded
def cmd_cancel(args: argparse.Namespace) -> int:
    from ade_engine.services import jobs

    with _ws() as ws:
        j = jobs.cancel_job(ws, args.job_id)
    emit(args, j, f"job {j.job_id}: cancelled" if j.status == "cancelled"
         else f"job {j.job_id}: cancel requested; its worker stops it within a second")
    return 0


@guarded
def cmd_retry(args: argparse.Namespace) -> int:
    from ade_engine.services import jobs

    with _ws() as ws:
        res = jobs.retry_job(ws, args.job_id)
    emit(args, res, f"queued job {res.job.job_id} (attempt {res.job.attempt}, retry of {res.job.retry_of_job_id})")
    return 0


@guarded
def cmd_logs(args: argparse.Namespace) -> int:
    from ade_engine.services import jobs

    with _ws() as ws:
        path = jobs.events_path(ws, args.job_id) if args.events else jobs.log_path(ws, args.job_id)
    text = path.read_text(encoding="utf-8", errors="replace")
    if args.tail:
        text = "\n".join(text.splitlines()[-args.tail:]) + "\n"
    if args.json:
        print_json({"path": str(path), "text": text})
    else:
        sys.stdout.write(text)
    return 0


@guarded
def cmd_artifact(args: argparse.Namespace) -> int:
    from ade_engine.services import jobs

    with _ws() as ws:
        path = jobs.artifact_path(ws, args.job_id)
    data = json.loads(path.read_text(encoding="utf-8"))
    print_json(data)
    return 0


@guarded
def cmd_output(args: argparse.Namespace) -> int:
    from ade_engine.services import jobs

    with _ws() as ws:
        path = jobs.output_path(ws, args.job_id)
    if args.copy_to:
        dest = Path(args.copy_to).expanduser()
        if dest.is_dir():
            dest = dest / path.name
        shutil.copyfile(path, dest)
        emit(args, {"path": str(dest)}, str(dest))
    else:
        emit(args, {"path": str(path)}, str(path))
    return 0


@guarded
def cmd_pin(args: argparse.Namespace) -> int:
    from ade_engine.services import jobs

    with _ws() as ws:
        j = jobs.pin_job(ws, args.job_id, True)
    emit(args, j, f"job {j.job_id}: pinned")
    return 0


@guarded
def cmd_unpin(args: argparse.Namespace) -> int:
    from ade_engine.services import jobs

    with _ws() as ws:
        j = jobs.pin_job(ws, args.job_id, False)
    emit(args, j, f"job {j.job_id}: unpinned")
    return 0


@guarded
def cmd_stats(args: argparse.Namespace) -> int:
    from ade_engine.services import jobs

    with _ws() as ws:
        st = jobs.job_stats(ws)

    def ms(v: int | None) -> str:
        return "-" if v is None else f"{v / 1000:.2f}s"

    def text() -> str:
        rows = [(k, v.count, ms(v.avg_ms), ms(v.p50_ms), ms(v.max_ms)) for k, v in st.by_state.items()]
        out = table(rows, ["STATE", "COUNT", "AVG", "P50", "MAX"])
        out += f"\ntotal {st.total} · average queue wait {ms(st.queue_wait_avg_ms)}"
        if st.errors:
            out += "\nerrors: " + ", ".join(f"{k} {v}" for k, v in st.errors.items())
        return out

    emit(args, st, text)
    return 0
