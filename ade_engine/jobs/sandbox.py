"""Parent side of the sandbox (jobs.md §6.2): probe what this machine supports, pick the level,
and build the bubblewrap prefix for level `strict`.

The probe really tries each mechanism in a throwaway subprocess (bubblewrap starts a process in
fresh namespaces; Landlock restricts a process; seccomp loads a filter), so a report never claims a
protection the kernel would refuse. It is cached per process; `probe(force_refresh=True)` redoes it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import ade_engine
from ade_engine.runtime.confine import (
    BWRAP_HOSTNAME,
    LEVELS,
    NETWORK_READ_PATHS,
    PROTECTIONS,
    SYSTEM_READ_FILES,
    SandboxUnavailable,
)

__all__ = [
    "LEVELS",
    "Mechanism",
    "SandboxReport",
    "SandboxUnavailable",
    "bwrap_argv",
    "probe",
    "resolve_level",
]

_PROBE_TIMEOUT_S = 30
_BWRAP_INSTALL_FIX = "install bubblewrap: apt-get install bubblewrap (Debian/Ubuntu) or dnf install bubblewrap (Fedora)"
_USERNS_FIX = (
    "let unprivileged users create user namespaces: sysctl -w kernel.unprivileged_userns_clone=1 (Debian), "
    "or on Ubuntu >= 23.10 allow bwrap in AppArmor (sysctl -w kernel.apparmor_restrict_unprivileged_userns=0); "
    "inside a container, run it with user namespaces enabled"
)


@dataclass
class Mechanism:
    """One protection (`bubblewrap`, `landlock`, `seccomp`): does it work here, and if not, the fix."""

    name: str
    available: bool
    detail: str
    fix: str | None = None
    abi: int | None = None  # Landlock only


@dataclass
class LevelStatus:
    available: bool
    missing: list[str]  # protections of `strict` this level does not apply (recorded on the job)
    blocked_by: list[str] = field(default_factory=list)  # mechanisms the level needs that do not work here


@dataclass
class SandboxReport:
    platform: str
    best_level: str
    levels: dict[str, LevelStatus]
    mechanisms: dict[str, Mechanism]
    running_as_root: bool
    problems: list[dict[str, str]]  # {"kind", "what", "fix"}: everything a user should act on

    def available(self, level: str) -> bool:
        return self.levels[level].available

    def missing(self, level: str) -> list[str]:
        return list(self.levels[level].missing)

    def fixes(self) -> dict[str, str]:
        return {m.name: m.fix for m in self.mechanisms.values() if m.fix}

    def to_dict(self) -> dict:
        return asdict(self)


def _platform_missing() -> list[str]:
    # Protections outside Landlock/seccomp/bwrap that some platforms lack (decision 7).
    if sys.platform == "darwin":
        return ["rlimit_as"]
    if sys.platform.startswith("win"):
        return ["rlimit_as", "process_group"]
    return []


def runtime_read_paths(python_executable: str | None = None) -> list[str]:
    """Paths the job's interpreter and engine live in (read-only mounts for `strict`)."""
    import sysconfig

    paths = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        paths.append(sysconfig.get_path(key))
    paths.append(os.path.dirname(os.path.dirname(os.path.abspath(ade_engine.__file__))))
    if python_executable:
        paths.append(os.path.dirname(os.path.realpath(python_executable)))
    return paths


def bwrap_argv(job_dir: str | os.PathLike[str], runtime_paths: Sequence[str | os.PathLike[str]],
               network: bool, *, bwrap: str = "bwrap") -> list[str]:
    """The `bwrap ...` prefix for a `strict` job: fresh namespaces, read-only system and runtime,
    the job dir writable except `config/` and `inputs/`, nothing else of the host (no data dir, no
    /run/user, no home). `runtime_paths` are mounted read-only at their real paths: the interpreter's
    prefixes, `<runtime>` and the `vendor` target (resolved here from `<job_dir>/vendor` if present).

    No `--new-session`: the job must stay in the launcher's process group so that group signals
    (cancel, timeout) reach it; the launcher gives it no controlling terminal.
    """
    job = os.path.realpath(os.fspath(job_dir))
    argv = [bwrap, "--unshare-all"]
    if network:
        argv.append("--share-net")
    argv += ["--die-with-parent", "--cap-drop", "ALL", "--hostname", BWRAP_HOSTNAME, "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            argv += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            argv += ["--ro-bind", top, top]
    etc = list(SYSTEM_READ_FILES) + (list(NETWORK_READ_PATHS) if network else [])
    for path in etc:
        if path.startswith("/etc/"):
            argv += ["--ro-bind-try", path, path]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    mounts: list[str] = []
    for p in list(runtime_paths) + [os.path.join(job, "vendor")]:
        real = os.path.realpath(os.fspath(p))
        if os.path.exists(real) and real not in mounts and not _within(real, "/usr"):
            mounts.append(real)
    kept: list[str] = []
    for real in sorted(mounts, key=len):
        if not _within(real, job) and not any(_within(real, k) for k in kept):
            kept.append(real)
            argv += ["--ro-bind", real, real]
    argv += ["--bind", job, job]
    for sub in ("config", "inputs"):
        path = os.path.join(job, sub)
        if os.path.isdir(path) and not os.path.islink(path):
            argv += ["--ro-bind", path, path]
    argv += ["--chdir", job]
    return argv


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _probe_env() -> dict[str, str]:
    # A scrubbed environment, like a job's, plus the path of this engine so `-m` finds it.
    root = os.path.dirname(os.path.dirname(os.path.abspath(ade_engine.__file__)))
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONPATH": root}


def _start_self_probe(prefix: list[str], cwd: str) -> subprocess.Popen[str] | str:
    """Start `confine --probe` (under `prefix`, e.g. bwrap); the process, or why it could not start."""
    cmd = prefix + [sys.executable, "-s", "-m", "ade_engine.runtime.confine", "--probe"]
    try:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_probe_env(),
                                cwd=cwd, stdin=subprocess.DEVNULL)
    except OSError as exc:
        return str(exc)


def _self_probe_result(proc: subprocess.Popen[str] | str) -> tuple[dict | None, str]:
    """Wait for a probe started by `_start_self_probe`: its JSON report, or (None, why it failed)."""
    if isinstance(proc, str):
        return None, proc
    try:
        out, err_text = proc.communicate(timeout=_PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        proc.communicate()
        return None, str(exc)
    last = out.strip().splitlines()[-1:] or [""]
    try:
        return json.loads(last[0]), ""
    except json.JSONDecodeError:
        err = (err_text.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        return None, err


def _probe_linux(tmp: str) -> dict[str, Mechanism]:
    # The plain probe and the one under bubblewrap are independent processes: run them side by side.
    plain = _start_self_probe([], tmp)
    bwrap = _start_bwrap_probe(tmp)
    result, err = _self_probe_result(plain)
    if result is None:
        ll = Mechanism("landlock", False, f"probe process failed: {err}", "reinstall the engine; see `ade doctor`")
        sc = Mechanism("seccomp", False, f"probe process failed: {err}", "reinstall the engine; see `ade doctor`")
    else:
        abi = int(result.get("landlock_abi") or 0)
        if result.get("landlock_error"):
            ll = Mechanism("landlock", False, result["landlock_error"], _landlock_fix(result["landlock_error"]), abi)
        else:
            tcp = "filesystem and TCP" if abi >= 4 else "filesystem only (TCP rules need ABI 4, Linux >= 6.7)"
            ll = Mechanism("landlock", True, f"Landlock ABI {abi}: {tcp}", None, abi)
        if result.get("seccomp_error"):
            sc = Mechanism("seccomp", False, result["seccomp_error"], _seccomp_fix(result["seccomp_error"]))
        else:
            sc = Mechanism("seccomp", True, "seccomp filters load (pyseccomp + libseccomp)")
    return {"bubblewrap": _probe_bwrap(bwrap, ll, sc), "landlock": ll, "seccomp": sc}


def _landlock_fix(reason: str) -> str:
    if "disabled" in reason:
        return "enable Landlock: add 'landlock' to the lsm= kernel boot parameter and reboot"
    return "kernel without Landlock (needs Linux >= 5.13 with landlock in the LSM list): upgrade the kernel"


def _seccomp_fix(reason: str) -> str:
    if "library" in reason:
        return "install libseccomp: apt-get install libseccomp2 (Debian/Ubuntu) or dnf install libseccomp (Fedora)"
    return "use a kernel built with CONFIG_SECCOMP_FILTER=y"


def _start_bwrap_probe(tmp: str) -> subprocess.Popen[str] | str | None:
    """Start the probe inside a `strict` bubblewrap prefix; None when bwrap is not installed."""
    path = shutil.which("bwrap", path="/usr/bin:/bin:/usr/local/bin")
    if path is None:
        return None
    job = os.path.join(tmp, "job")
    os.makedirs(job, exist_ok=True)
    return _start_self_probe(bwrap_argv(job, runtime_read_paths(sys.executable), network=False, bwrap=path), job)


def _probe_bwrap(started: subprocess.Popen[str] | str | None, ll: Mechanism, sc: Mechanism) -> Mechanism:
    if started is None:
        return Mechanism("bubblewrap", False, "bwrap is not installed", _BWRAP_INSTALL_FIX)
    result, err = _self_probe_result(started)
    if result is None:
        return Mechanism("bubblewrap", False, f"bwrap cannot start a sandboxed process: {err}", _USERNS_FIX)
    assert isinstance(started, subprocess.Popen)  # a start failure came back as (None, why) above
    path = started.args[0]
    inner = []
    if ll.available and result.get("landlock_error"):
        inner.append(f"Landlock fails under bwrap: {result['landlock_error']}")
    if sc.available and result.get("seccomp_error"):
        inner.append(f"seccomp fails under bwrap: {result['seccomp_error']}")
    if inner:
        return Mechanism("bubblewrap", False, "; ".join(inner), "report this with `ade doctor --json` output")
    return Mechanism("bubblewrap", True, f"{path} starts processes in fresh namespaces")


def _build_report(mechanisms: dict[str, Mechanism], running_as_root: bool) -> SandboxReport:
    extra = _platform_missing()
    levels = {}
    for level in LEVELS:
        needs = PROTECTIONS[level]
        blocked = [m for m in needs if not mechanisms[m].available]
        missing = [p for p in PROTECTIONS["strict"] if p not in needs] + extra
        levels[level] = LevelStatus(available=not blocked, missing=missing, blocked_by=blocked)
    best = next(level for level in LEVELS if levels[level].available)
    problems = [{"kind": m.name, "what": f"{m.name}: {m.detail}", "fix": m.fix} for m in mechanisms.values()
                if not m.available and m.fix]
    if running_as_root:
        problems.append({
            "kind": "root",
            "what": "running as root: jobs refuse to run as root (sandbox_unavailable)",
            "fix": "set ADE_JOB_USER to a dedicated unprivileged account that owns the data dir's jobs/, "
                   "or run ADE as a normal user",
        })
    return SandboxReport(platform=sys.platform, best_level=best, levels=levels, mechanisms=mechanisms,
                         running_as_root=running_as_root, problems=problems)


_cache: SandboxReport | None = None
_lock = threading.Lock()


def probe(force_refresh: bool = False) -> SandboxReport:
    """Test each mechanism for real (throwaway subprocesses) and report the levels; cached per process."""
    global _cache
    with _lock:
        if _cache is not None and not force_refresh:
            return _cache
        if sys.platform.startswith("linux"):
            with tempfile.TemporaryDirectory(prefix="ade-sandbox-probe-") as tmp:
                mechanisms = _probe_linux(tmp)
        else:
            why = f"not available on {sys.platform} (Linux only)"
            mechanisms = {name: Mechanism(name, False, why, None) for name in ("bubblewrap", "landlock", "seccomp")}
        root = hasattr(os, "geteuid") and os.geteuid() == 0
        _cache = _build_report(mechanisms, root)
        return _cache


def resolve_level(requested: str, report: SandboxReport, *, job_user: str | None = None) -> str:
    """`ADE_SANDBOX` semantics: `auto` = best available; a named level is used exactly, and must be
    available. Raises SandboxUnavailable otherwise, or when running as root without `ADE_JOB_USER`."""
    name = (requested or "auto").strip().lower()
    if name != "auto" and name not in LEVELS:
        raise SandboxUnavailable(f"ADE_SANDBOX={requested!r} is not a level; use auto, {', '.join(LEVELS)}.")
    if report.running_as_root and not job_user:
        raise SandboxUnavailable(
            "ADE runs as root and ADE_JOB_USER is not set, so no job may run: set ADE_JOB_USER to an "
            "unprivileged account, or run ADE as a normal user.", details={"protection": "privileges"})
    if name == "auto":
        return report.best_level
    status = report.levels[name]
    if not status.available:
        fixes = "; ".join(f"{m}: {report.mechanisms[m].fix or report.mechanisms[m].detail}" for m in status.blocked_by)
        raise SandboxUnavailable(
            f"ADE_SANDBOX={name} is not available on this machine (best available: {report.best_level}); "
            f"missing {', '.join(status.blocked_by)} — {fixes}.",
            details={"level": name, "blocked_by": status.blocked_by, "best_level": report.best_level})
    return name
