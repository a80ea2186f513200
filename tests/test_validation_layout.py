"""Package layout and identity hashes (config-packages.md §1)."""

from __future__ import annotations

import hashlib
import os
import sys

import pytest
from test_validation_example import write_package

from ade_engine import ENGINE_VERSION
from ade_engine.errors import ConfigInvalid
from ade_engine.packages.layout import (
    content_hash,
    deps_hash,
    file_hashes,
    iter_package_files,
    module_version,
)


def test_content_hash_is_sha256_of_sorted_path_nul_bytes(tmp_path):
    pkg = write_package(tmp_path / "pkg", {"manifest.json": "{}", "columns/b.py": "B", "columns/a.py": "A"})
    expected = hashlib.sha256(b"columns/a.py\0A" + b"columns/b.py\0B" + b"manifest.json\0{}").hexdigest()
    assert content_hash(pkg) == expected


def test_bytecode_does_not_change_identity(tmp_path):
    pkg = write_package(tmp_path / "pkg")
    before = content_hash(pkg)
    (pkg / "columns" / "__pycache__").mkdir()
    (pkg / "columns" / "__pycache__" / "sku.cpython-311.pyc").write_bytes(b"junk")
    (pkg / "stray.pyc").write_bytes(b"junk")
    assert content_hash(pkg) == before
    assert "columns/__pycache__/sku.cpython-311.pyc" not in file_hashes(pkg)


def test_any_byte_or_rename_changes_identity(tmp_path):
    pkg = write_package(tmp_path / "pkg")
    before = content_hash(pkg)
    (pkg / "columns" / "_common.py").write_text((pkg / "columns" / "_common.py").read_text() + " ")
    changed = content_hash(pkg)
    assert changed != before
    (pkg / "columns" / "_common.py").rename(pkg / "columns" / "_common2.py")
    assert content_hash(pkg) not in (before, changed)


def test_symlinks_are_refused_for_identity(tmp_path):
    pkg = write_package(tmp_path / "pkg")
    os.symlink(pkg / "columns" / "sku.py", pkg / "columns" / "_alias.py")
    with pytest.raises(ConfigInvalid) as info:
        list(iter_package_files(pkg))
    assert info.value.code == "package.symlink"


def test_per_file_hashes_and_module_version(tmp_path):
    pkg = write_package(tmp_path / "pkg")
    hashes = file_hashes(pkg)
    data = (pkg / "columns" / "sku.py").read_bytes()
    assert hashes["columns/sku.py"] == hashlib.sha256(data).hexdigest()
    assert module_version(pkg / "columns" / "sku.py") == hashlib.sha256(data).hexdigest()[:12]
    assert sorted(hashes) == list(hashes)


def test_deps_hash(tmp_path):
    pkg = write_package(tmp_path / "pkg")
    assert deps_hash(pkg) is None
    (pkg / "requirements.txt").write_text("# tools\nrequests==2.32.3\n\npython-dateutil==2.9.0  # dates\n")
    first = deps_hash(pkg)
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    payload = f"python-dateutil==2.9.0\nrequests==2.32.3\0python={py}\0engine={ENGINE_VERSION}"
    assert first == hashlib.sha256(payload.encode()).hexdigest()
    # Comments, blank lines and order do not matter; versions, Python and engine do.
    (pkg / "requirements.txt").write_text("python-dateutil==2.9.0\nrequests==2.32.3\n")
    assert deps_hash(pkg) == first
    assert deps_hash(pkg, python_version="3.99") != first
    assert deps_hash(pkg, engine_version="9.9.9") != first
    (pkg / "requirements.txt").write_text("python-dateutil==2.9.0\nrequests==2.32.4\n")
    assert deps_hash(pkg) != first
