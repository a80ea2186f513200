"""`init_package`: a fresh package from the bundled template validates clean, statically and dynamically."""

from __future__ import annotations

import json

import pytest

from ade_engine.errors import Conflict, NotFound
from ade_engine.manifest import load_manifest
from ade_engine.packages import init_package, list_templates
from ade_engine.packages.validation import validate


def test_fresh_default_package_validates_clean(tmp_path):
    dest = init_package(tmp_path / "contacts", title="Contacts")
    assert validate(dest, dynamic=True) == []
    manifest = load_manifest(dest)
    assert manifest.info.title == "Contacts"
    assert manifest.columns.order == ["name", "email", "amount"]
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.py")) == [
        "columns/_common.py", "columns/amount.py", "columns/email.py", "columns/name.py",
        "hooks/summary.py", "row_types/known_labels.py"]
    assert not list(dest.rglob("__pycache__"))


def test_title_defaults_to_the_folder_name(tmp_path):
    dest = init_package(tmp_path / "supplier-prices")
    assert json.loads((dest / "manifest.json").read_text())["info"]["title"] == "supplier-prices"


def test_empty_existing_folder_is_accepted(tmp_path):
    (tmp_path / "pkg").mkdir()
    init_package(tmp_path / "pkg")
    assert (tmp_path / "pkg" / "manifest.json").is_file()


def test_refuses_a_non_empty_destination(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "notes.txt").write_text("mine")
    with pytest.raises(Conflict) as info:
        init_package(tmp_path / "pkg")
    assert info.value.code == "package.dest_not_empty"
    assert sorted(p.name for p in (tmp_path / "pkg").iterdir()) == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]  # no half-made staging folder left


def test_unknown_template_lists_the_available_ones(tmp_path):
    with pytest.raises(NotFound) as info:
        init_package(tmp_path / "pkg", template="fancy")
    assert info.value.code == "template.unknown"
    assert "available templates: default" in info.value.message
    assert "default" in list_templates()
    assert not (tmp_path / "pkg").exists()
