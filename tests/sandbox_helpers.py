"""Run a child Python that confines itself with `confine.apply(...)`, then tries forbidden things.

Each attempt reports "ok" or "<ExceptionName>:<errno>" so tests assert what a job would see. Sockets
are created with `_socket` directly so the kernel barrier (seccomp/Landlock) is tested, not the
`socket.socket` stubs that only give scripts a clear message.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent

CHILD = r'''
import ctypes, errno, json, os, sys
req = json.loads(sys.stdin.readline())
# Import (and prime) all we need first: as another account the interpreter under /root may be unreadable.
import _socket, pwd, socket, subprocess, sysconfig
sysconfig.get_paths()
from ade_engine.runtime import confine, seccomp_filter
seccomp_filter.preload()
if req.get("user"):
    pw = pwd.getpwnam(req["user"])
    os.setgroups([]); os.setgid(pw.pw_gid); os.setuid(pw.pw_uid)
out = {"uid": os.getuid(), "results": {}}
try:
    if req.get("drop_to"):
        confine.drop_privileges(req["drop_to"])
        out["uid"] = os.getuid()
    if req["level"] == "landlock-only":  # to test Landlock's own TCP rules, which seccomp would pre-empt
        out["abi"] = confine.apply_landlock(job_dir=req["job_dir"], config_dir=req["config_dir"],
                                            vendor_dir=None, network=req["network"], extra_read=[req["input_path"]])
    else:
        out["missing"] = confine.apply(req["level"], job_dir=req["job_dir"], config_dir=req["config_dir"],
                                       input_path=req["input_path"], vendor_dir=req.get("vendor_dir"),
                                       network=req["network"])
except confine.SandboxUnavailable as exc:
    out["error"] = {"code": exc.code, "message": exc.message}
    print(json.dumps(out)); sys.exit(0)

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def raw_syscall(nr, *args):
    if libc.syscall(nr, *args) < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))

def write(path):
    with open(path, "w") as f:
        f.write("x")

def read(path):
    with open(path) as f:
        f.read()

def sock(family, type_):
    import _socket
    _socket.socket(family, type_).close()

def tcp_connect(port):
    import _socket
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    try:
        s.connect(("127.0.0.1", port))
    finally:
        s.close()

def socketpair():
    import _socket
    a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    a.close(); b.close()

def subprocess_true():
    import subprocess
    subprocess.run(["/bin/true"], check=True)

def stub_socket():
    import socket
    socket.socket()

def unshare_user():
    if libc.unshare(0x10000000) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))

def io_uring_setup():
    raw_syscall(425, 1, None)  # same number on x86_64 and aarch64; EFAULT when allowed

def exists(path):
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "absent")

ACTIONS = {
    "write": write, "read": read, "listdir": os.listdir, "setsid": lambda: os.setsid(),
    "tcp_connect": tcp_connect, "socketpair": socketpair, "subprocess_true": subprocess_true,
    "stub_socket": stub_socket, "unshare_user": unshare_user, "io_uring_setup": io_uring_setup,
    "exists": exists,
    "udp_socket": lambda: sock(2, 2), "tcp_socket": lambda: sock(2, 1), "unix_socket": lambda: sock(1, 1),
}
for name, action, args in req["attempts"]:
    try:
        ACTIONS[action](*args)
        out["results"][name] = "ok"
    except OSError as exc:
        out["results"][name] = f"{type(exc).__name__}:{errno.errorcode.get(exc.errno, exc.errno)}:{exc}"
print(json.dumps(out))
'''


@dataclass
class JobDirs:
    root: Path
    job_dir: Path
    config_dir: Path
    input_path: Path
    outside: Path  # a sibling directory holding a secret file the job must not read
    secret: Path


def make_job(root: Path) -> JobDirs:
    job = root / "job"
    (job / "config").mkdir(parents=True)
    (job / "inputs").mkdir()
    (job / "tmp").mkdir()
    (job / "config" / "manifest.json").write_text("{}")
    inp = job / "inputs" / "01_data.csv"
    inp.write_text("a,b\n1,2\n")
    outside = root / "data"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text("top secret")
    return JobDirs(root, job, job / "config", inp, outside, secret)


@dataclass
class ChildResult:
    missing: list[str] | None
    error: dict | None
    results: dict[str, str]
    uid: int
    stderr: str = field(repr=False, default="")

    def allowed(self, name: str) -> bool:
        return self.results[name] == "ok"

    def denied_with(self, name: str) -> str:
        """The errno name of a refused attempt ("EPERM", "EACCES", ...); fails when it succeeded."""
        value = self.results[name]
        assert value != "ok", f"{name} was allowed but must be refused"
        return value.split(":")[1]


def run_confined(dirs: JobDirs, level: str, attempts: list[tuple], *, network: bool = False, user: str | None = None,
                 drop_to: str | None = None, prefix: list[str] | None = None, cwd: Path | None = None) -> ChildResult:
    """Spawn the child (optionally under `prefix`, e.g. bwrap), confine it at `level`, run `attempts`
    = [(name, action, args...)] and return what it saw."""
    request = {
        "level": level, "job_dir": str(dirs.job_dir), "config_dir": str(dirs.config_dir),
        "input_path": str(dirs.input_path), "network": network, "user": user, "drop_to": drop_to,
        "attempts": [(a[0], a[1], list(a[2:])) for a in attempts],
    }
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONPATH": str(REPO_ROOT), "HOME": str(dirs.job_dir / "tmp"),
           "TMPDIR": str(dirs.job_dir / "tmp")}
    proc = subprocess.run((prefix or []) + [sys.executable, "-s", "-c", CHILD], input=json.dumps(request) + "\n",
                          capture_output=True, text=True, env=env, cwd=str(cwd or dirs.job_dir), timeout=60)
    assert proc.returncode == 0, f"child failed ({proc.returncode}): {proc.stderr[-2000:]}"
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    return ChildResult(data.get("missing"), data.get("error"), data["results"], data["uid"], proc.stderr)


def world_accessible_root() -> Path:
    """A directory an unprivileged account can reach (pytest's tmp dirs are 0700 under root)."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="ade-sandbox-test-", dir="/tmp"))
    path.chmod(0o777)
    return path


def chmod_tree(path: Path, mode_dir: int = 0o777, mode_file: int = 0o666) -> None:
    for dirpath, dirnames, filenames in os.walk(path):
        os.chmod(dirpath, mode_dir)
        for f in filenames:
            os.chmod(os.path.join(dirpath, f), mode_file)


# ----------------------------------------------------------------------------- the session's job user (conftest)
import sys  # noqa: E402

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
JOB_USER = "nobody"
# Modules whose tests spawn real jobs (through the runtime site); skipped as root without a job interpreter.
JOB_TEST_MODULES = {"test_samples_e2e", "test_cli_run", "test_job_user", "test_job_cancel_crash", "test_job_claims",
                    "test_job_cli_docs", "test_job_lifecycle", "test_job_dir_tampering", "test_permission_model",
                    "test_dependencies_publish", "test_requires_engine", "test_input_reading",
                    "test_concurrent_start", "test_queue_faults", "test_limits"}


def _job_python() -> tuple[str | None, str]:
    """An interpreter of this minor version that JOB_USER can execute (this one first), or (None, why)."""
    from ade_engine.jobs.runtime_site import find_job_python

    found, passed_over = find_job_python(JOB_USER)
    if found:
        return found, ""
    major, minor = sys.version_info[:2]
    return None, (f"running as root, jobs run as {JOB_USER}, and no Python {major}.{minor} it can execute was found "
                  f"({'; '.join(passed_over)}); install python{major}.{minor} (apt-get install python{major}.{minor})")


if IS_ROOT:
    try:
        import pwd

        pwd.getpwnam(JOB_USER)
        JOB_PYTHON, NO_JOB_PYTHON = _job_python()
    except KeyError:
        JOB_PYTHON, NO_JOB_PYTHON = None, f"running as root and there is no {JOB_USER} account to run jobs as"
else:
    JOB_PYTHON, NO_JOB_PYTHON = sys.executable, ""


def job_user_env() -> dict[str, str]:
    """The ADE_* variables a subprocess `ade` needs to run jobs in this session (empty unless root)."""
    if not IS_ROOT:
        return {}
    env = {"ADE_JOB_USER": JOB_USER}
    if JOB_PYTHON and JOB_PYTHON != sys.executable:
        env["ADE_JOB_PYTHON"] = JOB_PYTHON
    return env


def open_for_job_user(path: Path, stop: Path | None = None) -> None:
    """chmod 0711 `path` and its ancestors up to `stop` (root-owned only): the job user may pass through."""
    if not IS_ROOT:
        return
    path = Path(path)
    for p in [path, *path.parents]:
        try:
            st = p.stat()
        except OSError:
            break
        if st.st_uid == 0 and not st.st_mode & 0o001:
            p.chmod((st.st_mode & 0o777) | 0o711)
        if stop is not None and p == stop:
            break


def wait_until(predicate, *, timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll until `predicate()` is truthy; the timeout only bounds a hung test, it asserts nothing timed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")
