"""Alembic 0001 up and down, on an empty database and on one holding data; schema matches the models."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from ade_engine.store import migrate
from ade_engine.store.models import Base

TABLES = {"workspaces", "configs", "config_versions", "workspace_config_states", "jobs", "documents", "secrets",
          "secret_audit"}
NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC).isoformat(" ")


def _tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_up_and_down_on_empty_database(engine):
    assert migrate.current(engine) is None
    migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.head() == migrate.HEAD
    assert _tables(engine) == TABLES
    migrate.downgrade(engine, "base")
    assert migrate.current(engine) is None and _tables(engine) == set()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from sqlite_master where type='trigger'").scalar() == 0
    migrate.upgrade(engine)
    assert _tables(engine) == TABLES


def test_up_and_down_with_data(engine):
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("insert into workspaces values ('W1', 'default', 1, :t)"), {"t": NOW})
        conn.execute(text("insert into configs values ('c1', 'W1', 'C', :t, null, null)"), {"t": NOW})
        conn.execute(text(
            "insert into config_versions (config_version_id, config_id, number, status, file_hashes, content_hash,"
            " created_at, updated_at, published_at) values ('V1', 'c1', 1, 'published', '{}', 'h', :t, :t, :t)"
        ), {"t": NOW})
        conn.execute(text("insert into workspace_config_states values ('W1', 'c1', 'V1', :t, null)"), {"t": NOW})
    migrate.upgrade(engine)  # at head: nothing to do, data intact
    with engine.connect() as conn:
        assert conn.execute(text("select config_version_id from workspace_config_states")).scalar() == "V1"
    migrate.downgrade(engine, "base")
    assert _tables(engine) == set()
    migrate.upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from config_versions")).scalar() == 0


def test_migrated_schema_matches_models(migrated):
    with migrated.connect() as conn, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # expression index reflection is unsupported on SQLite
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diffs == []


def test_sqlite_pragmas_on_every_connection(migrated):
    with migrated.connect() as conn:
        assert conn.exec_driver_sql("pragma journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("pragma foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("pragma busy_timeout").scalar() >= 1000


def test_head_constant_matches_the_migration_scripts():
    """Start-up compares the database with `migrate.HEAD` without loading Alembic: a new revision file
    must bump it (this test says so)."""
    assert migrate.HEAD == migrate.head()
