"""The job process's seccomp filter (via pyseccomp): default allow, deny what could escape the sandbox.

Denied calls fail with EPERM (Python raises PermissionError) rather than killing the process, so a
script gets an error it can report. Syscalls of a foreign architecture (i386/x32 on x86_64) hit
libseccomp's default bad-arch action, which kills.
"""

from __future__ import annotations

import errno
import socket
import sys

AF_INET = int(socket.AF_INET)
AF_INET6 = int(socket.AF_INET6)

# Always denied: session/process-group escape (the parent kills the job's process group),
# debugging other processes, io_uring (bypasses seccomp), mounts/namespaces, kernel keyrings,
# BPF and perf.
ALWAYS_DENIED = (
    "setsid",
    "setpgid",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "mount",
    "umount2",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "open_by_handle_at",
)

# clone(2) flags that create namespaces; clone3 is refused with ENOSYS so libc falls back to clone,
# whose flags a filter can inspect.
_CLONE_NS_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
)


class SeccompError(Exception):
    """pyseccomp or libseccomp is missing, or the kernel refused the filter."""


# The libraries pyseccomp looks up at import, by the sonames the dynamic loader knows from ld.so.cache.
SONAMES = {"seccomp": ("libseccomp.so.2",), "c": ("libc.so.6",)}


def _by_soname(name: str) -> str | None:
    import ctypes

    for soname in SONAMES.get(name, ()):
        try:
            ctypes.CDLL(soname)
        except OSError:
            continue
        return soname
    return None


def _import():
    """Import pyseccomp with its libraries found by soname (no subprocess), else the usual way.

    pyseccomp calls `ctypes.util.find_library`, which runs `ldconfig -p` (then gcc, then ld) in subprocesses:
    under load, or at the job's process and descriptor limits, those can fail, and pyseccomp then says "Unable
    to find libseccomp" although it is installed. Loading the soname asks the dynamic loader directly."""
    if "pyseccomp" in sys.modules:
        return sys.modules["pyseccomp"]
    import ctypes.util

    original = ctypes.util.find_library

    def find_library(name: str) -> str | None:
        return _by_soname(name) or original(name)

    ctypes.util.find_library = find_library
    try:
        import pyseccomp
    except (ImportError, RuntimeError, OSError) as exc:  # pyseccomp raises RuntimeError without libseccomp
        raise SeccompError(f"seccomp library unavailable ({exc}); install libseccomp (apt-get install libseccomp2)")
    finally:
        ctypes.util.find_library = original
    return pyseccomp


def preload() -> None:
    """Import pyseccomp now, before Landlock (its libraries are loaded from the system library dirs)."""
    _import()


def build(*, network: bool):
    """The job filter, not yet loaded."""
    sc = _import()
    deny = sc.ERRNO(errno.EPERM)
    f = sc.SyscallFilter(sc.ALLOW)
    for name in ALWAYS_DENIED:
        try:
            f.add_rule(deny, name)
        except (OSError, ValueError, RuntimeError):
            continue  # syscall unknown to this libseccomp/arch: nothing to deny
    for flag in _CLONE_NS_FLAGS:
        f.add_rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    if network:
        # Only AF_INET (2) and AF_INET6 (10): one rule per range, since a rule may test an argument once.
        f.add_rule(deny, "socket", sc.Arg(0, sc.LT, AF_INET))
        f.add_rule(deny, "socket", sc.Arg(0, sc.GT, AF_INET6))
        for family in range(AF_INET + 1, AF_INET6):
            f.add_rule(deny, "socket", sc.Arg(0, sc.EQ, family))
    else:
        f.add_rule(deny, "socket")
        f.add_rule(deny, "socketpair")
    return f


def load(*, network: bool) -> None:
    """Build and load the job filter into this process (sets no_new_privs first)."""
    try:
        f = build(network=network)
        f.load()
    except SeccompError:
        raise
    except Exception as exc:  # noqa: BLE001 - libseccomp reports as OSError/RuntimeError/ValueError
        raise SeccompError(f"could not load the seccomp filter: {exc}") from exc


def probe() -> str | None:
    """Load a trivial filter in this (throwaway) process; None when it works, else the reason."""
    try:
        sc = _import()
        f = sc.SyscallFilter(sc.ALLOW)
        f.add_rule(sc.ERRNO(errno.EPERM), "acct")
        f.load()
    except SeccompError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001
        return f"kernel refused a seccomp filter ({exc}); needs Linux with CONFIG_SECCOMP_FILTER"
    return None
