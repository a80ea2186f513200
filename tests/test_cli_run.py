"""`ade run` as a user types it: refusals with one-line errors, exit codes, summary and --json."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from ade_engine.cli.main import main

MANIFEST = {
    "config_script_api_version": "1",
    "info": {"schema": "ade.manifest/v1.0", "title": "Tiny", "version": "1.0.0"},
    "engine": {"defaults": {"timeout_ms": 20000}},
    "columns": {"order": ["name"], "meta": {"name": {"label": "Name", "script": "columns/name.py"}}},
}
NAME_PY = '''
def detect_header(*, header, field_name, **_):
    return {"scores": {field_name: 1.0 if (header or "").strip().lower() == "name" else 0.0}}
'''
HEADER_PY = '''
def detect_text(*, row_values_sample, **_):
    texts = [v for v in row_values_sample if isinstance(v, str)]
    return {"scores": {"header": 0.5 if texts and all(t.isalpha() for t in texts) else 0.0}}
'''


def write_package(root: Path, manifest: dict | None = None) -> Path:
    pkg = root / "tiny_pkg"
    (pkg / "columns").mkdir(parents=True)
    (pkg / "row_types").mkdir()
    (pkg / "manifest.json").write_text(json.dumps(manifest or MANIFEST))
    (pkg / "columns" / "name.py").write_text(NAME_PY)
    (pkg / "row_types" / "header.py").write_text(HEADER_PY)
    return pkg


@pytest.fixture
def world(tmp_path, monkeypatch):
    """A working folder with one CSV and one valid package; the settings point at tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ADE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ADE_SAFE_MODE", raising=False)
    monkeypatch.delenv("ADE_SANDBOX", raising=False)
    if os.geteuid() == 0:  # decision 11: root runs jobs only with ADE_JOB_USER (privilege drop: job-user work)
        monkeypatch.setenv("ADE_JOB_USER", "nobody")
    (tmp_path / "people.csv").write_text("Name,Age\nAnn,31\nBob,42\n")
    return tmp_path, write_package(tmp_path)


@pytest.fixture
def stub_pipeline(world, monkeypatch):
    """Replace the job process's pipeline by a stand-in (the real one is tested where it lives)."""
    tmp_path, _pkg = world
    stub = tmp_path / "stub_pipeline.py"
    wrapper = (
        "import sys, types\n"
        "mod = types.ModuleType('ade_engine.runtime.pipeline')\n"
        "exec(open(sys.argv[1]).read(), mod.__dict__)\n"
        "sys.modules[mod.__name__] = mod\n"
        "from ade_engine.runtime.bootstrap import main\n"
        "sys.exit(main())\n"
    )
    import ade_engine.jobs.launcher as launcher

    monkeypatch.setattr(launcher, "DEFAULT_COMMAND", (sys.executable, "-s", "-P", "-B", "-c", wrapper, str(stub)))
    monkeypatch.setenv("ADE_SANDBOX", "reduced")  # the stand-in lives outside what bubblewrap mounts

    def use(src: str) -> None:
        stub.write_text(textwrap.dedent(src))

    return use


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["run", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_missing_input_is_refused_with_one_line(world, capsys):
    tmp_path, pkg = world
    rc, out, err = run(capsys, "nope.csv", "--config", str(pkg))
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: input_unreadable: input nope.csv does not exist")
    assert not (tmp_path / "ade-out").exists()


def test_unsupported_input_is_refused_before_anything_is_written(world, capsys):
    tmp_path, pkg = world
    (tmp_path / "old.xls").write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + b"\0" * 600)
    rc, _out, err = run(capsys, "old.xls", "--config", str(pkg))
    assert rc == 2 and err.startswith("error: input_unsupported: ") and err.count("\n") == 1
    assert not (tmp_path / "ade-out").exists()


def test_invalid_package_lists_the_first_problems(world, capsys):
    tmp_path, pkg = world
    (pkg / "columns" / "name.py").unlink()
    rc, _out, err = run(capsys, "people.csv", "--config", str(pkg))
    assert rc == 2 and err.startswith("error: config_invalid: package ")
    assert "columns/name.py" in err and err.count("\n") == 1
    assert not (tmp_path / "ade-out").exists()


def test_package_requesting_secrets_is_refused(world, capsys):
    tmp_path, _pkg = world
    manifest = json.loads(json.dumps(MANIFEST))
    manifest["secrets"] = ["API_TOKEN"]
    manifest["columns"]["meta"]["name"]["secrets"] = ["API_TOKEN"]
    other = tmp_path / "with_secrets"
    other.mkdir()
    pkg = write_package(other, manifest)
    rc, out, _err = run(capsys, "people.csv", "--config", str(pkg), "--json")
    assert rc == 2
    assert json.loads(out)["error"]["code"] == "secrets_unavailable"


def test_non_empty_out_dir_is_refused_and_left_alone(world, capsys):
    tmp_path, pkg = world
    out_dir = tmp_path / "results"
    out_dir.mkdir()
    (out_dir / "keep.txt").write_text("mine")
    rc, _out, err = run(capsys, "people.csv", "--config", str(pkg), "--out", str(out_dir))
    assert rc == 2 and err.startswith("error: out_dir_not_empty: ") and "--force" in err
    assert sorted(p.name for p in out_dir.iterdir()) == ["keep.txt"]


def test_successful_run_prints_a_summary_and_exits_0(world, stub_pipeline, capsys):
    tmp_path, pkg = world
    stub_pipeline('''
        import json
        def run_pipeline(request, secrets, job_dir, cancel):
            art = {"job": {"job_id": request["job_id"], "status": "succeeded"},
                   "sheets": [{"name": "people", "tables": [{"id": "sheet_1.table_1", "range": "A1:B3",
                      "data_row_count": 2, "header": {"kind": "raw"},
                      "mapping": [{"raw": {"column": "A", "header": "Name"}, "target_field": "name",
                                   "score": 1.0, "decision": "mapped"},
                                  {"raw": {"column": "B", "header": "Age"}, "target_field": None,
                                   "score": 0.0, "decision": "unmapped_no_signal"}]}]}],
                   "summary": {"errors": 0, "warnings": 1, "infos": 0, "rows_written": 2},
                   "output": {"path": "normalized.xlsx"}, "rule_errors": [], "warnings": []}
            (job_dir / "artifact.json").write_text(json.dumps(art))
            (job_dir / "normalized.xlsx").write_bytes(b"PK")
            return {"schema": "ade.run_result/v1", "status": "succeeded", "error": None,
                    "stats": {"rows_written": 2, "tables": 1, "issues_found": 1}, "duration_ms": 5}
    ''')
    rc, out, err = run(capsys, "people.csv", "--config", str(pkg))
    assert rc == 0, err
    job_dir = tmp_path / "ade-out" / "people"
    assert "succeeded" in out and "A1:B3" in out
    assert "Name" in out and "→ name (score 1.00)" in out
    assert "unmapped: unmapped no signal" in out
    assert "1 warnings" in out and str(job_dir / "normalized.xlsx") in out
    assert (job_dir / "normalized.xlsx").exists() and (job_dir / "inputs" / "01_people.csv").exists()
    assert not (job_dir / "tmp").exists()
    req = json.loads((job_dir / "run-request.json").read_text())
    assert req["config_version_id"].startswith("draft:") and req["input"]["document_id"] is None
    assert req["config_id"] == "tiny_pkg" and req["limits"]["timeout_s"] == 20 and "secrets" not in req

    # The same folder again: refused, then accepted with --force (one JSON object on stdout).
    assert run(capsys, "people.csv", "--config", str(pkg))[0] == 2
    rc, out, _err = run(capsys, "people.csv", "--config", str(pkg), "--force", "--json")
    rep = json.loads(out)
    assert rc == 0 and rep["status"] == "succeeded" and rep["tables"][0]["mapping"][0]["target_field"] == "name"


def test_failed_job_exits_non_zero_with_code_and_message(world, stub_pipeline, capsys):
    tmp_path, pkg = world
    stub_pipeline('''
        def run_pipeline(request, secrets, job_dir, cancel):
            (job_dir / "normalized.xlsx").write_bytes(b"PK")
            return {"schema": "ade.run_result/v1", "status": "failed", "stats": {}, "duration_ms": 5,
                    "error": {"code": "rule_error", "message": "columns/name.py:detect_header raised", "stage": "mapping"}}
    ''')
    rc, _out, err = run(capsys, "people.csv", "--config", str(pkg))
    assert rc == 1
    assert err.strip().splitlines()[-1] == "error: rule_error: columns/name.py:detect_header raised"
    job_dir = tmp_path / "ade-out" / "people"
    assert not (job_dir / "normalized.xlsx").exists() and (job_dir / "normalized.incomplete.xlsx").exists()


def test_real_pipeline_end_to_end(world, capsys):
    pytest.importorskip("ade_engine.runtime.pipeline")
    tmp_path, pkg = world
    rc, out, err = run(capsys, "people.csv", "--config", str(pkg), "--json")
    rep = json.loads(out)
    assert rc == 0, (rep.get("error"), rep.get("log_tail"))
    assert rep["output"] and Path(rep["output"]).is_file()
