"""`ade run` on hostile or broken inputs and packages: a clear error or diagnostic, and no half-written output.

Every case goes through the real CLI in a subprocess, the way a user meets it.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from openpyxl import load_workbook

import badfiles

ROSTER = "member_roster"


def _outputs(out: Path) -> list[str]:
    """Output-like files left in a job dir (a refusal must leave none)."""
    if not out.exists():
        return []
    return sorted(p.name for p in out.rglob("*") if p.name.startswith("normalized") or p.suffix == ".partial")


def _refusal(proc) -> dict:
    assert proc.returncode != 0
    return json.loads(proc.stdout)["error"]


@pytest.mark.parametrize(
    ("build", "code", "words"),
    [
        (lambda d: badfiles.not_a_workbook(d, "pdf"), "input_unsupported", "pdf"),
        (badfiles.encrypted_workbook, "input_unsupported", "password"),
        (badfiles.legacy_xls, "input_unsupported", ".xls"),
        (badfiles.empty_file, "input_unreadable", "empty"),
        (badfiles.zip_bomb, "input_unreadable", "ADE_INPUT_MAX_RATIO"),
    ],
    ids=["pdf-named-xlsx", "encrypted", "legacy-xls", "empty", "zip-bomb"],
)
def test_bad_inputs_are_refused_with_a_reason_and_nothing_written(tmp_path, run_ade, sample_configs, build, code, words):
    src = build(tmp_path)
    out = tmp_path / "out"
    proc = run_ade("run", src, "--config", sample_configs / ROSTER, "--out", out, "--json")
    err = _refusal(proc)
    assert err["code"] == code
    assert words.lower() in err["message"].lower()
    assert src.name in err["message"]  # says which file
    assert _outputs(out) == []

    # Without --json the same refusal is one line on stderr, with the code.
    plain = run_ade("run", src, "--config", sample_configs / ROSTER, "--out", tmp_path / "out2")
    assert plain.returncode != 0
    lines = [line for line in plain.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and code in lines[0]


def test_sheet_claiming_a_huge_used_range_reads_only_real_cells(tmp_path, run_ade, sample_configs):
    src = badfiles.huge_dimension(tmp_path, rows=50)
    out = tmp_path / "out"
    proc = run_ade("run", src, "--config", sample_configs / ROSTER, "--out", out, "--json")
    assert proc.returncode == 0, proc.stderr
    art = json.loads((out / "artifact.json").read_text())
    table = art["sheets"][0]["tables"][0]
    assert table["range"] == "A1:B51"
    assert art["output"]["rows_written"] == 50


def test_windows_1252_csv_keeps_its_accents(tmp_path, run_ade, sample_configs):
    src = badfiles.csv_windows_1252(tmp_path)
    out = tmp_path / "out"
    proc = run_ade("run", src, "--config", sample_configs / ROSTER, "--out", out, "--json")
    assert proc.returncode == 0, proc.stderr
    art = json.loads((out / "artifact.json").read_text())
    assert art["input"]["encoding"] == "windows-1252"
    cells = [c for row in load_workbook(out / "normalized.xlsx", read_only=True).active.iter_rows(values_only=True)
             for c in row if isinstance(c, str)]
    assert "Montréal" in cells


def _copy_roster(tmp_path: Path, sample_configs: Path) -> Path:
    pkg = tmp_path / "pkg"
    shutil.copytree(sample_configs / ROSTER, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    return pkg


def test_package_with_a_syntax_error_is_refused_naming_file_and_line(tmp_path, run_ade, sample_configs):
    pkg = _copy_roster(tmp_path, sample_configs)
    script = pkg / "columns" / "email.py"
    script.write_text(script.read_text() + "\ndef broken(:\n    pass\n")
    broken_line = len(script.read_text().splitlines()) - 1
    out = tmp_path / "out"
    proc = run_ade("run", sample_configs / "inputs" / "roster_clean.xlsx", "--config", pkg, "--out", out)
    assert proc.returncode != 0
    assert "config_invalid" in proc.stderr
    assert re.search(rf"columns/email\.py.*{broken_line}", proc.stderr), proc.stderr
    assert _outputs(out) == []


def test_positional_signature_is_refused_with_the_fix(tmp_path, run_ade, sample_configs):
    pkg = _copy_roster(tmp_path, sample_configs)
    (pkg / "columns" / "email.py").write_text(
        (pkg / "columns" / "email.py").read_text()
        + "\n\ndef detect_positional(header, field_name, **_):\n    return {'scores': {}}\n"
    )
    proc = run_ade("run", sample_configs / "inputs" / "roster_clean.xlsx", "--config", pkg,
                   "--out", tmp_path / "out")
    assert proc.returncode != 0
    assert "signature.positional" in proc.stderr or "keyword-only" in proc.stderr
    assert "columns/email.py" in proc.stderr


def test_script_that_raises_is_contained_as_a_rule_error(tmp_path, run_ade, sample_configs):
    pkg = _copy_roster(tmp_path, sample_configs)
    email = pkg / "columns" / "email.py"
    # A later definition replaces the real transform: it blows up on every chunk; the job must still succeed.
    email.write_text(email.read_text() + "\n\ndef transform(*, values, **_):\n    raise ValueError('boom')\n")
    out = tmp_path / "out"
    proc = run_ade("run", sample_configs / "inputs" / "roster_clean.xlsx", "--config", pkg, "--out", out, "--json")
    assert proc.returncode == 0, proc.stderr
    art = json.loads((out / "artifact.json").read_text())
    errs = [e for e in art["rule_errors"] if e["rule"] == "columns.email:transform"]
    assert errs and errs[0]["kind"] == "exception" and errs[0]["level"] == "error"
    assert "columns/email.py" in errs[0]["message"]
    assert (out / "normalized.xlsx").exists()


def _stable(art: dict) -> dict:
    """The artifact minus what may differ between runs (pipeline.md §10)."""
    art = json.loads(json.dumps(art))
    for key in ("job_id", "trace_id", "started_at", "completed_at"):
        art["job"].pop(key, None)
    art["config"].pop("config_version_id", None)
    art["engine"].pop("sandbox", None)
    for sheet in art["sheets"]:
        sheet.pop("read_mode", None)
    for entry in art["pass_history"]:
        for key in ("started_at", "completed_at", "duration_ms"):
            entry.pop(key, None)
    for note in art["annotations"]:
        note.pop("annotated_at", None)
    return art


def test_two_runs_give_identical_artifacts_and_workbooks(tmp_path, run_ade, sample_configs):
    src = sample_configs / "inputs" / "roster_messy.xlsx"
    arts, sheets = [], []
    for name in ("a", "b"):
        out = tmp_path / name
        proc = run_ade("run", src, "--config", sample_configs / ROSTER, "--out", out, "--json")
        assert proc.returncode == 0, proc.stderr
        arts.append(_stable(json.loads((out / "artifact.json").read_text())))
        wb = load_workbook(out / "normalized.xlsx", read_only=True)
        sheets.append([list(r) for r in wb.active.iter_rows(values_only=True)])
    assert arts[0] == arts[1]
    assert sheets[0] == sheets[1]
