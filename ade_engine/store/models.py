"""SQLAlchemy 2 models of the workspace database (see docs/store.md for the data model and its choices).

Migration `0001` creates exactly these tables; a test compares the migrated schema with this metadata.
Constraints that SQL cannot express as CHECK/UNIQUE (published versions are immutable, only published
versions can be active) are triggers created by the migration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

VERSION_STATUSES = ("draft", "published")
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
DOCUMENT_TYPES = ("xlsx", "xlsm", "csv")
SECRET_AUDIT_ACTIONS = ("set", "delete", "rotate_key", "inject", "decrypt_failed")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are stored in UTC and always come back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC timestamps")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Workspace(Base):
    __tablename__ = "workspaces"

    workspace_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Config(Base):
    __tablename__ = "configs"
    __table_args__ = (CheckConstraint("length(config_id) > 0", name="config_id_nonempty"),)

    config_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.workspace_id", ondelete="RESTRICT"), index=True)
    title: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ConfigVersion(Base):
    __tablename__ = "config_versions"
    __table_args__ = (
        CheckConstraint(_in("status", VERSION_STATUSES), name="status"),
        CheckConstraint(
            "status <> 'published' OR (published_at IS NOT NULL AND content_hash IS NOT NULL)",
            name="published_complete",
        ),
        UniqueConstraint("config_id", "number"),
        # At most one open draft per config: bare `CONFIG` then names one editable draft.
        Index(
            "uq_config_versions_one_draft",
            "config_id",
            unique=True,
            sqlite_where=text("status = 'draft' AND deleted_at IS NULL"),
            postgresql_where=text("status = 'draft' AND deleted_at IS NULL"),
        ),
    )

    config_version_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    config_id: Mapped[str] = mapped_column(ForeignKey("configs.config_id", ondelete="RESTRICT"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    base_version_id: Mapped[str | None] = mapped_column(
        ForeignKey("config_versions.config_version_id", ondelete="SET NULL")
    )
    manifest_json: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    file_hashes: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    deps_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(String(255))
    source: Mapped[str | None] = mapped_column(String(1024))  # template:NAME, clone:VID, import:PATH


class WorkspaceConfigState(Base):
    """The active version of a workspace. `workspace_id` is the primary key: one active version, enforced by SQL."""

    __tablename__ = "workspace_config_states"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.workspace_id", ondelete="CASCADE"), primary_key=True
    )
    config_id: Mapped[str] = mapped_column(ForeignKey("configs.config_id", ondelete="RESTRICT"))
    config_version_id: Mapped[str] = mapped_column(
        ForeignKey("config_versions.config_version_id", ondelete="RESTRICT"), index=True
    )
    activated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    activated_by: Mapped[str | None] = mapped_column(String(255))


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (
        CheckConstraint(_in("detected_type", DOCUMENT_TYPES), name="detected_type"),
        CheckConstraint("size_bytes >= 0", name="size_nonnegative"),
        Index(
            "uq_documents_live_sha256",
            "workspace_id",
            "sha256",
            unique=True,
            sqlite_where=text("purged_at IS NULL"),
            postgresql_where=text("purged_at IS NULL"),
        ),
    )

    document_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.workspace_id", ondelete="RESTRICT"), index=True)
    original_name: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    detected_type: Mapped[str] = mapped_column(String(8))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    added_by: Mapped[str | None] = mapped_column(String(255))
    source_path: Mapped[str | None] = mapped_column(String(4096))
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(_in("status", JOB_STATUSES), name="status"),
        CheckConstraint("attempt >= 1", name="attempt_positive"),
        Index("ix_jobs_status_queued_at", "status", "queued_at"),
    )

    job_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.workspace_id", ondelete="RESTRICT"), index=True)
    config_id: Mapped[str] = mapped_column(String(64))
    # Not a foreign key: drafts run as "draft:<content_hash>" (jobs.md §1).
    config_version_id: Mapped[str] = mapped_column(String(80))
    content_hash: Mapped[str] = mapped_column(String(64))
    document_id: Mapped[str | None] = mapped_column(
        ForeignKey("documents.document_id", ondelete="RESTRICT"), index=True
    )
    source_file: Mapped[str | None] = mapped_column(String(1024))
    input_sha256: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    retry_of_job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.job_id", ondelete="SET NULL"))
    runtime_network_access: Mapped[bool | None] = mapped_column(Boolean)
    # Text encoding asked for a CSV input (`--encoding`); NULL = the manifest's default, else detected.
    input_encoding: Mapped[str | None] = mapped_column(String(64))
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    worker_id: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    worker_pid: Mapped[int | None] = mapped_column(Integer)
    worker_pgid: Mapped[int | None] = mapped_column(Integer)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    exit_signal: Mapped[int | None] = mapped_column(Integer)
    sandbox_level: Mapped[str | None] = mapped_column(String(16))
    sandbox_missing: Mapped[list[str]] = mapped_column(JSON, default=list)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(String(400))
    error_stage: Mapped[str | None] = mapped_column(String(64))
    trace_id: Mapped[str] = mapped_column(String(64))
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    job_dir: Mapped[str | None] = mapped_column(String(4096))
    artifact_path: Mapped[str | None] = mapped_column(String(4096))
    output_path: Mapped[str | None] = mapped_column(String(4096))


class Secret(Base):
    """One version of one secret (secrets.md §3). Scope: `config_id` NULL = whole workspace."""

    __tablename__ = "secrets"
    __table_args__ = (
        CheckConstraint("version >= 1", name="version_positive"),
        # NULL config_id would make a plain UNIQUE useless; the expression index treats it as '*'.
        Index(
            "uq_secrets_scope_name_version",
            "workspace_id",
            text("coalesce(config_id, '*')"),
            "name",
            "version",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.workspace_id", ondelete="RESTRICT"), index=True)
    config_id: Mapped[str | None] = mapped_column(ForeignKey("configs.config_id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    key_id: Mapped[str] = mapped_column(String(32))
    ciphertext: Mapped[str | None] = mapped_column(Text)  # NULL once erased (rotation, delete)
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_job_id: Mapped[str | None] = mapped_column(String(26))
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SecretAudit(Base):
    """Append-only audit trail of secret operations; never holds values (secrets.md §8)."""

    __tablename__ = "secret_audit"
    __table_args__ = (CheckConstraint(_in("action", SECRET_AUDIT_ACTIONS), name="action"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str | None] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(32))
    workspace_id: Mapped[str | None] = mapped_column(String(26))
    config_id: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(128))
    version: Mapped[int | None] = mapped_column(Integer)
    key_id: Mapped[str | None] = mapped_column(String(32))
    job_id: Mapped[str | None] = mapped_column(String(26))
