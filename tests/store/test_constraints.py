"""Every rule the database itself enforces, exercised with raw rows (no service layer)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from ade_engine.store.models import Config, ConfigVersion, Document, Job, Secret, Workspace, WorkspaceConfigState

T = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def world(sessions):
    with sessions.begin() as s:
        s.add_all([Workspace(workspace_id="W1", name="default", is_default=True),
                   Workspace(workspace_id="W2", name="other")])
        s.flush()
        s.add_all([Config(config_id="c1", workspace_id="W1", title="C1"),
                   Config(config_id="c2", workspace_id="W1", title="C2")])
        s.flush()
        s.add_all([
            ConfigVersion(config_version_id="V1", config_id="c1", number=1, status="published", content_hash="a",
                          file_hashes={"manifest.json": "a"}, published_at=T),
            ConfigVersion(config_version_id="V2", config_id="c1", number=2, status="published", content_hash="b",
                          file_hashes={}, published_at=T),
            ConfigVersion(config_version_id="V3", config_id="c2", number=1, status="draft", file_hashes={}),
        ])
        s.flush()
        s.add(WorkspaceConfigState(workspace_id="W1", config_id="c1", config_version_id="V1"))
    return sessions


def _fails(sessions, sql: str, match: str | None = None) -> str:
    with pytest.raises(IntegrityError) as err, sessions.begin() as s:
        s.execute(text(sql))
    if match:
        assert match in str(err.value)
    return str(err.value)


def test_single_active_version_per_workspace(world):
    _fails(world, "insert into workspace_config_states values ('W1', 'c1', 'V2', '2025-01-01', null)", "UNIQUE")
    with world.begin() as s:  # flipping the one row is how activation works
        s.execute(text("update workspace_config_states set config_version_id = 'V2' where workspace_id = 'W1'"))
        assert s.execute(text("select count(*) from workspace_config_states")).scalar() == 1


def test_only_published_versions_of_the_named_config_can_be_active(world):
    _fails(world, "update workspace_config_states set config_id = 'c2', config_version_id = 'V3'", "published")
    _fails(world, "update workspace_config_states set config_id = 'c2', config_version_id = 'V2'", "published")
    _fails(world, "insert into workspace_config_states values ('W2', 'c2', 'V3', '2025-01-01', null)", "published")


def test_published_versions_are_immutable(world):
    for change in ("content_hash = 'x'", "file_hashes = '{}'", "manifest_json = '{}'", "status = 'draft'",
                   "number = 9"):
        _fails(world, f"update config_versions set {change} where config_version_id = 'V1'", "immutable")
    _fails(world, "delete from config_versions where config_version_id = 'V2'", "cannot be deleted")
    with world.begin() as s:  # flags that are not identity stay settable
        s.execute(text("update config_versions set archived_at = '2025-01-01' where config_version_id = 'V2'"))
        s.execute(text("update config_versions set content_hash = 'z' where config_version_id = 'V3'"))  # draft


def test_publishing_requires_hash_and_timestamp(world):
    _fails(world, "update config_versions set status = 'published' where config_version_id = 'V3'",
           "published_complete")


def test_one_open_draft_per_config_and_unique_numbers(world):
    _fails(world, "insert into config_versions (config_version_id, config_id, number, status, file_hashes,"
                  " created_at, updated_at) values ('V4', 'c2', 2, 'draft', '{}', '2025-01-01', '2025-01-01')",
           "config_versions.config_id")
    _fails(world, "insert into config_versions (config_version_id, config_id, number, status, file_hashes,"
                  " created_at, updated_at) values ('V5', 'c1', 2, 'draft', '{}', '2025-01-01', '2025-01-01')",
           "number")


def test_check_constraints_and_foreign_keys(world):
    _fails(world, "update config_versions set status = 'weird' where config_version_id = 'V3'", "status")
    _fails(world, "insert into configs values ('c9', 'NOPE', 't', '2025-01-01', null, null)", "FOREIGN KEY")
    _fails(world, "delete from workspaces where workspace_id = 'W1'", "FOREIGN KEY")
    with pytest.raises(IntegrityError), world.begin() as s:
        s.add(Document(document_id="D1", workspace_id="W1", original_name="a.xlsx", sha256="s", size_bytes=1,
                       detected_type="pdf"))
    with pytest.raises(IntegrityError), world.begin() as s:
        s.add(Job(job_id="J1", workspace_id="W1", config_id="c1", config_version_id="V1", content_hash="a",
                  status="paused", trace_id="t"))


def test_documents_dedupe_only_while_not_purged(world):
    def doc(doc_id, purged=None):
        return Document(document_id=doc_id, workspace_id="W1", original_name="a.csv", sha256="same", size_bytes=3,
                        detected_type="csv", purged_at=purged)

    with world.begin() as s:
        s.add(doc("D1", purged=T))
        s.add(doc("D2"))
    with pytest.raises(IntegrityError), world.begin() as s:
        s.add(doc("D3"))


def test_secret_versions_unique_per_scope_even_when_workspace_wide(world):
    def secret(config_id):
        return Secret(workspace_id="W1", config_id=config_id, name="API_TOKEN", version=1, key_id="k1",
                      ciphertext="ade-secret:v1:...")

    with world.begin() as s:
        s.add(secret(None))
        s.add(secret("c1"))
    with pytest.raises(IntegrityError), world.begin() as s:
        s.add(secret(None))


def test_timestamps_come_back_timezone_aware(world):
    with world() as s:
        v = s.get(ConfigVersion, "V1")
        assert v.published_at == T and v.created_at.tzinfo is not None
