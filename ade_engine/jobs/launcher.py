"""Spawn the job process for a staged job dir and watch it until its process group is gone (jobs.md §5.2, §6, §7).

The parent never waits on pipe end-of-file: it waits on the PID with a wall-clock deadline, polls the
group's RSS and the cancel callback, and on timeout/cancel/RSS sends SIGTERM to the group, then SIGKILL
after the grace period. Output is read by one thread (non-blocking, `selectors`), redacted and appended
to `logs/worker.log` up to the cap.

Every signal to the group also goes to the job's escapees (`job_processes`): processes that left the group
(`setsid()`, allowed at `reduced`) but carry the job's marker (`ADE_JOB_ID` in their environment) or hold one
of the job's pipes. When the leader is gone, the group and the escapees are killed and waited for.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ade_engine.jobs.outcome import CAUSE_CANCELLED, CAUSE_MEMORY, CAUSE_TIMEOUT, LaunchOutcome, OperatorLimits

BOOTSTRAP_MODULE = "ade_engine.runtime.bootstrap"
# The real spawn is `<python> -s -S -P -B -X utf8 <runtime>/ade_worker_bootstrap.py` (`runtime_site`).
# Tests may set DEFAULT_COMMAND to run a stand-in instead; it is then used as given (no runtime site).
DEFAULT_COMMAND: tuple[str, ...] | None = None
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENV_FORBIDDEN_PREFIXES = ("ADE_", "PYTHON", "LD_", "DYLD_")
_LINE_WINDOW = 64 * 1024
_POLL_S = 0.1
_GROUP_GONE_WAIT_S = 5.0

EventSink = Callable[[str, dict[str, Any] | None], None]


def build_child_env(job_dir: Path, request: dict[str, Any], manifest_env: dict[str, str] | None = None) -> dict[str, str]:
    """The job process's whole environment (jobs.md §6.2): nothing of the parent's is inherited."""
    tmp = str(Path(job_dir) / "tmp")
    env: dict[str, str] = {}
    for key, value in (manifest_env or {}).items():
        # Static validation refuses these; filtered again so a bad dict can never override ours.
        if _ENV_KEY.match(key) and not key.upper().startswith(_ENV_FORBIDDEN_PREFIXES):
            env[key] = str(value)
    env.update({
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
        "PYTHONHASHSEED": "0",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": tmp,
        "TMPDIR": tmp,
        "ADE_JOB_ID": str(request.get("job_id") or ""),
        "ADE_JOB_DIR": str(job_dir),
        "ADE_TRACE_ID": str(request.get("trace_id") or ""),
        "ADE_NETWORK": "1" if request.get("runtime_network_access") else "0",
    })
    return env


def _manifest_env(request: dict[str, Any], job_dir: Path) -> dict[str, str]:
    path = Path(request.get("config_dir") or job_dir / "config") / "manifest.json"
    try:
        env = json.loads(path.read_text(encoding="utf-8-sig")).get("env") or {}
    except (OSError, ValueError, AttributeError):
        return {}
    return {str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else {}


class _LogSink:
    """Redacted, capped append to `logs/worker.log`."""

    def __init__(self, path: Path, cap_bytes: int, redact: Callable[[str], str]):
        from ade_engine.runtime.jobfiles import open_regular

        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = os.fdopen(open_regular(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT), "ab")
        self._written = os.fstat(self._fh.fileno()).st_size
        self._cap = cap_bytes
        self._redact = redact
        self._lock = threading.Lock()
        self.capped = False

    def redact(self, text: str) -> str:
        return self._redact(text)

    def write(self, text: str) -> None:
        data = self._redact(text).encode("utf-8", "replace")
        with self._lock:
            if self.capped:
                return
            if self._written + len(data) > self._cap:
                note = f"[ade: worker.log reached its cap of {self._cap // (1024 * 1024)} MiB; later output dropped]\n"
                self._fh.write(note.encode())
                self.capped = True
            else:
                self._fh.write(data)
                self._written += len(data)
            self._fh.flush()

    def close(self) -> None:
        with self._lock:
            self._fh.close()


class _OutputPump(threading.Thread):
    """Reads the child's stdout and stderr without ever blocking the waiter; stops when told to."""

    def __init__(self, streams: list[Any], sink: _LogSink, keep: int):
        super().__init__(name="ade-job-output", daemon=True)
        self._sink = sink
        self._keep = max(keep, 1)  # chars carried between windows of an over-long line
        self._sel = selectors.DefaultSelector()
        self._bufs: dict[int, str] = {}
        self._decoders: dict[int, Any] = {}
        import codecs

        for stream in streams:
            fd = stream.fileno()
            os.set_blocking(fd, False)
            self._sel.register(fd, selectors.EVENT_READ)
            self._bufs[fd] = ""
            self._decoders[fd] = codecs.getincrementaldecoder("utf-8")("replace")
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        try:
            while self._sel.get_map():
                events = self._sel.select(timeout=0 if self._halt.is_set() else 0.2)
                if not events and self._halt.is_set():
                    break  # drained what was there; a grandchild may still hold the pipe
                for key, _ in events:
                    self._read(key.fd)
        finally:
            for fd in list(self._bufs):
                if self._bufs[fd]:
                    self._sink.write(self._bufs[fd] + "\n")
                self._bufs[fd] = ""
            self._sel.close()

    def _read(self, fd: int) -> None:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._sel.unregister(fd)
            tail = self._bufs[fd] + self._decoders[fd].decode(b"", final=True)
            if tail:
                self._sink.write(tail + "\n")
            self._bufs[fd] = ""
            return
        buf = self._bufs[fd] + self._decoders[fd].decode(chunk)
        if "\n" in buf:
            head, _, buf = buf.rpartition("\n")
            self._sink.write(head + "\n")
        if len(buf) > _LINE_WINDOW:
            # An over-long line goes out in windows: redact what has arrived, then hold back the last
            # (longest secret - 1) chars, which may be the start of a value whose rest is still coming.
            buf = self._sink.redact(buf)
            carry = self._keep - 1
            cut = len(buf) - carry
            self._sink.write(buf[:cut])
            buf = buf[cut:]
        self._bufs[fd] = buf


def _group_members(pgid: int) -> list[Any]:
    import psutil

    members = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.pid) == pgid:
                members.append(proc)
        except (psutil.Error, ProcessLookupError, PermissionError):
            continue
    return members


def group_rss(pgid: int) -> int:
    """Sum of resident memory of the live processes of a process group, in bytes."""
    import psutil

    total = 0
    for proc in _group_members(pgid):
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _pipe_inodes(streams: list[Any]) -> set[int]:
    inodes = set()
    for stream in streams:
        try:
            inodes.add(os.fstat(stream.fileno()).st_ino)
        except (OSError, ValueError, AttributeError):
            continue
    return inodes


def _holds_pipe(pid: int, inodes: set[int]) -> bool:
    fd_dir = f"/proc/{pid}/fd"
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return False
    for fd in fds:
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
        except OSError:
            continue
        if target.startswith("pipe:[") and int(target[6:-1]) in inodes:
            return True
    return False


def job_processes(job_id: str, *, uid: int | None = None, pipe_inodes: set[int] | None = None) -> list[Any]:
    """Live processes of one job wherever they are: `ADE_JOB_ID=<job_id>` in their environment (every process
    the job starts inherits it unless a script clears it) or one of the job's pipes open. Only processes of
    `uid` (the job account; default: this process's) are looked at: the job cannot become anyone else."""
    import psutil

    uid = os.getuid() if uid is None else uid
    marker = f"ADE_JOB_ID={job_id}".encode() if job_id else None
    me = os.getpid()
    found = []
    for proc in psutil.process_iter(["pid", "uids", "status"]):
        try:
            if proc.pid == me or proc.info["status"] == psutil.STATUS_ZOMBIE or proc.info["uids"].real != uid:
                continue
            hit = False
            if marker is not None:
                with open(f"/proc/{proc.pid}/environ", "rb") as fh:
                    hit = marker in fh.read().split(b"\0")
            if not hit and pipe_inodes:
                hit = _holds_pipe(proc.pid, pipe_inodes)
            if hit:
                found.append(proc)
        except (psutil.Error, OSError, TypeError):
            continue
    return found


def kill_job_processes(job_id: str, *, user: str | None = None, wait_s: float = 5.0) -> int:
    """SIGKILL every live process carrying this job's marker and wait for them (at most `wait_s`); returns how
    many there were. For a job whose worker died: the parent-death signal ends the job process, not the
    children it started, in its group or out of it. `user` is the job account (None: this process's)."""
    if not job_id:
        return 0
    procs = job_processes(job_id, uid=_uid_of(user))
    _signal_all(procs, signal.SIGKILL)
    deadline = time.monotonic() + wait_s
    while any(_alive(p) for p in procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    return len(procs)


def _signal_all(procs: list[Any], sig: int) -> None:
    for proc in procs:
        try:
            proc.send_signal(sig)
        except Exception:  # psutil.Error: gone or not ours
            continue


def launch(
    job_dir: str | Path,
    request: dict[str, Any],
    secrets: dict[str, str] | None = None,
    *,
    limits: OperatorLimits | None = None,
    on_event: EventSink | None = None,
    cancel_check: Callable[[], Any] | None = None,
    manifest_env: dict[str, str] | None = None,
    command: list[str] | tuple[str, ...] | None = None,
    settings: Any = None,
    job_user: str | None = None,
) -> LaunchOutcome:
    """Run the job process of a staged job dir to its end; blocks until its process group is gone.

    `request["limits"]` gives timeout/memory; `limits` gives grace, log cap and RSS polling. `cancel_check()`
    is polled about ten times a second: a truthy return cancels (a string is the `cancel.requested` source).
    `manifest_env` defaults to `env` of `config/manifest.json`. `command` replaces the bootstrap (tests).
    `settings` (default: `load_settings()`) gives the data dir (runtime site), `ADE_JOB_PYTHON` and, when
    running as root, `ADE_JOB_USER`: as root without one nothing is spawned (`SandboxUnavailable`, decision 11).
    `job_user` applies a job user to a custom `command` (tests). Raises `AdeError` before spawning when the
    runtime or the job user's access is not usable; job failures are reported in the outcome.
    Must be called from a thread that outlives the job (the child's parent-death signal is tied to it).
    """
    from ade_engine.runtime.redact import Redactor

    job_dir = Path(job_dir).resolve()
    limits = limits or OperatorLimits()
    job_limits = dict(request.get("limits") or {})
    timeout_s = float(job_limits.get("timeout_s") or limits.timeout_s)
    memory_mb = int(job_limits.get("memory_mb") or limits.memory_mb)
    secrets = dict(secrets or {})
    redact = Redactor(secrets)
    emit = _event_emitter(job_dir, request, on_event)

    env = build_child_env(job_dir, request, manifest_env if manifest_env is not None else _manifest_env(request, job_dir))
    (job_dir / "tmp").mkdir(mode=0o700, exist_ok=True)
    sink = _LogSink(job_dir / "logs" / "worker.log", limits.log_mb * 1024 * 1024, redact)
    command = command or DEFAULT_COMMAND
    if command is None:
        argv, job_user, popen_user = _spawn_plan(job_dir, request, settings)
    else:
        argv, popen_user = list(command), None
    from ade_engine.jobs import permissions

    handover = permissions.hand_over(job_dir, job_user) if job_user else permissions.snapshot(job_dir)

    emit("start", None)
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv, cwd=job_dir, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, close_fds=True, **_popen_identity(popen_user),
        )
    except OSError as exc:
        sink.close()
        permissions.reclaim(job_dir)
        return LaunchOutcome(pid=None, pgid=None, exit_code=None, signal=None, cause=None,
                             spawn_error=f"cannot start the job process: {exc}")
    pgid = proc.pid  # start_new_session: the child leads its own session and group
    job_id = str(request.get("job_id") or "")
    job_uid = _uid_of(popen_user or job_user)
    inodes = _pipe_inodes([proc.stdin, proc.stdout, proc.stderr])

    def sweep(sig: int) -> list[Any]:
        """Signal the group and every escapee of it; returns the escapees found."""
        _killpg(pgid, sig)
        escapees = job_processes(job_id, uid=job_uid, pipe_inodes=inodes)
        _signal_all(escapees, sig)
        return escapees

    leader = _process(proc.pid)
    pump = _OutputPump([proc.stdout, proc.stderr], sink, keep=redact.longest_form)
    pump.start()
    emit("worker.spawn", {
        "pid": proc.pid, "pgid": pgid, "timeout_s": int(timeout_s),
        "cpu_seconds": job_limits.get("cpu_seconds"), "memory_mb": memory_mb,
        "network": bool(request.get("runtime_network_access")),
    })
    if secrets:
        emit("secrets.injected", {"names": sorted(secrets)})

    line = json.dumps({**request, "job_user": job_user or None, "secrets": secrets}, ensure_ascii=False) + "\n"
    try:
        proc.stdin.write(line.encode("utf-8"))
        proc.stdin.flush()  # the pipe stays open: its end-of-file is the child's lifeline
    except (BrokenPipeError, OSError):
        pass  # the child died before reading; its exit status tells the rest
    del line

    cause: str | None = None
    cancel_source: str | None = None
    term_at: float | None = None
    killed = False
    peak_rss = 0
    cpu_used: float | None = None
    next_rss = t0
    deadline = t0 + timeout_s
    rss_limit = memory_mb * 1024 * 1024 * 1.10

    def stop(why: str) -> None:
        nonlocal cause, term_at
        cause = why
        term_at = time.monotonic()
        sweep(signal.SIGTERM)

    try:
        while True:
            try:
                proc.wait(timeout=_POLL_S)
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if cause is None:
                if now >= deadline:
                    emit("worker.timeout", {"timeout_s": int(timeout_s)})
                    stop(CAUSE_TIMEOUT)
                elif cancel_check is not None and (wanted := cancel_check()):
                    cancel_source = wanted if isinstance(wanted, str) else "user"
                    emit("cancel.requested", {"source": cancel_source})
                    stop(CAUSE_CANCELLED)
                elif now >= next_rss:
                    next_rss = now + limits.rss_poll_s
                    cpu_used = _cpu_seconds(leader, cpu_used)
                    rss = group_rss(pgid)
                    peak_rss = max(peak_rss, rss)
                    if rss > rss_limit:
                        stop(CAUSE_MEMORY)
            elif not killed and term_at is not None and now >= term_at + limits.grace_s:
                sweep(signal.SIGKILL)
                killed = True
    except BaseException:
        # The caller's callback raised, or we were interrupted: the job must not outlive this call.
        sweep(signal.SIGKILL)
        proc.wait()
        _close_all(proc, pump, sink)
        permissions.reclaim(job_dir)
        raise

    # The leader is gone; nothing of the job may outlive it (a `sleep 100 &` grandchild, a `setsid()` escapee).
    escapees = sweep(signal.SIGKILL)
    gone_by = time.monotonic() + _GROUP_GONE_WAIT_S
    while time.monotonic() < gone_by:
        escapees = [p for p in escapees if _alive(p)]
        if not escapees and not _group_members(pgid):
            break
        time.sleep(0.05)
        escapees = escapees or sweep(signal.SIGKILL)
    _close_all(proc, pump, sink)
    # Before anything in the job dir is read or written: it is ADE's again, then checked for swapped entries.
    permissions.reclaim(job_dir)
    tampered = permissions.inspect(job_dir, handover)

    rc = proc.returncode
    outcome = LaunchOutcome(
        pid=proc.pid, pgid=pgid,
        exit_code=rc if rc >= 0 else None,
        signal=-rc if rc < 0 else None,
        cause=cause, cancel_source=cancel_source,
        timed_out=cause == CAUSE_TIMEOUT,
        duration_ms=int((time.monotonic() - t0) * 1000),
        log_capped=sink.capped,
        peak_rss_mb=round(peak_rss / (1024 * 1024), 1),
        tampered=tampered,
        cpu_seconds_used=cpu_used,
    )
    emit("worker.exit", {"exit_code": outcome.exit_code, "signal": outcome.signal, "timed_out": outcome.timed_out})
    return outcome


def _uid_of(user: str | None) -> int:
    if not user:
        return os.getuid()
    import pwd

    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return os.getuid()


def _process(pid: int) -> Any:
    import psutil

    try:
        return psutil.Process(pid)
    except psutil.Error:
        return None


def _alive(proc: Any) -> bool:
    import psutil

    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _cpu_seconds(leader: Any, last: float | None) -> float | None:
    """The job process's own CPU time (what RLIMIT_CPU counts), or the last reading once it is gone."""
    if leader is None:
        return last
    try:
        times = leader.cpu_times()
    except Exception:  # psutil.Error: exited between polls
        return last
    return times.user + times.system


def _close_all(proc: subprocess.Popen, pump: _OutputPump, sink: _LogSink) -> None:
    try:
        proc.stdin.close()
    except OSError:
        pass
    pump.stop()
    pump.join(timeout=2.0)
    if not pump.is_alive():  # else a grandchild that escaped the group still holds a pipe: leave it
        for stream in (proc.stdout, proc.stderr):
            try:
                stream.close()
            except OSError:
                pass
    sink.close()


def _event_emitter(job_dir: Path, request: dict[str, Any], on_event: EventSink | None) -> EventSink:
    """Parent events go to `events.ndjson` (writer `parent`) and to the caller's callback."""
    from ade_engine.runtime.events import EventLog

    log = EventLog(job_dir / "events.ndjson", request.get("job_id"), int(request.get("attempt") or 1), "parent")

    def emit(event: str, detail: dict[str, Any] | None) -> None:
        log.emit(event, state="running", detail=detail)
        if on_event is not None:
            on_event(event, detail)

    return emit


# ----------------------------------------------------------------------------- runtime site and job user
def _spawn_plan(job_dir: Path, request: dict[str, Any], settings: Any) -> tuple[list[str], str | None, str | None]:
    """(argv, job user for the stdin line, account to start the process as) for the real bootstrap."""
    from ade_engine.jobs import runtime_site
    from ade_engine.runtime.confine import SandboxUnavailable

    if settings is None:
        from ade_engine.settings import load_settings

        settings = load_settings()
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    job_user = getattr(settings, "job_user", None) if root else None
    if root and not job_user:
        raise SandboxUnavailable(
            "ADE runs as root and ADE_JOB_USER is not set, so no job may run: set ADE_JOB_USER to an "
            "unprivileged account, or run ADE as a normal user.", details={"protection": "privileges"})
    python = str(getattr(settings, "job_python", None) or sys.executable)
    runtime = runtime_site.ensure_runtime(settings.data_dir)
    info = runtime_site.interpreter_info(python)
    if info.get("error"):
        raise runtime_site.interpreter_error(python, info["error"])
    if tuple(info["version"][:2]) != tuple(sys.version_info[:2]):
        raise runtime_site.interpreter_error(
            python, f"it is Python {'.'.join(map(str, info['version'][:2]))}, but the job runtime holds modules "
                    f"built for Python {sys.version_info[0]}.{sys.version_info[1]}")
    if job_user:
        checks = [(python, "x"), (str(runtime / runtime_site.BOOTSTRAP_NAME), "r"), (str(job_dir.parent), "x")]
        vendor = job_dir / "vendor"
        if vendor.exists():
            checks.append((os.path.realpath(vendor), "rx"))
        for path, need in checks:
            problem = runtime_site.unreachable_for(job_user, path, need=need)
            if problem:
                fix = ("set ADE_JOB_PYTHON to a Python the account can run, of the same minor version "
                       f"(e.g. /usr/bin/python{sys.version_info[0]}.{sys.version_info[1]})") if path == python else (
                       f"let {job_user} traverse the directories above it (chmod o+x), or move ADE_DATA_DIR / --out")
                raise SandboxUnavailable(f"ADE_JOB_USER={job_user} cannot run this job: {problem}; {fix}.",
                                         details={"protection": "privileges", "path": path})
    argv = runtime_site.spawn_argv(python, runtime)
    popen_user = None
    if request.get("sandbox_level") == "strict":
        from ade_engine.jobs.sandbox import bwrap_argv

        # The interpreter as named (a venv's `bin/python` is a link to the base interpreter, whose folders are in
        # `paths`): its folder's parent holds the venv's `pyvenv.cfg`, which Python reads at start-up.
        bindir = os.path.dirname(os.path.abspath(python))
        venv = os.path.dirname(bindir)
        named = venv if os.path.isfile(os.path.join(venv, "pyvenv.cfg")) else bindir
        mounts = [str(runtime), *info.get("paths", []), named]
        argv = bwrap_argv(job_dir, mounts, bool(request.get("runtime_network_access"))) + argv
        # A user namespace made by root cannot switch to another uid inside: bubblewrap itself runs as the job user.
        popen_user = job_user
    return argv, job_user, popen_user


def _popen_identity(user: str | None) -> dict[str, Any]:
    if not user:
        return {}
    import pwd

    pw = pwd.getpwnam(user)
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
