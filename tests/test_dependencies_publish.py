"""A package with a requirements.txt, end to end without network: a real wheel built here into a wheelhouse
(ADE_WHEELHOUSE), a column module that imports it, then publish, `ade run`, the artifact's dependency list,
and an offline prepare that cannot find its requirement."""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from pkgfactory import SKU, write_package

from ade_engine.cli.main import main
from ade_engine.errors import AdeError
from ade_engine.jobs.prepare import pip_reason
from ade_engine.services import configs
from ade_engine.services.workspace import open_workspace
from ade_engine.settings import isolated_settings

TIDY_INIT = '''
"""adetidy: shapes product codes (a test dependency)."""
__version__ = "1.0"

def code(value):
    if value is None:
        return None
    return str(value).strip().upper().replace(" ", "-") + "-T"
'''

# The example package's SKU column, whose transform comes from the third-party module.
SKU_WITH_DEPENDENCY = "import adetidy\n" + SKU.replace(
    '''def transform(*, values, **_):
    upper = [None if raw is None else (str(raw).strip().upper() or None) for raw in values]
    return {"values": upper, "warnings": []}''',
    '''def transform(*, values, **_):
    return {"values": [adetidy.code(v) for v in values], "warnings": []}''')


def build_wheel(house: Path, name: str, version: str, files: dict[str, str]) -> Path:
    """A pure-Python wheel written as the format says (a zip with METADATA, WHEEL and a RECORD of hashes):
    the venv has no `wheel` package for `pip wheel`, and nothing may come from the network."""
    dist = f"{name}-{version}.dist-info"
    members = dict(files)
    members[f"{dist}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    members[f"{dist}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: ade-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    members[f"{dist}/top_level.txt"] = "\n".join(sorted({p.split("/")[0] for p in files})) + "\n"
    record = []
    for path, text in members.items():
        data = text.encode("utf-8")
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}/RECORD,,")
    members[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    wheel = house / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, text in members.items():
            zf.writestr(path, text)
    return wheel


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> Path:
    house = tmp_path_factory.mktemp("wheelhouse")
    build_wheel(house, "adetidy", "1.0", {"adetidy/__init__.py": TIDY_INIT})
    return house


def dependent_package(root: Path, requirement: str = "adetidy==1.0") -> Path:
    return write_package(root, files={"columns/sku.py": SKU_WITH_DEPENDENCY, "requirements.txt": requirement + "\n"})


@pytest.fixture
def cli_env(tmp_path, monkeypatch, wheelhouse):
    """`ade` in this process: data dir in tmp_path, offline prepare from the wheelhouse, default sandbox."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ADE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ADE_WHEELHOUSE", str(wheelhouse))
    monkeypatch.setenv("ADE_SAMPLE_CONFIGS_DIR", str(tmp_path / "no-samples"))
    for name in ("ADE_SAFE_MODE", "ADE_SANDBOX"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "prices.csv").write_text("SKU,Unit Price\nA-1001,3.50\nb 2002,4\n", encoding="utf-8")
    return tmp_path


def ade(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------------------------------------- publish
def test_publish_prepares_first_and_the_column_module_imports_the_dependency(cli_env, capsys):
    pkg = dependent_package(cli_env / "pkgs" / "tidy")
    code, out, err = ade(capsys, "config", "import", str(pkg), "--id", "tidy", "--publish")
    assert code == 0, err
    assert "published tidy@1" in out
    # the CLI printed the prepare step as it happened (on stderr)
    assert "prepare: preparing dependencies" in err
    assert "prepare: Successfully installed adetidy-1.0" in err
    assert "prepare: prepared adetidy==1.0" in err
    # the version validates clean against its prepared environment (no import error, no unresolved import)
    code, out, _ = ade(capsys, "config", "validate", "tidy@1", "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"], report
    assert not [d for d in report["diagnostics"] if d["code"] in ("module.import_error", "import.unresolved")]


def test_validating_a_folder_uses_the_environment_a_publish_prepared(cli_env, capsys):
    settings = isolated_settings(cli_env / "data", wheelhouse=Path(str(cli_env / "unused")),
                                 sample_configs_dir=cli_env / "no-samples")
    pkg = dependent_package(cli_env / "pkgs" / "tidy")
    assert ade(capsys, "config", "validate", str(pkg))[0] == 0  # prepares into the data dir once
    # Already prepared: another validation finds the environment and installs nothing (the wheelhouse named
    # here does not even exist).
    lines: list[str] = []
    found = configs.validate_prepared(settings, pkg, on_progress=lines.append)
    assert not [d for d in found if d.level == "error"], found
    assert lines == []


def test_live_validation_uses_a_prepared_environment_but_never_installs(tmp_path, wheelhouse):
    """What the workstation runs on every save of a draft (`prepare=False`)."""
    settings = isolated_settings(tmp_path / "data", wheelhouse=wheelhouse, sample_configs_dir=tmp_path / "none")
    pkg = dependent_package(tmp_path / "tidy")
    heard: list[str] = []
    found = configs.validate_prepared(settings, pkg, prepare=False, on_progress=heard.append)
    assert [d.code for d in found if d.level == "error"] == ["module.import_error"]  # not prepared yet
    assert heard == [] and not (tmp_path / "data" / "envs").exists()
    configs.prepare_package(settings, pkg)
    assert not [d for d in configs.validate_prepared(settings, pkg, prepare=False) if d.level == "error"]


# ----------------------------------------------------------------------------------------------- ade run
def test_ade_run_prepares_once_and_the_artifact_lists_the_dependency(cli_env, capsys):
    from pkgfactory import read_output

    pkg = dependent_package(cli_env / "pkgs" / "tidy")
    code, out, err = ade(capsys, "run", "prices.csv", "--config", str(pkg), "--out", "run1", "--json")
    report = json.loads(out)
    assert code == 0 and report["status"] == "succeeded", (report["error"], report["log_tail"], err)
    artifact = json.loads((cli_env / "run1" / "artifact.json").read_text(encoding="utf-8"))
    assert artifact["environment"]["dependencies"] == ["adetidy==1.0"]
    assert artifact["config"]["deps_hash"]
    rows = read_output(cli_env / "run1" / "normalized.xlsx")
    assert [r[0] for r in rows[1:]] == ["A-1001-T", "B-2002-T"]  # the wheel's code ran inside the job
    events = [json.loads(x) for x in (cli_env / "run1" / "events.ndjson").read_text().splitlines()]
    progress = [e["detail"]["line"] for e in events if e["event"] == "prepare.progress"]
    assert any("Successfully installed adetidy-1.0" in line for line in progress)

    # A second run reuses the environment of that deps_hash: nothing is installed again.
    env_dir = cli_env / "data" / "envs" / artifact["config"]["deps_hash"]
    log_before = (env_dir / "install.log").stat().st_mtime_ns
    code, out, _ = ade(capsys, "run", "prices.csv", "--config", str(pkg), "--out", "run2", "--json")
    assert code == 0, out
    events = [json.loads(x) for x in (cli_env / "run2" / "events.ndjson").read_text().splitlines()]
    assert [e["detail"]["phase"] for e in events if e["event"] == "prepare"] == ["started", "done"]
    assert not [e for e in events if e["event"] == "prepare.progress"]
    assert (env_dir / "install.log").stat().st_mtime_ns == log_before
    artifact = json.loads((cli_env / "run2" / "artifact.json").read_text(encoding="utf-8"))
    assert artifact["environment"]["dependencies"] == ["adetidy==1.0"]


# ----------------------------------------------------------------------------------------------- offline failure
MISSING = "No matching distribution found for adetidy==2.0"


def test_offline_prepare_of_a_requirement_missing_from_the_wheelhouse_says_why(cli_env, capsys, wheelhouse):
    pkg = dependent_package(cli_env / "pkgs" / "tidy2", "adetidy==2.0")

    # ade run: the job fails with prepare_failed and pip's own reason (inside the 400 characters a job keeps)
    code, out, _ = ade(capsys, "run", "prices.csv", "--config", str(pkg), "--out", "run", "--json")
    report = json.loads(out)
    assert code == 1 and report["status"] == "failed"
    assert report["error"]["code"] == "prepare_failed"
    assert MISSING in report["error"]["message"][:400]
    assert "(from versions: 1.0)" in report["error"]["message"][:400]

    # publish: refused with the same reason, and the draft stays a draft
    settings = isolated_settings(cli_env / "data", wheelhouse=wheelhouse, sample_configs_dir=cli_env / "no-samples")
    with open_workspace(settings) as ws:
        draft = configs.import_package(ws, pkg, config_id="tidy2")
        with pytest.raises(AdeError) as err:
            configs.publish(ws, draft.config_version_id)
        assert err.value.code == "prepare_failed"
        assert err.value.message.startswith("pip could not install requirements.txt: Could not find a version")
        assert MISSING in err.value.message and str(wheelhouse) in err.value.message
        assert Path(err.value.details["install_log"]).is_file()
        assert configs.get_version(ws, draft.config_version_id).status == "draft"

    # validating the folder: one error on requirements.txt, with the reason
    code, out, _ = ade(capsys, "config", "validate", str(pkg), "--json")
    report = json.loads(out)
    assert code == 1
    failed = [d for d in report["diagnostics"] if d["code"] == "prepare_failed"]
    assert len(failed) == 1 and failed[0]["path"] == "requirements.txt" and MISSING in failed[0]["message"]


def test_pip_reason_without_error_lines_is_the_last_meaningful_lines():
    output = ("Looking in links: /wheels\nProcessing ./x.whl\nInstalling collected packages: x\n"
              "Killed\n\n")
    assert pip_reason(output) == "Processing ./x.whl; Installing collected packages: x; Killed"
