"""Start-up: an empty data dir becomes a working workspace; a second start changes nothing."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from ade_engine.services import configs
from ade_engine.services.workspace import DATA_SUBDIRS, open_workspace
from ade_engine.settings import isolated_settings
from ade_engine.store import migrate


def _tree(root: Path) -> dict[str, tuple[int, int, int]]:
    """path -> (mode, size, mtime_ns) for everything but the SQLite files (WAL churns on open)."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(dirpath) / name
            if name.startswith("ade.sqlite"):
                continue
            st = path.lstat()
            out[str(path.relative_to(root))] = (st.st_mode, st.st_size if path.is_file() else 0, st.st_mtime_ns)
    return out


def _rows(db: Path) -> dict[str, list[tuple]]:
    con = sqlite3.connect(db)
    try:
        tables = [r[0] for r in con.execute("select name from sqlite_master where type='table' order by name")]
        return {t: sorted(con.execute(f"select * from {t}").fetchall(), key=repr) for t in tables}
    finally:
        con.close()


def test_first_start_builds_tree_imports_samples_and_activates_one(settings):
    with open_workspace(settings) as ws:
        report = ws.report
        assert report.first_start and report.migrated_to == migrate.HEAD
        assert sorted(report.imported) == ["prices", "stock"] and report.problems == []
        listed = {c.config_id: c for c in configs.list_configs(ws)}
        assert set(listed) == {"prices", "stock"}
        active = configs.active_version(ws)
        assert active is not None and active.config_id == "prices" and active.status == "published"
        assert listed["stock"].latest_published_id and listed["stock"].active_version_id is None
    data = settings.data_dir
    # The permission model: the job account may pass through these, never list them...
    for name in ("", "jobs", "runtime", "envs"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o711, name
    # ...and never enters the others.
    for name in set(DATA_SUBDIRS) - {"jobs", "runtime", "envs"}:
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o700, name
    assert stat.S_IMODE((data / "ade.sqlite").stat().st_mode) == 0o600
    version_dir = data / "configs" / active.config_id / active.config_version_id
    assert (version_dir / "manifest.json").is_file()


def test_second_start_changes_nothing(settings):
    open_workspace(settings).close()
    before_tree, before_rows = _tree(settings.data_dir), _rows(settings.data_dir / "ade.sqlite")
    with open_workspace(settings) as ws:
        assert not ws.report.first_start and ws.report.created_dirs == [] and ws.report.imported == []
        assert ws.report.migrated_to is None
    assert _tree(settings.data_dir) == before_tree
    assert _rows(settings.data_dir / "ade.sqlite") == before_rows


def test_start_without_samples_gives_empty_default_workspace(tmp_path):
    settings = isolated_settings(tmp_path / "data", sample_configs_dir=tmp_path / "nothing-here")
    with open_workspace(settings) as ws:
        assert ws.name == "default" and configs.list_configs(ws) == []
        assert configs.active_version(ws) is None


def test_broken_sample_is_reported_not_fatal(tmp_path, samples_dir):
    (samples_dir / "stock" / "columns" / "sku.py").write_text("def broken(:\n")
    settings = isolated_settings(tmp_path / "data", sample_configs_dir=samples_dir)
    with open_workspace(settings) as ws:
        assert any("stock" in p for p in ws.report.problems)
        assert configs.active_version(ws).config_id == "prices"
        stock = configs.show_config(ws, "stock")
        assert [v.status for v in stock.versions] == ["draft"]


def test_unusable_data_dir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    from ade_engine.errors import AdeError

    with pytest.raises(AdeError) as err:
        open_workspace(isolated_settings(tmp_path / "file" / "sub"))
    assert err.value.code == "data_dir_unusable" and "ADE_DATA_DIR" in err.value.message
