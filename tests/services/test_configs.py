"""Config registry: import, clone, publish, activate, archive, export round trip, tampering."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from example_package import write_example_package

from ade_engine.errors import AdeError, ConfigInvalid, Conflict, NotFound
from ade_engine.packages import layout
from ade_engine.services import configs, drafts


def test_import_folder_publish_activate_flips_active_and_leaves_prior_untouched(workspace, package):
    before = configs.active_version(workspace)
    draft = configs.import_package(workspace, package)
    assert draft.config_id == "vendor_prices" and draft.status == "draft" and draft.number == 1
    assert draft.content_hash == layout.content_hash(package)
    published = configs.publish(workspace, "vendor_prices")
    assert published.status == "published" and published.published_at is not None
    assert published.file_hashes == layout.file_hashes(package)
    state = configs.activate(workspace, "vendor_prices")
    assert state.previous_version_id == before.config_version_id
    assert configs.active_version(workspace).config_version_id == published.config_version_id
    prior = configs.get_version(workspace, before.config_version_id)
    assert prior.status == "published" and not prior.archived and not prior.active
    assert prior.content_hash == before.content_hash and configs.verify_version(workspace, prior.config_version_id) == []


def test_history_lists_versions_with_hashes(workspace):
    draft = configs.clone(workspace, "prices@1")
    drafts.write_file(workspace, "prices", "README.md", "# notes\n", expected_hash=None)
    configs.publish(workspace, "prices")
    versions = configs.history(workspace, "prices")
    assert [(v.number, v.status) for v in versions] == [(1, "published"), (2, "published")]
    assert versions[1].config_version_id == draft.config_version_id and versions[1].base_version_id == versions[0].config_version_id
    assert versions[0].content_hash != versions[1].content_hash
    assert "README.md" in versions[1].file_hashes and "README.md" not in versions[0].file_hashes


def test_clone_into_new_config_and_one_draft_per_config(workspace):
    copy = configs.clone(workspace, "prices@1", new_config_id="prices-eu", title="EU prices")
    assert copy.config_id == "prices-eu" and copy.title == "EU prices" and copy.status == "draft"
    configs.clone(workspace, "prices@1")
    with pytest.raises(Conflict) as err:
        configs.clone(workspace, "prices@1")
    assert err.value.code == "draft_exists"


def test_export_import_export_is_byte_identical(workspace, tmp_path):
    first = configs.export_version(workspace, "prices@1", tmp_path / "a.zip")
    again = configs.export_version(workspace, "prices@1", tmp_path / "again.zip")
    assert first.read_bytes() == again.read_bytes()
    imported = configs.import_package(workspace, first, config_id="round-trip")
    second = configs.export_version(workspace, imported.config_version_id, tmp_path / "b.zip")
    assert first.read_bytes() == second.read_bytes()
    assert imported.content_hash == configs.get_version(workspace, "prices@1").content_hash
    with zipfile.ZipFile(first) as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}


def test_import_of_existing_id_is_refused_and_leaves_nothing(workspace, package, settings):
    configs.import_package(workspace, package, config_id="dup")
    with pytest.raises(Conflict) as err:
        configs.import_package(workspace, package, config_id="dup")
    assert err.value.code == "config_exists"
    leftovers = [p.name for p in (settings.configs_dir / "dup").iterdir() if p.name.startswith(".staging")]
    assert leftovers == [] and len(configs.history(workspace, "dup")) == 1


def test_import_into_existing_config_adds_a_draft(workspace, package):
    version = configs.import_package(workspace, package, into="stock")
    assert version.config_id == "stock" and version.number == 2 and version.status == "draft"


def test_draft_with_errors_cannot_be_published(workspace):
    configs.clone(workspace, "prices@1")
    saved = drafts.write_file(workspace, "prices", "columns/unit_price.py", "def detect_header(:\n", expected_hash=drafts.ANY)
    assert any(d.level == "error" for d in saved.diagnostics)  # validation ran on save
    with pytest.raises(ConfigInvalid) as err:
        configs.publish(workspace, "prices")
    assert err.value.details["diagnostics"] and "columns/unit_price.py" in err.value.message
    assert configs.get_version(workspace, "prices@draft").status == "draft"
    drafts.write_file(workspace, "prices", "columns/unit_price.py", "x = 1\n", expected_hash=drafts.ANY)
    with pytest.raises(ConfigInvalid):  # no detect_* function: still an error
        configs.publish(workspace, "prices")


def test_published_version_is_immutable(workspace):
    with pytest.raises(AdeError) as err:
        drafts.write_file(workspace, "prices@1", "README.md", "x", expected_hash=None)
    assert err.value.code == "version_immutable"
    with pytest.raises(AdeError) as err:
        configs.delete_draft(workspace, "prices@1")
    assert err.value.code == "version_immutable"
    path = Path(configs.get_version(workspace, "prices@1").path) / "manifest.json"
    assert not path.stat().st_mode & 0o222  # read-only on disk


def test_tampered_published_files_are_detected(workspace, tmp_path):
    info = configs.get_version(workspace, "prices@1")
    target = Path(info.path) / "columns" / "sku.py"
    target.chmod(0o644)
    target.write_text(target.read_text() + "\n# sneaky\n")
    (Path(info.path) / "columns").chmod(0o755)
    (Path(info.path) / "columns" / "extra.py").write_text("x = 1\n")
    problems = {p.path: p.problem for p in configs.verify_version(workspace, "prices@1")}
    assert problems == {"columns/sku.py": "modified", "columns/extra.py": "unexpected"}
    for action in (lambda: configs.activate(workspace, "prices@1"),
                   lambda: configs.export_version(workspace, "prices@1", tmp_path / "x.zip"),
                   lambda: drafts.read_file(workspace, "prices@1", "manifest.json"),
                   lambda: configs.clone(workspace, "prices@1")):
        with pytest.raises(AdeError) as err:
            action()
        assert err.value.code == "config_tampered" and "columns/" in err.value.message


def test_archive_restrictions(workspace):
    with pytest.raises(AdeError) as err:
        configs.archive_config(workspace, "prices")  # holds the active version
    assert err.value.code == "config_active"
    configs.clone(workspace, "stock@1")
    configs.archive_config(workspace, "stock")
    assert [c.config_id for c in configs.list_configs(workspace)] == ["prices"]
    assert {c.config_id for c in configs.list_configs(workspace, include_archived=True)} == {"prices", "stock"}
    for action in (lambda: configs.activate(workspace, "stock@1"),
                   lambda: drafts.write_file(workspace, "stock", "README.md", "x", expected_hash=None),
                   lambda: configs.publish(workspace, "stock"),
                   lambda: configs.clone(workspace, "stock@1")):
        with pytest.raises(AdeError) as err:
            action()
        assert err.value.code == "config_archived"
    # Reading and cloning into a new config (the roll-back path) still work.
    assert drafts.read_file(workspace, "stock@1", "manifest.json").text
    configs.clone(workspace, "stock@1", new_config_id="stock-restored")
    configs.unarchive_config(workspace, "stock")
    configs.activate(workspace, "stock@1")


def test_archived_version_cannot_be_activated(workspace):
    configs.archive_config(workspace, "stock@1")
    with pytest.raises(AdeError) as err:
        configs.activate(workspace, "stock@1")
    assert err.value.code == "config_archived"
    with pytest.raises(AdeError) as err:
        configs.archive_config(workspace, "prices@1")
    assert err.value.code == "config_active"


def test_activate_refuses_drafts(workspace):
    draft = configs.clone(workspace, "stock@1")
    with pytest.raises(AdeError) as err:
        configs.activate(workspace, draft.config_version_id)
    assert err.value.code == "version_not_published"


def test_delete_draft_removes_files_and_row(workspace, package):
    draft = configs.import_package(workspace, package)
    configs.delete_draft(workspace, draft.config_version_id)
    assert not Path(draft.path).exists()
    with pytest.raises(NotFound):
        configs.get_version(workspace, draft.config_version_id)
    with pytest.raises(NotFound):  # its config had no other version
        configs.show_config(workspace, draft.config_id)
    kept = configs.clone(workspace, "stock@1")
    configs.delete_draft(workspace, "stock@draft")
    assert not Path(kept.path).exists() and len(configs.history(workspace, "stock")) == 1


def test_create_from_template(workspace):
    draft = configs.create_config(workspace, "fresh", title="Fresh start")
    assert draft.status == "draft" and draft.title == "Fresh start"
    assert (Path(draft.path) / "manifest.json").is_file()
    assert configs.publish(workspace, "fresh").status == "published"
    unnamed = configs.create_config(workspace, "plain")
    assert unnamed.title == "plain"
    with pytest.raises(NotFound):
        configs.create_config(workspace, "other", template="no-such-template")
    with pytest.raises(NotFound):  # nothing half-created
        configs.show_config(workspace, "other")


def test_bad_references_and_ids(workspace):
    with pytest.raises(NotFound):
        configs.get_version(workspace, "nope")
    with pytest.raises(NotFound):
        configs.get_version(workspace, "prices@9")
    with pytest.raises(AdeError) as err:
        configs.get_version(workspace, "prices@newest")
    assert err.value.code == "ref_invalid"
    with pytest.raises(AdeError) as err:
        configs.clone(workspace, "prices@1", new_config_id="Bad Id!")
    assert err.value.code == "config_id_invalid"


def test_zip_with_a_top_folder_imports_its_contents(workspace, tmp_path):
    pkg = write_example_package(tmp_path / "wrapped")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for rel, path in sorted((p.relative_to(pkg).as_posix(), p) for p in pkg.rglob("*") if p.is_file()):
            zf.write(path, f"wrapped/{rel}")
    (tmp_path / "wrapped.zip").write_bytes(buf.getvalue())
    version = configs.import_package(workspace, tmp_path / "wrapped.zip")
    assert version.config_id == "wrapped" and "manifest.json" in version.file_hashes


def test_safe_mode_publishes_on_static_checks_without_running_package_code(tmp_path, samples_dir):
    from ade_engine.services.workspace import open_workspace
    from ade_engine.settings import isolated_settings

    marker = tmp_path / "ran"
    hook = samples_dir / "prices" / "columns" / "unit_price.py"
    hook.write_text(f"open({str(marker)!r}, 'w').close()\n" + hook.read_text())
    with open_workspace(isolated_settings(tmp_path / "data", sample_configs_dir=samples_dir, safe_mode=True)) as ws:
        assert configs.active_version(ws).config_id == "prices"
    assert not marker.exists()
