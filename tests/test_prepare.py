"""Prepare (jobs.md §5.1): pip --target into envs/<deps_hash>/vendor, offline from a wheelhouse built here."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from ade_engine.errors import AdeError
from ade_engine.jobs.prepare import ensure_prepared
from ade_engine.settings import isolated_settings


def _build_wheel(house: Path) -> Path:
    """A wheel of `adetiny==1.0` written by hand (the venv has no `wheel` for `pip wheel`; the format is a zip)."""
    import base64
    import hashlib
    import zipfile

    files = {
        "adetiny/__init__.py": "VALUE = 42\n",
        "adetiny-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: adetiny\nVersion: 1.0\n",
        "adetiny-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: ade-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        "adetiny-1.0.dist-info/top_level.txt": "adetiny\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    record.append("adetiny-1.0.dist-info/RECORD,,")
    files["adetiny-1.0.dist-info/RECORD"] = "\n".join(record) + "\n"
    wheel = house / "adetiny-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return wheel


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> Path:
    """A local wheelhouse with a tiny pure-Python package `adetiny==1.0` (no network)."""
    house = tmp_path_factory.mktemp("wheelhouse")
    _build_wheel(house)
    return house


def package(tmp_path: Path, requirements: str) -> Path:
    pkg = tmp_path / "pkg"
    pkg.mkdir(exist_ok=True)
    (pkg / "requirements.txt").write_text(requirements)
    return pkg


def test_installs_once_into_vendor_with_freeze_log_and_build_json(tmp_path, wheelhouse):
    settings = isolated_settings(tmp_path / "data", wheelhouse=wheelhouse)
    vendor = ensure_prepared(settings, package(tmp_path, "adetiny==1.0\n"), "a" * 64)
    env = tmp_path / "data" / "envs" / ("a" * 64)
    assert vendor == env / "vendor"
    assert (vendor / "adetiny" / "__init__.py").read_text() == "VALUE = 42\n"
    assert "adetiny==1.0" in (env / "freeze.txt").read_text()
    assert "--no-index" in (env / "install.log").read_text()
    build = json.loads((env / "build.json").read_text())
    assert build["deps_hash"] == "a" * 64 and build["python_version"].startswith("3.")
    assert {"engine_version", "prepared_at"} <= set(build)
    assert not [p for p in env.parent.iterdir() if p.name.startswith(".prepare-")]  # no temp dir left
    # Second call: nothing installed again (the log is the first one's)
    log_before = (env / "install.log").stat().st_mtime_ns
    assert ensure_prepared(settings, tmp_path / "pkg", "a" * 64) == vendor
    assert (env / "install.log").stat().st_mtime_ns == log_before


def test_nothing_to_prepare_without_requirements(tmp_path):
    settings = isolated_settings(tmp_path / "data")
    (tmp_path / "pkg").mkdir()
    assert ensure_prepared(settings, tmp_path / "pkg", None) is None
    assert ensure_prepared(settings, tmp_path / "pkg", "b" * 64) is None


def test_failure_is_prepare_failed_with_the_log_tail_and_leaves_nothing(tmp_path, wheelhouse):
    settings = isolated_settings(tmp_path / "data", wheelhouse=wheelhouse)
    with pytest.raises(AdeError) as err:
        ensure_prepared(settings, package(tmp_path, "no-such-package-ade==9.9\n"), "c" * 64)
    assert err.value.code == "prepare_failed"
    assert "no-such-package-ade" in err.value.message  # pip's own words, from the log tail
    assert "ADE_WHEELHOUSE" in err.value.message
    envs = tmp_path / "data" / "envs"
    assert not (envs / ("c" * 64)).exists()
    assert (envs / f"{'c' * 64}.failed.log").is_file()
    assert not [p for p in envs.iterdir() if p.name.startswith(".prepare-")]


def test_concurrent_prepares_of_one_hash_install_once(tmp_path, wheelhouse):
    settings = isolated_settings(tmp_path / "data", wheelhouse=wheelhouse)
    pkg = package(tmp_path, "adetiny==1.0\n")
    results, errors = [], []

    def go():
        try:
            results.append(ensure_prepared(settings, pkg, "d" * 64))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1
    assert (results[0] / "adetiny").is_dir()
