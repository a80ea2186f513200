"""Engine and session factory. SQLite runs in WAL mode with foreign keys on and a busy timeout.

pysqlite's own transaction handling is switched off and we emit BEGIN ourselves (the recipe in the
SQLAlchemy SQLite docs), so transactional DDL in migrations works and a caller that needs the write lock
up front (the job queue's claim) can ask for `BEGIN IMMEDIATE` with
`session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})` as the first statement of a
transaction, or `engine.execution_options(sqlite_begin="IMMEDIATE")`.

A database that stays locked longer than the busy timeout raises `DatabaseBusy` (code `database_busy`), not
SQLAlchemy's `OperationalError`: one line that says which process holds the lock when the kernel tells
(`/proc/locks` on Linux) and that the operation can simply be retried.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from ade_engine.errors import AdeError

BUSY_TIMEOUT_MS = 10_000
# SQLite result codes (primary code in the low byte) carried by sqlite3.OperationalError.sqlite_errorcode.
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_BUSY_SNAPSHOT = 5, 6, 517
# Where SQLite takes its write locks: byte 120 of the WAL index (`-shm`, WAL mode), the RESERVED byte of the
# database file (rollback-journal mode).
_WAL_WRITE_LOCK_BYTE = 120
_RESERVED_BYTE = 0x40000001


class DatabaseBusy(AdeError):
    """The workspace database stayed locked by another process past the busy timeout; retrying is safe."""

    code = "database_busy"


def _install_sqlite_pragmas(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see module docstring)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        if mode not in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
            raise ValueError(f"sqlite_begin must be DEFERRED, IMMEDIATE or EXCLUSIVE, not {mode!r}")
        conn.exec_driver_sql(f"BEGIN {mode}")

    database = engine.url.database
    path = Path(database) if database and database != ":memory:" and not database.startswith("file:") else None

    @event.listens_for(engine, "handle_error")
    def _on_error(context: Any) -> BaseException | None:
        return busy_error(context.original_exception, path, busy_timeout_ms / 1000)


def busy_error(exc: BaseException, path: Path | None, timeout_s: float) -> DatabaseBusy | None:
    """`DatabaseBusy` for SQLite's "database is locked" (None for any other error)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        if "database is locked" not in str(exc):
            return None
        code = _SQLITE_BUSY
    if code & 0xFF not in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return None
    where = str(path) if path is not None else "the workspace database"
    if code == _SQLITE_BUSY_SNAPSHOT:
        # Not a long wait: another process wrote between this transaction's read and its write.
        return DatabaseBusy(
            f"{where} changed under this operation (another process wrote to it at the same moment); nothing "
            "was changed — retry", details={"path": str(path) if path else None, "holders": []})
    holders = lock_holders(path) if path is not None else []
    held_by = f" (held by {'; '.join(holders)})" if holders else ""
    return DatabaseBusy(
        f"{where} is busy: another process kept its write lock for more than the {timeout_s:g} s busy timeout"
        f"{held_by}; nothing was changed — retry when that process is done, or stop it "
        "(ADE_DATABASE_BUSY_TIMEOUT_SECONDS waits longer)",
        details={"path": str(path) if path else None, "holders": holders, "timeout_s": timeout_s})


def lock_holders(db_path: Path) -> list[str]:
    """Processes holding SQLite's write lock on `db_path` ("pid 123: ade worker"), from `/proc/locks`.

    Linux only; empty where the kernel does not say (other systems, locks held on another machine)."""
    targets: dict[tuple[int, int], set[int]] = {}
    for suffix, byte in (("-shm", _WAL_WRITE_LOCK_BYTE), ("", _RESERVED_BYTE)):
        try:
            st = os.stat(f"{db_path}{suffix}")
        except OSError:
            continue
        targets.setdefault((st.st_dev, st.st_ino), set()).add(byte)
    pids = locking_pids(targets, kind="POSIX", write_only=True)
    return [describe_pid(pid) for pid in pids]


def locking_pids(targets: dict[tuple[int, int], set[int] | None], *, kind: str, write_only: bool) -> list[int]:
    """pids of `/proc/locks` entries of type `kind` (POSIX, FLOCK) on the given (st_dev, st_ino) files;
    for POSIX locks only those covering one of the given bytes (None: any)."""
    try:
        lines = Path("/proc/locks").read_text(encoding="ascii", errors="replace").splitlines()
    except OSError:
        return []
    found: list[int] = []
    for line in lines:
        parts = line.split()
        if "->" in parts:  # a waiter, listed under the lock it waits for
            continue
        try:
            ltype, access, pid = parts[1], parts[3], int(parts[4])
            major, minor, inode = parts[5].split(":")
            dev = os.makedev(int(major, 16), int(minor, 16))
            key = (dev, int(inode))
        except (IndexError, ValueError):
            continue
        if ltype != kind or key not in targets or pid <= 0 or (write_only and access != "WRITE"):
            continue
        wanted = targets[key]
        if wanted is not None:
            try:
                start, end = int(parts[6]), (None if parts[7] == "EOF" else int(parts[7]))
            except (IndexError, ValueError):
                continue
            if not any(start <= b and (end is None or b <= end) for b in wanted):
                continue
        if pid not in found:
            found.append(pid)
    return found


def describe_pid(pid: int) -> str:
    """"pid 123: ade worker --concurrency 2" (this process: "pid 123: this process")."""
    if pid == os.getpid():
        return f"pid {pid}: this process"
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return f"pid {pid}"
    args = [a.decode("utf-8", "replace") for a in raw if a]
    if len(args) >= 3 and args[1] == "-m" and args[2] == "ade_engine.cli.main":
        args = ["ade", *args[3:]]
    elif args and os.path.basename(args[0]).startswith("python") and len(args) > 1:
        args = args[1:]
    if args:
        args[0] = os.path.basename(args[0])
    text = " ".join(args)[:100]
    return f"pid {pid}: {text}" if text else f"pid {pid}"


def make_engine(url: str, *, busy_timeout_s: float | None = None, **kwargs: Any) -> Engine:
    """Create an engine for `url`; SQLite connections get WAL, foreign keys and a busy timeout."""
    is_sqlite = url.startswith("sqlite")
    timeout_ms = int((busy_timeout_s * 1000) if busy_timeout_s is not None else BUSY_TIMEOUT_MS)
    if is_sqlite:
        kwargs.setdefault("connect_args", {}).setdefault("timeout", timeout_ms / 1000)
    engine = create_engine(url, **kwargs)
    if is_sqlite:
        _install_sqlite_pragmas(engine, timeout_ms)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values readable after commit (services return them to callers)."""
    return sessionmaker(engine, expire_on_commit=False)
