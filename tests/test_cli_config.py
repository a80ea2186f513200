"""`ade config …` as a user types it: real data dir in tmp_path, real SQLite, real zips."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ade_engine.cli.main import main

sys.path.insert(0, str(Path(__file__).parent / "services"))
from example_package import write_example_package  # noqa: E402


@pytest.fixture
def env(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("ADE_"):
            monkeypatch.delenv(name)
    samples = tmp_path / "samples"
    write_example_package(samples / "prices", title="Supplier prices")
    monkeypatch.setenv("ADE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ADE_SAMPLE_CONFIGS_DIR", str(samples))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def ade(capsys, *argv: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        import io

        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_and_show_json(env, capsys):
    code, out, _ = ade(capsys, "config", "list", "--json")
    doc = json.loads(out)
    assert code == 0 and [c["config_id"] for c in doc["configs"]] == ["prices"]
    assert doc["active"]["config_id"] == "prices"
    code, out, _ = ade(capsys, "config", "show", "prices@1", "--json")
    assert code == 0 and json.loads(out)["status"] == "published"
    code, out, _ = ade(capsys, "config", "history", "prices")
    assert code == 0 and "@1" in out and "published active" in out


def test_draft_edit_cycle(env, capsys, monkeypatch):
    assert ade(capsys, "config", "clone", "prices@1")[0] == 0
    code, out, _ = ade(capsys, "config", "cat", "prices", "manifest.json", "--json")
    read = json.loads(out)
    new_text = read["text"].replace("Supplier prices", "Supplier prices v2")
    code, out, err = ade(capsys, "config", "write", "prices", "manifest.json", "--expect-hash", read["sha256"],
                         "--json", stdin=new_text, monkeypatch=monkeypatch)
    assert code == 0, err
    written = json.loads(out)
    # A second writer still holding the old hash is refused, with both hashes in the error object.
    code, out, _ = ade(capsys, "config", "write", "prices", "manifest.json", "--expect-hash", read["sha256"],
                       "--json", stdin="{}", monkeypatch=monkeypatch)
    error = json.loads(out)["error"]
    assert code != 0 and error["code"] == "conflict"
    assert error["details"] == {"path": "manifest.json", "expected": read["sha256"], "actual": written["sha256"]}
    code, out, _ = ade(capsys, "config", "diff", "prices")
    assert code == 0 and "+    \"title\": \"Supplier prices v2\"" in out
    code, out, _ = ade(capsys, "config", "files", "prices", "--json")
    assert "manifest.json" in [f["path"] for f in json.loads(out)["files"]]
    assert ade(capsys, "config", "publish", "prices")[0] == 0
    code, out, _ = ade(capsys, "config", "activate", "prices", "--json")
    assert code == 0 and json.loads(out)["version"]["number"] == 2


def test_export_import_round_trip(env, capsys):
    assert ade(capsys, "config", "export", "prices@1", "-o", "one.zip")[0] == 0
    code, out, _ = ade(capsys, "config", "import", "one.zip", "--id", "copy", "--activate", "--json")
    assert code == 0 and json.loads(out)["active"] is True
    assert ade(capsys, "config", "export", "copy", "-o", "two.zip")[0] == 0
    assert (env / "one.zip").read_bytes() == (env / "two.zip").read_bytes()


def test_errors_are_one_line_and_nonzero(env, capsys):
    code, out, err = ade(capsys, "config", "activate", "nope")
    assert code != 0 and out == "" and err.count("\n") == 1 and err.startswith("error: ")
    code, out, err = ade(capsys, "config", "activate", "nope", "--json")
    error = json.loads(out)["error"]
    assert code != 0 and error["code"] == "not_found" and set(error) == {"code", "message", "details"}


def test_archive_blocks_activation(env, capsys):
    ade(capsys, "config", "import", str(write_example_package(env / "other")), "--publish")
    code, _, err = ade(capsys, "config", "archive", "prices")
    assert code != 0 and "active" in err
    assert ade(capsys, "config", "archive", "other")[0] == 0
    code, out, _ = ade(capsys, "config", "activate", "other", "--json")
    assert code != 0 and json.loads(out)["error"]["code"] == "config_archived"
    assert ade(capsys, "config", "unarchive", "other")[0] == 0
    assert ade(capsys, "config", "activate", "other")[0] == 0


def test_validate_a_folder_without_a_database(env, capsys, monkeypatch):
    monkeypatch.setenv("ADE_DATA_DIR", str(env / "never-created"))
    pkg = write_example_package(env / "pkg")
    code, out, _ = ade(capsys, "config", "validate", str(pkg), "--json")
    assert code == 0 and json.loads(out)["ok"] is True
    (pkg / "columns" / "sku.py").write_text("def detect_x(:\n")
    code, out, _ = ade(capsys, "config", "validate", str(pkg))
    assert code == 1 and "columns/sku.py" in out and "error" in out
    assert not (env / "never-created").exists()


def test_unsafe_import_is_refused(env, capsys):
    import zipfile

    with zipfile.ZipFile(env / "evil.zip", "w") as zf:
        zf.writestr("manifest.json", "{}")
        zf.writestr("../../evil.py", "x")
    code, out, _ = ade(capsys, "config", "import", "evil.zip", "--json")
    assert code != 0 and json.loads(out)["error"]["code"] == "archive_unsafe"


def test_bad_settings_are_one_clear_line(env, capsys, monkeypatch):
    monkeypatch.setenv("ADE_MAX_CONCURRENCY", "zero")
    code, _, err = ade(capsys, "config", "list")
    assert code != 0 and "ADE_MAX_CONCURRENCY" in err and err.count("\n") == 1


def test_real_subprocess(env):
    cmd = [sys.executable, "-m", "ade_engine.cli.main", "config"]
    ok = subprocess.run(cmd + ["list", "--json"], capture_output=True, text=True, env=os.environ.copy(), check=False)
    assert ok.returncode == 0 and json.loads(ok.stdout)["configs"][0]["config_id"] == "prices"
    bad = subprocess.run(cmd + ["publish", "prices"], capture_output=True, text=True, env=os.environ.copy(), check=False)
    assert bad.returncode != 0 and bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1


def test_init_then_validate_a_new_package(env, capsys):
    code, out, err = ade(capsys, "config", "init", "newpkg", "--json")
    assert code == 0, err
    assert json.loads(out)["path"].endswith("newpkg")
    code, out, _ = ade(capsys, "config", "validate", "newpkg", "--json")
    assert code == 0 and json.loads(out)["ok"] is True
    code, _, err = ade(capsys, "config", "init", "newpkg")
    assert code != 0 and "not an empty folder" in err
    code, out, _ = ade(capsys, "config", "create", "fresh", "--json")
    assert code == 0 and json.loads(out)["status"] == "draft"
