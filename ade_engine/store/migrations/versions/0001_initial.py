"""Initial schema: workspaces, configs, versions, active-version state, jobs, documents, secrets.

Revision ID: 0001
Revises:
Create Date: 2025-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)

# Rules SQL cannot say as CHECK/UNIQUE. Messages start with "ade:" so the service layer can recognize them.
_SQLITE_TRIGGERS = [
    """
    CREATE TRIGGER trg_config_versions_published_immutable
    BEFORE UPDATE OF config_id, number, manifest_json, file_hashes, content_hash, deps_hash, status,
                     base_version_id, published_at
    ON config_versions
    WHEN OLD.status = 'published'
    BEGIN
        SELECT RAISE(ABORT, 'ade: published config versions are immutable');
    END
    """,
    """
    CREATE TRIGGER trg_config_versions_published_undeletable
    BEFORE DELETE ON config_versions
    WHEN OLD.status = 'published'
    BEGIN
        SELECT RAISE(ABORT, 'ade: published config versions cannot be deleted');
    END
    """,
    """
    CREATE TRIGGER trg_wcs_insert_published_only
    BEFORE INSERT ON workspace_config_states
    WHEN (SELECT status FROM config_versions WHERE config_version_id = NEW.config_version_id) IS NOT 'published'
      OR (SELECT config_id FROM config_versions WHERE config_version_id = NEW.config_version_id)
         IS NOT NEW.config_id
    BEGIN
        SELECT RAISE(ABORT, 'ade: only a published version of the named config can be active');
    END
    """,
    """
    CREATE TRIGGER trg_wcs_update_published_only
    BEFORE UPDATE ON workspace_config_states
    WHEN (SELECT status FROM config_versions WHERE config_version_id = NEW.config_version_id) IS NOT 'published'
      OR (SELECT config_id FROM config_versions WHERE config_version_id = NEW.config_version_id)
         IS NOT NEW.config_id
    BEGIN
        SELECT RAISE(ABORT, 'ade: only a published version of the named config can be active');
    END
    """,
]

_PG_TRIGGERS = [
    """
    CREATE FUNCTION ade_config_versions_guard() RETURNS trigger AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            IF OLD.status = 'published' THEN
                RAISE EXCEPTION 'ade: published config versions cannot be deleted';
            END IF;
            RETURN OLD;
        END IF;
        IF OLD.status = 'published' AND (
            NEW.config_id IS DISTINCT FROM OLD.config_id OR NEW.number IS DISTINCT FROM OLD.number OR
            NEW.manifest_json::text IS DISTINCT FROM OLD.manifest_json::text OR
            NEW.file_hashes::text IS DISTINCT FROM OLD.file_hashes::text OR
            NEW.content_hash IS DISTINCT FROM OLD.content_hash OR NEW.deps_hash IS DISTINCT FROM OLD.deps_hash OR
            NEW.status IS DISTINCT FROM OLD.status OR NEW.base_version_id IS DISTINCT FROM OLD.base_version_id OR
            NEW.published_at IS DISTINCT FROM OLD.published_at) THEN
            RAISE EXCEPTION 'ade: published config versions are immutable';
        END IF;
        RETURN NEW;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER trg_config_versions_guard BEFORE UPDATE OR DELETE ON config_versions
    FOR EACH ROW EXECUTE FUNCTION ade_config_versions_guard()
    """,
    """
    CREATE FUNCTION ade_wcs_guard() RETURNS trigger AS $$
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM config_versions WHERE config_version_id = NEW.config_version_id
                       AND status = 'published' AND config_id = NEW.config_id) THEN
            RAISE EXCEPTION 'ade: only a published version of the named config can be active';
        END IF;
        RETURN NEW;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER trg_wcs_guard BEFORE INSERT OR UPDATE ON workspace_config_states
    FOR EACH ROW EXECUTE FUNCTION ade_wcs_guard()
    """,
]


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("workspace_id", sa.String(26), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", name="pk_workspaces"),
        sa.UniqueConstraint("name", name="uq_workspaces_name"),
    )
    op.create_table(
        "configs",
        sa.Column("config_id", sa.String(64), nullable=False),
        sa.Column("workspace_id", sa.String(26), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("archived_at", TS, nullable=True),
        sa.Column("deleted_at", TS, nullable=True),
        sa.CheckConstraint("length(config_id) > 0", name="ck_configs_config_id_nonempty"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.workspace_id"], ondelete="RESTRICT",
                                name="fk_configs_workspace_id_workspaces"),
        sa.PrimaryKeyConstraint("config_id", name="pk_configs"),
    )
    op.create_index("ix_configs_workspace_id", "configs", ["workspace_id"])

    op.create_table(
        "config_versions",
        sa.Column("config_version_id", sa.String(26), nullable=False),
        sa.Column("config_id", sa.String(64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("base_version_id", sa.String(26), nullable=True),
        sa.Column("manifest_json", sa.JSON(), nullable=True),
        sa.Column("file_hashes", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=True),
        sa.Column("deps_hash", sa.String(64), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("published_at", TS, nullable=True),
        sa.Column("archived_at", TS, nullable=True),
        sa.Column("deleted_at", TS, nullable=True),
        sa.Column("created_by", sa.String(255), nullable=True),
        sa.Column("source", sa.String(1024), nullable=True),
        sa.CheckConstraint("status IN ('draft', 'published')", name="ck_config_versions_status"),
        sa.CheckConstraint(
            "status <> 'published' OR (published_at IS NOT NULL AND content_hash IS NOT NULL)",
            name="ck_config_versions_published_complete",
        ),
        sa.ForeignKeyConstraint(["config_id"], ["configs.config_id"], ondelete="RESTRICT",
                                name="fk_config_versions_config_id_configs"),
        sa.ForeignKeyConstraint(["base_version_id"], ["config_versions.config_version_id"], ondelete="SET NULL",
                                name="fk_config_versions_base_version_id_config_versions"),
        sa.PrimaryKeyConstraint("config_version_id", name="pk_config_versions"),
        sa.UniqueConstraint("config_id", "number", name="uq_config_versions_config_id_number"),
    )
    op.create_index("ix_config_versions_config_id", "config_versions", ["config_id"])
    op.create_index(
        "uq_config_versions_one_draft", "config_versions", ["config_id"], unique=True,
        sqlite_where=sa.text("status = 'draft' AND deleted_at IS NULL"),
        postgresql_where=sa.text("status = 'draft' AND deleted_at IS NULL"),
    )

    op.create_table(
        "workspace_config_states",
        sa.Column("workspace_id", sa.String(26), nullable=False),
        sa.Column("config_id", sa.String(64), nullable=False),
        sa.Column("config_version_id", sa.String(26), nullable=False),
        sa.Column("activated_at", TS, nullable=False),
        sa.Column("activated_by", sa.String(255), nullable=True),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.workspace_id"], ondelete="CASCADE",
                                name="fk_workspace_config_states_workspace_id_workspaces"),
        sa.ForeignKeyConstraint(["config_id"], ["configs.config_id"], ondelete="RESTRICT",
                                name="fk_workspace_config_states_config_id_configs"),
        sa.ForeignKeyConstraint(["config_version_id"], ["config_versions.config_version_id"], ondelete="RESTRICT",
                                name="fk_workspace_config_states_config_version_id_config_versions"),
        sa.PrimaryKeyConstraint("workspace_id", name="pk_workspace_config_states"),
    )
    op.create_index("ix_workspace_config_states_config_version_id", "workspace_config_states",
                    ["config_version_id"])

    op.create_table(
        "documents",
        sa.Column("document_id", sa.String(26), nullable=False),
        sa.Column("workspace_id", sa.String(26), nullable=False),
        sa.Column("original_name", sa.String(1024), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("detected_type", sa.String(8), nullable=False),
        sa.Column("added_at", TS, nullable=False),
        sa.Column("added_by", sa.String(255), nullable=True),
        sa.Column("source_path", sa.String(4096), nullable=True),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("purged_at", TS, nullable=True),
        sa.CheckConstraint("detected_type IN ('xlsx', 'xlsm', 'csv')", name="ck_documents_detected_type"),
        sa.CheckConstraint("size_bytes >= 0", name="ck_documents_size_nonnegative"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.workspace_id"], ondelete="RESTRICT",
                                name="fk_documents_workspace_id_workspaces"),
        sa.PrimaryKeyConstraint("document_id", name="pk_documents"),
    )
    op.create_index("ix_documents_workspace_id", "documents", ["workspace_id"])
    op.create_index(
        "uq_documents_live_sha256", "documents", ["workspace_id", "sha256"], unique=True,
        sqlite_where=sa.text("purged_at IS NULL"), postgresql_where=sa.text("purged_at IS NULL"),
    )

    op.create_table(
        "jobs",
        sa.Column("job_id", sa.String(26), nullable=False),
        sa.Column("workspace_id", sa.String(26), nullable=False),
        sa.Column("config_id", sa.String(64), nullable=False),
        sa.Column("config_version_id", sa.String(80), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("document_id", sa.String(26), nullable=True),
        sa.Column("source_file", sa.String(1024), nullable=True),
        sa.Column("input_sha256", sa.String(64), nullable=True),
        sa.Column("idempotency_key", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("retry_of_job_id", sa.String(26), nullable=True),
        sa.Column("runtime_network_access", sa.Boolean(), nullable=True),
        sa.Column("queued_at", TS, nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("completed_at", TS, nullable=True),
        sa.Column("cancel_requested_at", TS, nullable=True),
        sa.Column("worker_id", sa.String(255), nullable=True),
        sa.Column("lease_expires_at", TS, nullable=True),
        sa.Column("heartbeat_at", TS, nullable=True),
        sa.Column("worker_pid", sa.Integer(), nullable=True),
        sa.Column("worker_pgid", sa.Integer(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("exit_signal", sa.Integer(), nullable=True),
        sa.Column("sandbox_level", sa.String(16), nullable=True),
        sa.Column("sandbox_missing", sa.JSON(), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.String(400), nullable=True),
        sa.Column("error_stage", sa.String(64), nullable=True),
        sa.Column("trace_id", sa.String(64), nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("purged_at", TS, nullable=True),
        sa.Column("job_dir", sa.String(4096), nullable=True),
        sa.Column("artifact_path", sa.String(4096), nullable=True),
        sa.Column("output_path", sa.String(4096), nullable=True),
        sa.CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')",
                           name="ck_jobs_status"),
        sa.CheckConstraint("attempt >= 1", name="ck_jobs_attempt_positive"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.workspace_id"], ondelete="RESTRICT",
                                name="fk_jobs_workspace_id_workspaces"),
        sa.ForeignKeyConstraint(["document_id"], ["documents.document_id"], ondelete="RESTRICT",
                                name="fk_jobs_document_id_documents"),
        sa.ForeignKeyConstraint(["retry_of_job_id"], ["jobs.job_id"], ondelete="SET NULL",
                                name="fk_jobs_retry_of_job_id_jobs"),
        sa.PrimaryKeyConstraint("job_id", name="pk_jobs"),
    )
    op.create_index("ix_jobs_workspace_id", "jobs", ["workspace_id"])
    op.create_index("ix_jobs_document_id", "jobs", ["document_id"])
    op.create_index("ix_jobs_idempotency_key", "jobs", ["idempotency_key"])
    op.create_index("ix_jobs_status_queued_at", "jobs", ["status", "queued_at"])

    op.create_table(
        "secrets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.String(26), nullable=False),
        sa.Column("config_id", sa.String(64), nullable=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(255), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_used_at", TS, nullable=True),
        sa.Column("last_used_job_id", sa.String(26), nullable=True),
        sa.Column("deleted_at", TS, nullable=True),
        sa.CheckConstraint("version >= 1", name="ck_secrets_version_positive"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.workspace_id"], ondelete="RESTRICT",
                                name="fk_secrets_workspace_id_workspaces"),
        sa.ForeignKeyConstraint(["config_id"], ["configs.config_id"], ondelete="RESTRICT",
                                name="fk_secrets_config_id_configs"),
        sa.PrimaryKeyConstraint("id", name="pk_secrets"),
    )
    op.create_index("ix_secrets_workspace_id", "secrets", ["workspace_id"])
    op.create_index(
        "uq_secrets_scope_name_version", "secrets",
        ["workspace_id", sa.text("coalesce(config_id, '*')"), "name", "version"], unique=True,
    )

    op.create_table(
        "secret_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("actor", sa.String(255), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("workspace_id", sa.String(26), nullable=True),
        sa.Column("config_id", sa.String(64), nullable=True),
        sa.Column("name", sa.String(128), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("job_id", sa.String(26), nullable=True),
        sa.CheckConstraint("action IN ('set', 'delete', 'rotate_key', 'inject', 'decrypt_failed')",
                           name="ck_secret_audit_action"),
        sa.PrimaryKeyConstraint("id", name="pk_secret_audit"),
    )
    op.create_index("ix_secret_audit_ts", "secret_audit", ["ts"])

    dialect = op.get_bind().dialect.name
    for statement in _SQLITE_TRIGGERS if dialect == "sqlite" else _PG_TRIGGERS if dialect == "postgresql" else []:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in ("trg_wcs_update_published_only", "trg_wcs_insert_published_only",
                     "trg_config_versions_published_undeletable", "trg_config_versions_published_immutable"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS trg_wcs_guard ON workspace_config_states")
        op.execute("DROP TRIGGER IF EXISTS trg_config_versions_guard ON config_versions")
        op.execute("DROP FUNCTION IF EXISTS ade_wcs_guard()")
        op.execute("DROP FUNCTION IF EXISTS ade_config_versions_guard()")
    for table in ("secret_audit", "secrets", "jobs", "documents", "workspace_config_states", "config_versions",
                  "configs", "workspaces"):
        op.drop_table(table)
