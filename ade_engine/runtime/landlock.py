"""A small ctypes binding to Linux Landlock (filesystem and TCP access control for this process).

Runs inside the job process: stdlib and ctypes only. The kernel ABI is probed once; access rights
the kernel does not know are masked off, so the same rules work on ABI 1 through the newest.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import stat
from dataclasses import dataclass

# Syscall numbers are the same on x86_64 and aarch64 (Landlock came after the unified table).
_SYSCALLS = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446), "arm64": (444, 445, 446)}

_CREATE_RULESET_VERSION = 1 << 0
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

# Filesystem access rights, by the ABI that introduced them.
FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5

NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1  # ABI 4

SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1  # ABI 6

_FS_BY_ABI = {
    1: (1 << 13) - 1,
    2: (1 << 14) - 1,
    3: (1 << 15) - 1,
    4: (1 << 15) - 1,
    5: (1 << 16) - 1,
}

# Rights that make sense on a regular file (the kernel refuses directory-only rights on a file rule).
_FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV

READ_ONLY = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
READ_WRITE = (1 << 16) - 1


class LandlockError(OSError):
    """Landlock could not be set up; `errno` says why (ENOSYS/EOPNOTSUPP = not in this kernel)."""


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # the kernel struct is __attribute__((packed))
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _numbers() -> tuple[int, int, int] | None:
    return _SYSCALLS.get(platform.machine())


def _raise(what: str) -> None:
    err = ctypes.get_errno()
    raise LandlockError(err, f"{what}: {os.strerror(err)}")


def abi_version() -> int:
    """The kernel's Landlock ABI version, or 0 when Landlock is missing or disabled."""
    numbers = _numbers()
    if numbers is None or os.uname().sysname != "Linux":
        return 0
    res = _libc.syscall(numbers[0], None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return int(res) if res > 0 else 0


def unavailable_reason() -> str:
    """Why `abi_version()` is 0, as a sentence a user can act on."""
    if os.uname().sysname != "Linux":
        return "Landlock exists only on Linux"
    if _numbers() is None:
        return f"Landlock binding does not know the syscall numbers of {platform.machine()}"
    numbers = _numbers()
    assert numbers is not None
    _libc.syscall(numbers[0], None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    err = ctypes.get_errno()
    if err == errno.EOPNOTSUPP:
        return "Landlock is built into the kernel but disabled (add 'landlock' to the lsm= boot parameter)"
    return "kernel without Landlock (needs Linux >= 5.13 with landlock in the LSM list)"


def set_no_new_privs() -> None:
    if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        _raise("prctl(PR_SET_NO_NEW_PRIVS)")


@dataclass
class Rule:
    path: str
    access: int


def restrict(rules: list[Rule], *, deny_tcp: bool, abi: int | None = None) -> int:
    """Confine this process to `rules` (paths missing on disk are skipped); returns the ABI used.

    With `deny_tcp` and ABI >= 4, TCP bind/connect are handled with no rule (denied). With ABI >= 6
    abstract UNIX sockets and signals are scoped to this domain (a job cannot signal its parent).
    """
    abi = abi_version() if abi is None else abi
    if abi <= 0:
        raise LandlockError(errno.EOPNOTSUPP, unavailable_reason())
    numbers = _numbers()
    assert numbers is not None
    create, add_rule, restrict_self = numbers
    fs_mask = _FS_BY_ABI.get(abi, _FS_BY_ABI[5])
    attr = _RulesetAttr(handled_access_fs=fs_mask)
    size = 8
    if abi >= 4:
        size = 16
        if deny_tcp:
            attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP
    if abi >= 6:
        size = 24
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
    ruleset_fd = _libc.syscall(create, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset_fd < 0:
        _raise("landlock_create_ruleset")
    try:
        for rule in rules:
            try:
                fd = os.open(rule.path, os.O_PATH | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                access = rule.access & fs_mask
                if not stat.S_ISDIR(os.fstat(fd).st_mode):
                    access &= _FILE_RIGHTS
                if not access:
                    continue
                beneath = _PathBeneathAttr(allowed_access=access, parent_fd=fd)
                res = _libc.syscall(
                    add_rule, ctypes.c_int(ruleset_fd), ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(beneath),
                    ctypes.c_uint32(0),
                )
                if res != 0:
                    _raise(f"landlock_add_rule({rule.path})")
            finally:
                os.close(fd)
        set_no_new_privs()
        if _libc.syscall(restrict_self, ctypes.c_int(ruleset_fd), ctypes.c_uint32(0)) != 0:
            _raise("landlock_restrict_self")
    finally:
        os.close(ruleset_fd)
    return abi
