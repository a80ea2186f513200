"""Draft authoring: optimistic locking, file operations, manifest patch, diff, validation on save."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from ade_engine.errors import AdeError, Conflict, NotFound
from ade_engine.services import configs, drafts
from ade_engine.services.workspace import open_workspace


@pytest.fixture
def draft(workspace):
    return configs.clone(workspace, "prices@1")


def test_read_then_write_with_the_hash_read(workspace, draft):
    got = drafts.read_file(workspace, "prices", "columns/sku.py")
    saved = drafts.write_file(workspace, "prices", "columns/sku.py", got.text + "\n# tweak\n", expected_hash=got.sha256)
    assert saved.previous_sha256 == got.sha256 and saved.sha256 != got.sha256
    assert drafts.read_file(workspace, "prices", "columns/sku.py").sha256 == saved.sha256
    row = configs.get_version(workspace, "prices@draft")
    assert row.file_hashes["columns/sku.py"] == saved.sha256 and row.content_hash == saved.content_hash


def test_two_writers_second_gets_a_conflict_naming_both_hashes(workspace, settings, draft):
    other = open_workspace(settings)  # a second process-like client with its own engine
    try:
        a = drafts.read_file(workspace, "prices", "manifest.json")
        b = drafts.read_file(other, "prices", "manifest.json")
        first = drafts.write_file(workspace, "prices", "manifest.json", a.text.replace("Supplier", "A"), expected_hash=a.sha256)
        with pytest.raises(Conflict) as err:
            drafts.write_file(other, "prices", "manifest.json", b.text.replace("Supplier", "B"), expected_hash=b.sha256)
    finally:
        other.close()
    assert err.value.code == "conflict"
    assert err.value.details == {"path": "manifest.json", "expected": b.sha256, "actual": first.sha256}
    assert b.sha256[:12] in err.value.message and first.sha256[:12] in err.value.message
    assert '"A' in drafts.read_file(workspace, "prices", "manifest.json").text


def test_racing_writers_exactly_one_wins(workspace, draft):
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def writer(n: int) -> None:
        barrier.wait()
        try:
            drafts.write_file(workspace, "prices", "notes.txt", f"writer {n}\n", expected_hash=None)
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "ok"]


def test_create_existing_file_is_a_conflict(workspace, draft):
    with pytest.raises(Conflict):
        drafts.create_file(workspace, "prices", "manifest.json", "{}")


def test_file_tree_create_rename_delete(workspace, draft):
    drafts.create_file(workspace, "prices", "columns/_extra/helpers.py", "X = 1\n")
    assert "columns/_extra/helpers.py" in [f.path for f in drafts.list_files(workspace, "prices")]
    drafts.rename_file(workspace, "prices", "columns/_extra/helpers.py", "columns/_helpers.py")
    paths = [f.path for f in drafts.list_files(workspace, "prices")]
    assert "columns/_helpers.py" in paths and "columns/_extra/helpers.py" not in paths
    assert not (Path(draft.path) / "columns" / "_extra").exists()
    with pytest.raises(Conflict):
        drafts.rename_file(workspace, "prices", "columns/_helpers.py", "columns/sku.py")
    with pytest.raises(Conflict):
        drafts.delete_file(workspace, "prices", "columns/_helpers.py", expected_hash="0" * 64)
    drafts.delete_file(workspace, "prices", "columns/_helpers.py")
    with pytest.raises(NotFound):
        drafts.read_file(workspace, "prices", "columns/_helpers.py")


@pytest.mark.parametrize("bad", ["../escape.py", "/etc/passwd", "columns/../../x.py", "a\\b.py", "columns/__pycache__/x.pyc", ""])
def test_paths_outside_the_package_are_refused(workspace, draft, bad):
    with pytest.raises(AdeError) as err:
        drafts.write_file(workspace, "prices", bad, "x", expected_hash=drafts.ANY)
    assert err.value.code == "path_invalid"


def test_patch_manifest_metadata(workspace, draft):
    saved = drafts.patch_manifest(workspace, "prices", {"info": {"title": "Renamed", "description": "New words"}})
    manifest = json.loads(drafts.read_file(workspace, "prices", "manifest.json").text)
    assert manifest["info"]["title"] == "Renamed" and manifest["info"]["version"] == "0.3.0"
    assert not [d for d in saved.diagnostics if d.level == "error"]
    assert configs.get_version(workspace, "prices@draft").title == "Renamed"
    with pytest.raises(Conflict):
        drafts.patch_manifest(workspace, "prices", {"info": {"title": "Again"}}, expected_hash="f" * 64)


def test_save_runs_validation(workspace, draft):
    saved = drafts.write_file(workspace, "prices", "columns/sku.py", "def detect_x(:\n", expected_hash=drafts.ANY)
    errors = [d for d in saved.diagnostics if d.level == "error"]
    assert errors and errors[0].path == "columns/sku.py"


def test_diff_against_base_and_explicit_version(workspace, draft):
    assert drafts.diff(workspace, "prices").changes == []
    drafts.create_file(workspace, "prices", "README.md", "hello\n")
    got = drafts.read_file(workspace, "prices", "columns/sku.py")
    drafts.write_file(workspace, "prices", "columns/sku.py", got.text.replace("0.8", "0.7"), expected_hash=got.sha256)
    drafts.delete_file(workspace, "prices", "hooks/after_validate.py")
    result = drafts.diff(workspace, "prices")
    assert result.base == "prices@1" and result.draft == "prices@2"
    changes = {c.path: c.change for c in result.changes}
    assert changes == {"README.md": "added", "columns/sku.py": "modified", "hooks/after_validate.py": "removed"}
    sku = next(c for c in result.changes if c.path == "columns/sku.py")
    assert "-    return {\"scores\": {field_name: round(0.8" in sku.diff and "+    return" in sku.diff
    other = drafts.diff(workspace, "prices", against="stock@1")
    assert other.base == "stock@1" and any(c.path == "manifest.json" for c in other.changes)
