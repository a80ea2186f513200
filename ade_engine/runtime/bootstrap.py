"""Job-process entry point: `python -s -B -X utf8 -m ade_engine.runtime.bootstrap` with cwd = the job dir.

Start-up order (jobs.md §5.3), all before any package code is imported:
1. umask 077, RLIMIT_CORE 0, SIGXFSZ ignored; read ONE JSON line from stdin (run request + `secrets`);
   the other resource limits come from that line, so they are applied right after reading it.
2. Signal handlers: SIGTERM → cancel flag, SIGXCPU → `cpu_limit`.
3. Lifeline: a thread that exits the process when stdin reaches end-of-file (parent gone), plus the Linux
   parent-death signal and child-subreaper: orphaned descendants (a `setsid()` child, a double-forked
   daemon) re-parent to this process, which kills its whole tree on SIGTERM and before it exits.
4. Confinement (`runtime.confine`) at the chosen level; network stubs when network is off.
5. stdout/stderr through a secret-redacting writer.
6. `run_pipeline`, `result.json` (atomic), exit code: 0 succeeded · 1 handled failure · 2 `config_invalid` ·
   3 cancelled · 4 limit (`memory_limit`, `cpu_limit`, `file_size_limit`). Anything else is a crash.

The parent runs `<python> -s -S -P -B -X utf8 <runtime>/ade_worker_bootstrap.py` (`jobs.runtime_site`), which
puts only stdlib + `<runtime>/site` + `vendor/` + `config/` on `sys.path` and calls `main()`.

Privileges (decision 11): when the stdin line names `job_user` and this process runs as root, it switches to
that account right after reading the line, before anything else is imported or confined, and then sets
RLIMIT_NPROC (meaningful only for a dedicated uid). The parent refuses to spawn as root without a job user.

Redaction uses `runtime.redact.Redactor` (the parent filters `logs/worker.log` with the same class).
"""

from __future__ import annotations

import errno
import json
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote, quote_plus

from ade_engine.runtime import limits as limit_messages
from ade_engine.runtime.atomic import save_json_atomic
from ade_engine.runtime.redact import Redactor

RESULT_SCHEMA = "ade.run_result/v1"
EXIT_SUCCEEDED, EXIT_FAILED, EXIT_CONFIG, EXIT_CANCELLED, EXIT_LIMIT = 0, 1, 2, 3, 4
LIMIT_CODES = ("memory_limit", "cpu_limit", "file_size_limit")
MAX_STDIN_LINE = 16 * 1024 * 1024
# Parent gone (stdin end-of-file): time for the pipeline to notice the cancel flag before a hard exit. Short:
# where the parent-death signal does not apply (bubblewrap's namespace, macOS) this is how long a job outlives
# a killed worker.
LIFELINE_GRACE_S = 0.5
NETWORK_OFF_MESSAGE = "network access is disabled for this job"
MIB = 1024 * 1024


# ----------------------------------------------------------------------------- redaction
class RedactingWriter:
    """A text stream that redacts before passing text on (line-buffered so values are not split)."""

    def __init__(self, stream: Any, redact: Redactor, keep: int = 1):
        self._stream = stream
        self._redact = redact
        self._carry = max(keep - 1, 0)  # chars held back from an over-long line: a value may continue
        self._buf = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._buf += text
            if "\n" in self._buf:
                head, _, self._buf = self._buf.rpartition("\n")
                self._stream.write(self._redact(head + "\n"))
                self._stream.flush()
            elif len(self._buf) > 65536:
                text = self._redact(self._buf)
                cut = len(text) - self._carry
                self._stream.write(text[:cut])
                self._buf = text[cut:]
        return len(text)

    def _flush_locked(self) -> None:
        if self._buf:
            self._stream.write(self._redact(self._buf))
            self._buf = ""
        self._stream.flush()

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", "utf-8")

    def writable(self) -> bool:
        return True


# ----------------------------------------------------------------------------- limits
def _set_limit(resource_mod: Any, which: int, soft: int, hard: int | None = None) -> bool:
    hard = soft if hard is None else hard
    try:
        _cur_soft, cur_hard = resource_mod.getrlimit(which)
        if cur_hard != resource_mod.RLIM_INFINITY:
            hard = min(hard, cur_hard)
            soft = min(soft, hard)
        resource_mod.setrlimit(which, (soft, hard))
        return True
    except (ValueError, OSError):
        return False


def apply_early_limits() -> None:
    """What needs no run request: umask 077, no core files, SIGXFSZ ignored (writes fail with EFBIG)."""
    os.umask(0o077)
    try:
        import resource
    except ImportError:  # not POSIX
        return
    _set_limit(resource, resource.RLIMIT_CORE, 0)
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def apply_limits(limits: dict[str, Any]) -> list[str]:
    """Apply RLIMIT_AS/CPU/FSIZE/NOFILE from the run request's `limits`; return the ones that failed."""
    try:
        import resource
    except ImportError:
        return ["rlimit_as", "rlimit_cpu", "rlimit_fsize", "rlimit_nofile"]
    missing = []
    memory_mb = limits.get("memory_mb")
    if memory_mb and not _set_limit(resource, resource.RLIMIT_AS, int(memory_mb) * MIB):
        missing.append("rlimit_as")
    cpu = limits.get("cpu_seconds")
    if cpu and not _set_limit(resource, resource.RLIMIT_CPU, int(cpu), int(cpu) + 5):
        missing.append("rlimit_cpu")
    fsize = limits.get("fsize_mb")
    if fsize and not _set_limit(resource, resource.RLIMIT_FSIZE, int(fsize) * MIB):
        missing.append("rlimit_fsize")
    nofile = limits.get("nofile")
    if nofile and not _set_limit(resource, resource.RLIMIT_NOFILE, int(nofile)):
        missing.append("rlimit_nofile")
    return missing


# ----------------------------------------------------------------------------- stdin and lifeline
def read_request_line(fd: int = 0) -> dict[str, Any]:
    """Read exactly one line from fd 0 without buffering past it (the rest of stdin is the lifeline)."""
    chunks: list[bytes] = []
    total = 0
    while True:
        byte = os.read(fd, 1)
        if not byte or byte == b"\n":
            break
        chunks.append(byte)
        total += 1
        if total > MAX_STDIN_LINE:
            raise ValueError("run request on stdin is larger than 16 MiB")
    if not chunks:
        raise ValueError("no run request on stdin")
    data = json.loads(b"".join(chunks).decode("utf-8"))
    if not isinstance(data, dict):
        raise ValueError("run request on stdin is not a JSON object")
    return data


def start_lifeline(cancel: threading.Event, *, fd: int = 0, grace_s: float = LIFELINE_GRACE_S,
                   parent: int | None = None) -> threading.Thread:
    """Exit when the parent is gone: stdin EOF → cancel, then hard exit after a short grace.

    `parent` is the parent pid seen when the process started: if it has changed by the time the death
    signal is armed, the parent died in between and the process exits at once."""

    def watch() -> None:
        try:
            while os.read(fd, 4096):
                pass
        except OSError:
            pass
        cancel.set()
        time.sleep(grace_s)
        end_descendants()
        os._exit(EXIT_CANCELLED)

    thread = threading.Thread(target=watch, name="ade-lifeline", daemon=True)
    thread.start()
    _linux_parent_death(os.getppid() if parent is None else parent)
    return thread


# ----------------------------------------------------------------------------- descendants
def _children() -> list[int]:
    """This process's children, all threads' (Linux `/proc/self/task/*/children`; readable under Landlock)."""
    pids: list[int] = []
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return pids
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/children", encoding="ascii") as fh:
                pids.extend(int(p) for p in fh.read().split())
        except (OSError, ValueError):
            continue
    return pids


def end_descendants(*, budget_s: float = 1.0) -> int:
    """Kill and reap every descendant of this process; returns how many were killed.

    The process is the child subreaper of its tree, so an orphan (a `setsid()` child whose parent exited, a
    double-forked daemon) is re-parented to it rather than to init: killing the children, reaping them and
    looking again reaches every generation. Runs when no package code runs any more (or the job is ending)."""
    killed = 0
    deadline = time.monotonic() + budget_s
    while True:
        kids = [pid for pid in _children() if pid != os.getpid()]
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        while True:  # reap what has died; a killed parent's children re-parent to us as it goes
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        if not kids or time.monotonic() > deadline:
            return killed
        time.sleep(0.005)


def _linux_parent_death(parent: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    # `parent` was read at start-up: under bubblewrap's PID namespace it is 1, so compare, don't test for 1.
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig, pr_set_child_subreaper = 1, 36
        libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
        libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(EXIT_CANCELLED)


# ----------------------------------------------------------------------------- network stubs
def disable_network() -> None:
    """Give scripts a clear message when network is off (a contract, not the barrier: seccomp is)."""
    try:
        from ade_engine.runtime.confine import install_network_stubs
    except ImportError:
        pass
    else:
        install_network_stubs()
        return
    import socket

    def refuse(*_a: Any, **_k: Any) -> Any:
        raise PermissionError(NETWORK_OFF_MESSAGE)

    class NoNetworkSocket(socket.socket):  # keeps isinstance() checks in libraries working
        def __init__(self, *_a: Any, **_k: Any) -> None:
            raise PermissionError(NETWORK_OFF_MESSAGE)

    socket.socket = NoNetworkSocket  # type: ignore[misc]
    socket.create_connection = refuse  # type: ignore[assignment]
    socket.socketpair = refuse  # type: ignore[assignment]


# ----------------------------------------------------------------------------- result
def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    save_json_atomic(path, data, pretty=False)


def make_result(status: str, *, code: str | None = None, message: str = "", stage: str = "start",
                started: float | None = None, stats: dict[str, int] | None = None) -> dict[str, Any]:
    error = None if code is None else {"code": code, "message": message[:400], "stage": stage}
    return {
        "schema": RESULT_SCHEMA,
        "status": status,
        "error": error,
        "stats": stats or {"rows_written": 0, "tables": 0, "issues_found": 0},
        "duration_ms": int((time.monotonic() - started) * 1000) if started is not None else 0,
    }


def exit_code_for(result: dict[str, Any]) -> int:
    status = result.get("status")
    if status == "succeeded":
        return EXIT_SUCCEEDED
    if status == "cancelled":
        return EXIT_CANCELLED
    code = (result.get("error") or {}).get("code")
    if code in LIMIT_CODES:
        return EXIT_LIMIT
    if code == "config_invalid":
        return EXIT_CONFIG
    return EXIT_FAILED


def _redact_result(result: dict[str, Any], redact: Redactor) -> dict[str, Any]:
    if redact and result.get("error"):
        err = dict(result["error"])
        err["message"] = redact(str(err.get("message", "")))[:400]
        result = {**result, "error": err}
    return result


# ----------------------------------------------------------------------------- sandbox
def apply_sandbox(request: dict[str, Any], job_dir: Path) -> tuple[str, list[str]]:
    """Confine at the chosen level; return (level, missing protections). Raises SandboxUnavailable-like errors."""
    level = request.get("sandbox_level") or "reduced"
    network = bool(request.get("runtime_network_access"))
    try:
        from ade_engine.runtime import confine
    except ModuleNotFoundError as exc:
        if exc.name != "ade_engine.runtime.confine":
            raise
        if level != "reduced":
            raise _SandboxFailure(f"sandbox level {level!r} was chosen but this engine has no confinement module")
        return level, ["bubblewrap", "landlock", "seccomp"]
    input_path = (request.get("input") or {}).get("path")
    try:
        missing = confine.apply(
            level,
            job_dir=job_dir,
            config_dir=Path(request.get("config_dir") or job_dir / "config"),
            input_path=Path(input_path) if input_path else None,
            network=network,
        )
    except getattr(confine, "SandboxUnavailable", _SandboxFailure) as exc:
        raise _SandboxFailure(str(exc)) from None
    return level, list(missing or [])


class _SandboxFailure(Exception):
    pass


CPU_GRACE_S = 2.0  # < the 5 s between RLIMIT_CPU soft and hard


def _cpu_hard_stop(job_dir: Path, request: dict[str, Any], redact: Redactor, started: float) -> None:
    message = limit_messages.cpu_message(request.get("limits") or {}) + " (the job did not stop by itself)"
    result = make_result("failed", code="cpu_limit", started=started, message=message)
    try:
        write_json_atomic(job_dir / "result.json", _redact_result(result, redact))
        end_descendants()
    finally:
        os._exit(EXIT_LIMIT)


NPROC_LIMIT = 512  # processes + threads of the job user, all its jobs together


def become_job_user(user: str | None) -> None:
    """As root with a job user: drop to it for good, then cap its process count. Otherwise nothing."""
    if not user or not hasattr(os, "geteuid"):
        return
    if os.geteuid() == 0:
        from ade_engine.runtime.confine import SandboxUnavailable, drop_privileges

        try:
            drop_privileges(user)
        except SandboxUnavailable as exc:
            raise _SandboxFailure(exc.reason) from None
    import resource

    _set_limit(resource, resource.RLIMIT_NPROC, NPROC_LIMIT)


# ----------------------------------------------------------------------------- main
def _emit(job_dir: Path, request: dict[str, Any], event: str, detail: dict[str, Any]) -> None:
    try:
        from ade_engine.runtime.events import EventLog

        log = EventLog(job_dir / "events.ndjson", request.get("job_id"), int(request.get("attempt") or 1), "job")
        log.emit(event, state="running", detail=detail)
    except Exception as exc:  # events are diagnostics; never fail a job for them
        print(f"ade: could not write event {event}: {exc}", file=sys.stderr)


def _run(request: dict[str, Any], secrets: dict[str, str], job_dir: Path, cancel: threading.Event,
         cpu_exceeded: threading.Event, started: float) -> dict[str, Any]:
    from ade_engine.runtime.pipeline import run_pipeline

    limits = request.get("limits") or {}
    try:
        result = run_pipeline(request, secrets, job_dir, cancel)
    except MemoryError:
        return make_result("failed", code="memory_limit", started=started,
                           message=limit_messages.memory_message(limits))
    except OSError as exc:
        if exc.errno != errno.EFBIG:
            raise
        return make_result("failed", code="file_size_limit", started=started,
                           message=limit_messages.file_size_message(job_dir, limits, exc))
    if hasattr(result, "model_dump"):
        result = result.model_dump(mode="json")
    if not isinstance(result, dict):
        return make_result("failed", code="pipeline_error", started=started,
                           message=f"run_pipeline returned {type(result).__name__}, not a result dict")
    result = dict(result)
    result.setdefault("schema", RESULT_SCHEMA)
    if cpu_exceeded.is_set() and result.get("status") != "succeeded":
        result["status"] = "failed"
        result["error"] = {"code": "cpu_limit", "stage": (result.get("error") or {}).get("stage", "start"),
                           "message": limit_messages.cpu_message(limits)}
    return result


def main() -> int:
    started = time.monotonic()
    parent = os.getppid()  # before anything can block: a parent that dies after this is noticed
    apply_early_limits()
    job_dir = Path.cwd()
    try:
        doc = read_request_line()
    except (ValueError, OSError) as exc:
        print(f"ade bootstrap: {exc}", file=sys.stderr)
        write_json_atomic(job_dir / "result.json",
                          make_result("failed", code="pipeline_error", message=f"bad run request: {exc}", started=started))
        return EXIT_FAILED
    secrets = {str(k): str(v) for k, v in (doc.pop("secrets", None) or {}).items()}
    request = doc
    job_dir = Path(request.get("job_dir") or job_dir)
    redact = Redactor(secrets)
    try:
        become_job_user(request.pop("job_user", None))
    except _SandboxFailure as exc:
        write_json_atomic(job_dir / "result.json", _redact_result(
            make_result("failed", code="sandbox_unavailable", message=str(exc), started=started), redact))
        return EXIT_FAILED
    missing = apply_limits(request.get("limits") or {})

    cancel = threading.Event()
    cpu_exceeded = threading.Event()

    def on_term(*_: Any) -> None:
        if cancel.is_set():
            return
        cancel.set()
        # Descendants outside the process group (a `setsid()` child) never get the parent's SIGTERM.
        threading.Thread(target=end_descendants, name="ade-end-descendants", daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    if hasattr(signal, "SIGXCPU"):
        def on_xcpu(*_: Any) -> None:
            if cpu_exceeded.is_set():
                return
            cpu_exceeded.set()
            cancel.set()
            # A script stuck in a loop never sees the cancel flag: record cpu_limit before the hard limit kills us.
            timer = threading.Timer(CPU_GRACE_S, _cpu_hard_stop, (job_dir, request, redact, started))
            timer.daemon = True
            timer.start()

        signal.signal(signal.SIGXCPU, on_xcpu)
    start_lifeline(cancel, parent=parent)

    def finish(result: dict[str, Any]) -> int:
        result = _redact_result(result, redact)
        write_json_atomic(job_dir / "result.json", result)
        return exit_code_for(result)

    try:
        level, sandbox_missing = apply_sandbox(request, job_dir)
    except _SandboxFailure as exc:
        return finish(make_result("failed", code="sandbox_unavailable", message=str(exc), started=started))
    if not request.get("runtime_network_access"):
        disable_network()
    request["sandbox_level"] = level
    request["sandbox_missing"] = sorted(set(sandbox_missing) | set(missing))

    sys.stdout.flush()
    sys.stderr.flush()
    if redact:
        keep = max(len(f) for v in secrets.values() for f in (v, quote(v, safe=""), quote_plus(v, safe="")))
        sys.stdout = RedactingWriter(sys.stdout, redact, keep)  # type: ignore[assignment]
        sys.stderr = RedactingWriter(sys.stderr, redact, keep)  # type: ignore[assignment]

    from ade_engine import ENGINE_VERSION

    _emit(job_dir, request, "worker.ready", {
        "python_version": ".".join(map(str, sys.version_info[:3])),
        "engine_version": ENGINE_VERSION,
        "sandbox_level": level,
    })
    try:
        result = _run(request, secrets, job_dir, cancel, cpu_exceeded, started)
    except MemoryError:
        result = make_result("failed", code="memory_limit", started=started,
                             message=limit_messages.memory_message(request.get("limits") or {}))
    except Exception as exc:  # an engine bug: report it, never a silent crash
        traceback.print_exc()
        code = getattr(exc, "code", None)
        if isinstance(code, str):  # an AdeError keeps its code (e.g. config_invalid) and its message
            message = str(exc)
        else:
            code, message = "pipeline_error", f"{type(exc).__name__}: {exc}"
        result = make_result("failed", code=code, message=message, started=started)
    rc = finish(result)
    end_descendants()  # nothing the job started outlives it, in or out of its process group
    sys.stdout.flush()
    sys.stderr.flush()
    return rc


if __name__ == "__main__":
    sys.exit(main())
