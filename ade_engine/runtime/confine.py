"""In-child confinement of the job process (jobs.md §5.3 step 4, §6.2).

The bootstrap calls `apply(level, ...)` after limits, the stdin line and the lifeline, and before it
imports any package code. Imports only the stdlib, ctypes, pyseccomp and `ade_engine.errors`.

Levels (jobs.md §6.2): `strict` = already under bubblewrap (the launcher wraps the process with
`ade_engine.jobs.sandbox.bwrap_argv`) + Landlock + seccomp; `standard` = Landlock + seccomp;
`basic` = seccomp; `reduced` = nothing here (rlimits, lifeline, watchdog are done elsewhere).
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Sequence
from typing import Union

StrPath = Union[str, "os.PathLike[str]"]

from ade_engine.errors import AdeError
from ade_engine.runtime import landlock, seccomp_filter

LEVELS = ("strict", "standard", "basic", "reduced")  # strongest first
PROTECTIONS = {
    "strict": ("bubblewrap", "landlock", "seccomp"),
    "standard": ("landlock", "seccomp"),
    "basic": ("seccomp",),
    "reduced": (),
}
# bubblewrap sets this hostname (it has its own UTS namespace): how the child knows it is wrapped.
BWRAP_HOSTNAME = "ade-job"
NETWORK_DISABLED_MESSAGE = "network access is disabled for this job"

_SYSTEM_READ_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin")
# mimetypes (used by openpyxl) opens /etc/mime.types when it exists and does not expect EACCES.
SYSTEM_READ_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/mime.types", "/dev/urandom", "/dev/random", "/dev/zero")
NETWORK_READ_PATHS = (
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/host.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/ssl",
    "/etc/pki",
    "/etc/ca-certificates",
)


class SandboxUnavailable(AdeError):
    """The chosen sandbox level cannot be applied here (jobs.md §8 `sandbox_unavailable`)."""

    code = "sandbox_unavailable"

    HINT = "Run `ade doctor`; fix what it names or change ADE_SANDBOX."

    def __init__(self, message: str, *, details: dict | None = None):
        self.reason = message  # without the hint, for `ade doctor` itself
        super().__init__(f"{message} {self.HINT}", details=details)


def missing_protections(level: str) -> list[str]:
    """The protections of `strict` that `level` does not apply, e.g. ["bubblewrap"] for standard."""
    have = PROTECTIONS[level]
    return [p for p in PROTECTIONS["strict"] if p not in have]


def read_only_paths(*, config_dir: StrPath, vendor_dir: StrPath | None, network: bool,
                    extra_read: Sequence[StrPath] = ()) -> list[str]:
    """What the job may read (besides its job dir): interpreter, engine, system libraries, package."""
    import sysconfig

    import ade_engine

    # Not the interpreter prefixes nor site-packages: they hold the rest of the application (database,
    # key store, UI). The stdlib and the sys.path the bootstrap built are what a job may import.
    paths: list[str] = []
    for key in ("stdlib", "platstdlib"):
        try:
            paths.append(sysconfig.get_path(key))
        except KeyError:
            continue
    # The bootstrap builds sys.path itself (stdlib, runtime site, vendor, config); "" would be the cwd.
    paths.extend(p for p in sys.path if p and os.path.isabs(p))
    paths.append(os.path.dirname(os.path.abspath(ade_engine.__file__)))
    paths.extend(_SYSTEM_READ_DIRS)
    paths.extend(SYSTEM_READ_FILES)
    if network:
        paths.extend(NETWORK_READ_PATHS)
    if os.path.exists("/proc/self"):
        paths.append(os.path.realpath("/proc/self"))
    paths.append(os.fspath(config_dir))
    if vendor_dir:
        paths.append(os.fspath(vendor_dir))
    paths.extend(os.fspath(p) for p in extra_read)
    seen: set[str] = set()
    out = []
    for p in paths:
        real = os.path.realpath(p)
        if real not in seen and os.path.exists(real):
            seen.add(real)
            out.append(real)
    return out


def apply_landlock(*, job_dir: StrPath, config_dir: StrPath, vendor_dir: StrPath | None, network: bool,
                   extra_read: Sequence[StrPath] = ()) -> int:
    """Restrict the filesystem (and TCP when network is off); returns the Landlock ABI used."""
    rules = [landlock.Rule(p, landlock.READ_ONLY) for p in read_only_paths(
        config_dir=config_dir, vendor_dir=vendor_dir, network=network, extra_read=extra_read)]
    rules.append(landlock.Rule("/dev/null", landlock.FS_READ_FILE | landlock.FS_WRITE_FILE | landlock.FS_TRUNCATE))
    rules.append(landlock.Rule(os.path.realpath(os.fspath(job_dir)), landlock.READ_WRITE))
    return landlock.restrict(rules, deny_tcp=not network)


def install_network_stubs() -> None:
    """Replace socket constructors with functions that raise a clear PermissionError (contract only)."""

    def _refuse(*_args, **_kwargs):
        raise PermissionError(NETWORK_DISABLED_MESSAGE)

    class _NoNetworkSocket(socket.socket):
        def __init__(self, *_args, **_kwargs):
            raise PermissionError(NETWORK_DISABLED_MESSAGE)

    socket.socket = _NoNetworkSocket  # type: ignore[misc]
    for name in ("create_connection", "create_server", "socketpair", "fromfd", "getaddrinfo", "gethostbyname",
                 "gethostbyname_ex", "gethostbyaddr"):
        if hasattr(socket, name):
            setattr(socket, name, _refuse)


def apply(level: str, *, job_dir: StrPath, config_dir: StrPath, input_path: StrPath | None,
          vendor_dir: StrPath | None = None, network: bool = False, extra_read: Sequence[StrPath] = ()) -> list[str]:
    """Confine this process at `level`; returns the protections of `strict` not applied.

    Raises SandboxUnavailable when a step of the level fails; the process may then be partly
    confined and must only write `result.json` and exit. `extra_read` adds read-only paths (e.g.
    the runtime's site dir when it is not on sys.path yet). `vendor_dir` defaults to `<job_dir>/vendor`
    when that exists.
    """
    job_dir = os.fspath(job_dir)
    if vendor_dir is None and os.path.exists(os.path.join(job_dir, "vendor")):
        vendor_dir = os.path.join(job_dir, "vendor")
    extra = [os.fspath(p) for p in extra_read] + ([os.fspath(input_path)] if input_path is not None else [])
    if level not in LEVELS:
        raise SandboxUnavailable(f"unknown sandbox level {level!r} (expected one of {', '.join(LEVELS)}).")
    if level == "strict" and os.uname().nodename != BWRAP_HOSTNAME:
        raise SandboxUnavailable(
            "sandbox level 'strict' needs the job process to run under bubblewrap, but it was not started by it.")
    if level in ("strict", "standard", "basic"):
        try:
            seccomp_filter.preload()  # find_library() needs a temp dir and ldconfig: before Landlock
        except seccomp_filter.SeccompError as exc:
            raise SandboxUnavailable(f"sandbox level {level!r}: {exc}.", details={"protection": "seccomp"}) from exc
    if level in ("strict", "standard"):
        try:
            apply_landlock(job_dir=job_dir, config_dir=os.fspath(config_dir), vendor_dir=vendor_dir,
                           network=network, extra_read=extra)
        except landlock.LandlockError as exc:
            raise SandboxUnavailable(f"sandbox level {level!r}: Landlock failed: {exc.strerror}.",
                                     details={"protection": "landlock"}) from exc
    if level in ("strict", "standard", "basic"):
        try:
            seccomp_filter.load(network=network)
        except seccomp_filter.SeccompError as exc:
            raise SandboxUnavailable(f"sandbox level {level!r}: seccomp failed: {exc}.",
                                     details={"protection": "seccomp"}) from exc
    if not network:
        install_network_stubs()
    return missing_protections(level)


def drop_privileges(user: str) -> None:
    """Switch this (root) process to `user` for good: no supplementary groups, gid, then uid."""
    import pwd

    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise SandboxUnavailable(f"ADE_JOB_USER names {user!r}, which is not an account on this machine.") from None
    if entry.pw_uid == 0:
        raise SandboxUnavailable(f"ADE_JOB_USER {user!r} is root; name an unprivileged account.")
    try:
        os.setgroups([])
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
    except OSError as exc:
        raise SandboxUnavailable(f"could not switch to ADE_JOB_USER {user!r}: {exc.strerror}.") from exc
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise SandboxUnavailable(f"switching to ADE_JOB_USER {user!r} did not drop root.")


def _self_probe() -> dict:
    """Test Landlock and seccomp in this throwaway process (called by `jobs.sandbox.probe`)."""
    result: dict = {"landlock_abi": landlock.abi_version(), "landlock_error": None, "seccomp_error": None}
    try:
        seccomp_filter.preload()
    except seccomp_filter.SeccompError as exc:
        result["seccomp_error"] = str(exc)
    if result["landlock_abi"] <= 0:
        result["landlock_error"] = landlock.unavailable_reason()
    else:
        try:
            landlock.restrict([landlock.Rule("/", landlock.READ_ONLY)], deny_tcp=True)
        except landlock.LandlockError as exc:
            result["landlock_error"] = f"Landlock present (ABI {result['landlock_abi']}) but refused: {exc.strerror}"
    result["seccomp_error"] = result["seccomp_error"] or seccomp_filter.probe()
    return result


if __name__ == "__main__":
    if sys.argv[1:] == ["--probe"]:
        print(json.dumps(_self_probe()))
        sys.exit(0)
    print("usage: python -m ade_engine.runtime.confine --probe", file=sys.stderr)
    sys.exit(2)
