"""Open a workspace in one call: data-dir tree, migrations, default workspace, first-start samples.

`open_workspace(settings)` is what the CLI, the TUI and the worker start from. It is idempotent: a
second start on the same data dir changes nothing (no rows, no files, no permissions). Processes starting
at once are serialized by the data dir's start-up lock (`bootstrap_lock`): the first creates the tree,
migrates and imports the samples; the others wait, then find everything done.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import ulid
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

import ade_engine
from ade_engine.errors import AdeError
from ade_engine.settings import Settings
from ade_engine.store import migrate
from ade_engine.store.db import describe_pid, locking_pids, make_engine, make_session_factory
from ade_engine.store.models import Workspace as WorkspaceRow

DEFAULT_WORKSPACE_NAME = "default"
# Created at start-up; `configs/<config_id>/<version_id>/` and `jobs/<job_id>/` appear below them on use.
DATA_SUBDIRS = ("configs", "jobs", "documents", "envs", "runtime", "keys", "cache", "tmp")
# Start-up lock (an flock on this file) and the marker of a first start whose sample import is not done yet.
BOOTSTRAP_LOCK = ".bootstrap.lock"
SAMPLES_PENDING = ".samples-pending"
LOCK_NOTICE_S = 1.0  # a waiting process says so after this long
LOCK_WAIT_MAX_S = 600.0  # then gives up with `workspace_busy` (a first start takes seconds)
log = logging.getLogger("ade.workspace")


@dataclass
class BootstrapReport:
    """What a start did; empty lists and `first_start=False` on a second start."""

    created_dirs: list[str] = field(default_factory=list)
    migrated_from: str | None = None
    migrated_to: str | None = None
    first_start: bool = False
    imported: list[str] = field(default_factory=list)
    activated: str | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class Workspace:
    """An open workspace: settings, database engine and session factory, and the workspace row id."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    workspace_id: str
    name: str
    report: BootstrapReport = field(default_factory=BootstrapReport)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def current_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def ensure_data_dirs(settings: Settings) -> list[str]:
    """Create the data-dir tree with the modes of the permission model (`ade_engine.jobs.permissions`);
    returns the directories it created. The model is the same for every command, so opening a workspace
    never changes what a running job can reach."""
    from ade_engine.jobs.permissions import apply_data_dir_model

    try:
        return apply_data_dir_model(settings.data_dir)
    except OSError as exc:
        raise AdeError(
            f"cannot create {exc.filename or settings.data_dir}: {exc.strerror}; set ADE_DATA_DIR to a "
            "writable directory",
            code="data_dir_unusable",
            details={"path": str(exc.filename or settings.data_dir)},
        ) from None


def _secure_sqlite_files(settings: Settings) -> None:
    if settings.database_url is not None:
        return
    from ade_engine.jobs.permissions import apply_data_dir_model

    apply_data_dir_model(settings.data_dir)  # the database files were just created: 0600


def default_samples_dir(settings: Settings) -> Path | None:
    """`ADE_SAMPLE_CONFIGS_DIR`, else the `sample_configs/` folder next to the engine (source checkouts)."""
    if settings.sample_configs_dir is not None:
        return settings.sample_configs_dir
    candidate = Path(ade_engine.__file__).resolve().parent.parent / "sample_configs"
    return candidate if candidate.is_dir() else None


def _sample_sources(samples: Path | None) -> list[Path]:
    if samples is None or not samples.is_dir():
        return []
    found = []
    for entry in sorted(samples.iterdir()):
        if entry.is_dir() and (entry / "manifest.json").is_file():
            found.append(entry)
        elif entry.is_file() and entry.suffix == ".zip":
            found.append(entry)
    return found


def _sample_config_id(source: Path) -> str:
    from ade_engine.services.configs import slugify

    return slugify(source.name[:-4] if source.name.endswith(".zip") else source.name)


def _import_samples(ws: Workspace, report: BootstrapReport) -> None:
    """Import, publish and activate the samples; resumes a first start that was killed half-way.

    A sample whose config already exists is not imported again: its draft is published if that was not
    done, and the first published sample is activated when nothing is active yet.
    """
    from ade_engine.services import configs  # configs imports this module

    existing = {c.config_id: c for c in configs.list_configs(ws, include_archived=True)}
    first_published: str | None = None
    for source in _sample_sources(default_samples_dir(ws.settings)):
        try:
            found = existing.get(_sample_config_id(source))
            if found is None:
                draft = configs.import_package(ws, source)
                report.imported.append(draft.config_id)
                published_id = configs.publish(ws, draft.config_version_id).config_version_id
            elif found.latest_published_id is None and found.draft_version_id is not None:
                published_id = configs.publish(ws, found.draft_version_id).config_version_id
            else:
                published_id = found.latest_published_id
        except AdeError as exc:
            report.problems.append(f"sample {source.name}: {exc.message}")
            continue
        first_published = first_published or published_id
    if first_published is not None and configs.active_version(ws) is None:
        try:
            configs.activate(ws, first_published)
            report.activated = first_published
        except AdeError as exc:
            report.problems.append(f"sample {first_published}: {exc.message}")


# ----------------------------------------------------------------------------------------- start-up lock
def _lock_holder(fd: int) -> str:
    """Who holds the start-up lock: what the holder wrote in the lock file ("pid 123: ade worker — migrating"),
    else the pid the kernel names (`/proc/locks`), else ""."""
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8", "replace") or "{}")
    except (OSError, ValueError):
        data = None
    if isinstance(data, dict) and data.get("pid"):
        text = f"pid {data['pid']}" + (f": {data['command']}" if data.get("command") else "")
        return text + (f" — {data['phase']}" if data.get("phase") else "")
    try:
        st = os.fstat(fd)
    except OSError:
        return ""
    pids = locking_pids({(st.st_dev, st.st_ino): None}, kind="FLOCK", write_only=True)
    return "; ".join(describe_pid(pid) for pid in pids)


class _Holder:
    """The held start-up lock. `phase(text)` tells waiting processes what this one is doing; it is written
    only for the slow steps (migration, first-start import), so a plain start leaves the lock file as it was."""

    def __init__(self, fd: int | None):
        self.fd = fd
        self.wrote = False

    def phase(self, text: str) -> None:
        if self.fd is None:
            return
        argv = [os.path.basename(sys.argv[0] or "python"), *sys.argv[1:3]]
        record = json.dumps({"pid": os.getpid(), "command": " ".join(argv)[:120], "phase": text,
                             "since": round(time.time(), 3)}).encode("utf-8")
        try:  # rewritten in place: the lock is on this file's inode, so it is never replaced
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, record, 0)
            self.wrote = True
        except OSError:
            pass  # only informative


@contextmanager
def bootstrap_lock(settings: Settings, *, on_wait: Callable[[str], None] | None = None) -> Iterator[_Holder]:
    """Hold the data dir's start-up lock (`flock` on `<data dir>/.bootstrap.lock`) for the body.

    Another process holding it is waited for; after `LOCK_NOTICE_S` one message goes to `on_wait` (default: the
    `ade.workspace` logger) naming the holder. The kernel releases the lock when its holder dies, so a
    killed start never blocks the next one. Without `fcntl` (Windows) nothing is locked.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not a POSIX system
        yield _Holder(None)
        return
    path = settings.data_dir / BOOTSTRAP_LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0),
                     0o600)
    except OSError as exc:
        raise AdeError(f"cannot open the start-up lock {path}: {exc.strerror}; check that ADE_DATA_DIR "
                       f"({settings.data_dir}) is a folder this account can write",
                       code="data_dir_unusable", details={"path": str(path)}) from None
    try:
        started = time.monotonic()
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pass
            waited = time.monotonic() - started
            if waited >= LOCK_WAIT_MAX_S:
                holder = _lock_holder(fd)
                raise AdeError(
                    f"another ADE process ({holder or 'unknown'}) has been setting up the workspace at "
                    f"{settings.data_dir} for {int(waited)} s; wait for it or stop it, then retry",
                    code="workspace_busy", details={"data_dir": str(settings.data_dir), "holder": holder})
            if not told and waited >= LOCK_NOTICE_S:
                told = True
                holder = _lock_holder(fd)
                message = (f"waiting for another ADE process to finish setting up the workspace at "
                           f"{settings.data_dir}" + (f" ({holder})" if holder else ""))
                (on_wait or log.warning)(message)
            time.sleep(0.05)
        held = _Holder(fd)
        try:
            yield held
        finally:
            if held.wrote:
                try:
                    os.ftruncate(fd, 0)
                except OSError:
                    pass
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _make_data_dir(settings: Settings) -> None:
    """The data dir itself, so its lock file has a home; racing creators are fine (exist_ok)."""
    try:
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise AdeError(
            f"cannot create {settings.data_dir}: {exc.strerror}; set ADE_DATA_DIR to a writable directory",
            code="data_dir_unusable",
            details={"path": str(settings.data_dir)},
        ) from None


def open_workspace(settings: Settings, *, import_samples: bool = True,
                   on_wait: Callable[[str], None] | None = None) -> Workspace:
    """Bootstrap the data dir and database (migrate to head) and open the default workspace.

    On the very first start (no workspace yet) this creates the default workspace and imports every
    package of the sample folder, publishing each and activating the first one that validates. All of it
    runs under the data dir's start-up lock, so a process started at the same time waits (`on_wait` gets one
    message after a second) and then finds the workspace complete, samples included.
    """
    _make_data_dir(settings)
    with bootstrap_lock(settings, on_wait=on_wait) as holder:
        report = BootstrapReport(created_dirs=ensure_data_dirs(settings))
        engine = make_engine(settings.db_url, busy_timeout_s=settings.database_busy_timeout_seconds)
        pending = settings.data_dir / SAMPLES_PENDING
        try:
            report.migrated_from = migrate.current(engine)
            if report.migrated_from != migrate.HEAD:
                holder.phase("migrating the database")
                migrate.upgrade(engine)
                report.migrated_to = migrate.current(engine)
            _secure_sqlite_files(settings)
            sessions = make_session_factory(engine)
            with sessions.begin() as session:
                row = session.scalars(select(WorkspaceRow).where(WorkspaceRow.is_default.is_(True))).first()
                if row is None:
                    # Marked before the row commits: a start killed before the samples are in resumes them.
                    pending.touch(mode=0o600)
                    row = WorkspaceRow(workspace_id=ulid.new().str, name=DEFAULT_WORKSPACE_NAME, is_default=True)
                    session.add(row)
                    report.first_start = True
                workspace_id, name = row.workspace_id, row.name
        except AdeError:
            engine.dispose()
            raise
        except Exception as exc:
            engine.dispose()
            raise AdeError(
                f"cannot open the workspace database at {settings.db_url}: {exc.__class__.__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}; check ADE_DATABASE_URL / ADE_DATA_DIR",
                code="database_unavailable",
            ) from exc
        ws = Workspace(settings, engine, sessions, workspace_id, name, report)
        if import_samples and pending.exists():
            holder.phase("importing the sample configs (first start)")
            try:
                _import_samples(ws, report)
            except BaseException:
                ws.close()
                raise
            pending.unlink(missing_ok=True)
    return ws
