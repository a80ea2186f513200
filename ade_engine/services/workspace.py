"""Open a workspace in one call: data-dir tree, migrations, default workspace, first-start samples.

`open_workspace(settings)` is what the CLI, the TUI and the worker start from. It is idempotent: a
second start on the same data dir changes nothing (no rows, no files, no permissions).
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from pathlib import Path

import ulid
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

import ade_engine
from ade_engine.errors import AdeError
from ade_engine.settings import Settings
from ade_engine.store import migrate
from ade_engine.store.db import make_engine, make_session_factory
from ade_engine.store.models import Workspace as WorkspaceRow

DEFAULT_WORKSPACE_NAME = "default"
# Created at start-up; `configs/<config_id>/<version_id>/` and `jobs/<job_id>/` appear below them on use.
DATA_SUBDIRS = ("configs", "jobs", "documents", "envs", "runtime", "keys", "cache", "tmp")


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


def _import_samples(ws: Workspace, report: BootstrapReport) -> None:
    from ade_engine.services import configs  # configs imports this module

    for source in _sample_sources(default_samples_dir(ws.settings)):
        try:
            draft = configs.import_package(ws, source)
            report.imported.append(draft.config_id)
            published = configs.publish(ws, draft.config_version_id)
        except AdeError as exc:
            report.problems.append(f"sample {source.name}: {exc.message}")
            continue
        if report.activated is None:
            try:
                configs.activate(ws, published.config_version_id)
                report.activated = published.config_version_id
            except AdeError as exc:
                report.problems.append(f"sample {source.name}: {exc.message}")


def open_workspace(settings: Settings, *, import_samples: bool = True) -> Workspace:
    """Bootstrap the data dir and database (migrate to head) and open the default workspace.

    On the very first start (no workspace yet) this creates the default workspace and imports every
    package of the sample folder, publishing each and activating the first one that validates.
    """
    report = BootstrapReport(created_dirs=ensure_data_dirs(settings))
    engine = make_engine(settings.db_url)
    try:
        report.migrated_from = migrate.current(engine)
        if report.migrated_from != migrate.HEAD:
            migrate.upgrade(engine)
            report.migrated_to = migrate.current(engine)
        _secure_sqlite_files(settings)
        sessions = make_session_factory(engine)
        with sessions.begin() as session:
            row = session.scalars(select(WorkspaceRow).where(WorkspaceRow.is_default.is_(True))).first()
            if row is None:
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
    if report.first_start and import_samples:
        _import_samples(ws, report)
    return ws
