"""The sample config packages, their sample inputs, and `ade run` end to end over every input.

Expectations come from sample_configs/make_inputs.py — the same truth records the inputs were written
from — never from what an engine printed.
"""

from __future__ import annotations

import csv
import importlib
import importlib.util
import io
import json
import re
import sys
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_configs"
PACKAGES = ["member_roster", "payroll_remittance"]
ALLOWED_ROOT = {"manifest.json", "columns", "row_types", "hooks", "requirements.txt", "README.md"}



def _load_make_inputs():
    spec = importlib.util.spec_from_file_location("sample_make_inputs", SAMPLES / "make_inputs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_inputs = _load_make_inputs()
INPUT_NAMES = list(make_inputs.BUILDERS)


@pytest.fixture(scope="module")
def expected(tmp_path_factory):
    """{input name: expectation} — built from the generator into a throw-away folder."""
    return make_inputs.build_all(tmp_path_factory.mktemp("regenerated"))


# --------------------------------------------------------------------------- helpers


@contextmanager
def package_on_path(pkg: Path):
    """Import a package's scripts the way the engine does (root on sys.path), then forget them.

    Both packages have `columns`, `row_types` and `hooks`; purging keeps one from shadowing the other.
    """
    def purge():
        for name in list(sys.modules):
            if name.split(".")[0] in ("columns", "row_types", "hooks"):
                del sys.modules[name]

    purge()
    sys.path.insert(0, str(pkg))
    try:
        yield lambda dotted: importlib.import_module(dotted)
    finally:
        sys.path.remove(str(pkg))
        purge()


def manifest_of(pkg_name):
    return json.loads((SAMPLES / pkg_name / "manifest.json").read_text(encoding="utf-8"))


def as_date(value):
    return value.date() if isinstance(value, datetime) else value


def same_value(got, want):
    if isinstance(want, float):
        return isinstance(got, (int, float)) and abs(got - want) < 0.005
    if isinstance(want, date):
        return as_date(got) == want
    if isinstance(want, int) and not isinstance(want, bool):
        return isinstance(got, (int, float)) and got == want
    return got == want


def sheet_cells(path: Path):
    wb = openpyxl.load_workbook(path)
    try:
        return [(ws.title, ws.sheet_state, sorted(str(r) for r in ws.merged_cells.ranges),
                 [[c.value for c in row] for row in ws.iter_rows()]) for ws in wb.worksheets]
    finally:
        wb.close()


# --------------------------------------------------------------------------- inputs


def test_committed_inputs_match_the_generator(expected, tmp_path):
    fresh = tmp_path / "fresh"
    make_inputs.build_all(fresh)
    committed = SAMPLES / "inputs"
    assert sorted(p.name for p in committed.iterdir() if p.name != "README.md") == sorted(INPUT_NAMES)
    for name in INPUT_NAMES:
        if name.endswith(".csv"):
            assert (committed / name).read_bytes() == (fresh / name).read_bytes(), name
        else:
            assert sheet_cells(committed / name) == sheet_cells(fresh / name), f"{name}: re-run make_inputs.py"


def test_inputs_are_small_and_documented():
    readme = (SAMPLES / "inputs" / "README.md").read_text(encoding="utf-8")
    for name in INPUT_NAMES:
        assert name in readme, f"{name} is not described in inputs/README.md"
        path = SAMPLES / "inputs" / name
        if name.endswith(".csv"):
            rows = len(path.read_bytes().splitlines())
        else:
            wb = openpyxl.load_workbook(path, read_only=True)
            rows = max((ws.max_row or 0) for ws in wb.worksheets)
            wb.close()
        assert rows < 200, name


def test_roster_messy_has_the_promised_mess():
    wb = openpyxl.load_workbook(SAMPLES / "inputs" / "roster_messy.xlsx")
    roster, former = wb["Roster"], wb["Former members"]
    assert former.sheet_state == "hidden"
    assert "F4:G4" in {str(r) for r in roster.merged_cells.ranges}          # "Contact" over Email/Phone
    assert roster["F4"].value == "Contact" and roster["F26"].value == "Contact"  # page-break repeat
    assert roster["A2"].value.startswith("Exported 2025-")
    assert roster["A41"].value == "Total members"
    assert all(c.value is None for c in roster[14])                         # blank row inside data


def test_roster_csv_is_a_windows_1252_semicolon_export():
    raw = (SAMPLES / "inputs" / "roster_export.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("cp1252")
    records = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    assert records[0][0] == "Member # " and all(h.endswith(" ") for h in records[0])
    assert any("\n" in cell for row in records for cell in row)
    assert "FRANÇOIS" in text and "Müller" in text
    assert len(records) == 13 and all(len(r) == 8 for r in records)


# --------------------------------------------------------------------------- packages


@pytest.mark.parametrize("pkg_name", PACKAGES)
def test_package_root_holds_only_allowed_entries(pkg_name):
    pkg = SAMPLES / pkg_name
    entries = {p.name for p in pkg.iterdir() if p.name != "__pycache__"}
    assert entries <= ALLOWED_ROOT
    assert {"manifest.json", "columns", "row_types", "README.md"} <= entries
    manifest = manifest_of(pkg_name)
    assert manifest["info"]["schema"] == "ade.manifest/v1.0"
    assert manifest["config_script_api_version"] == "1"
    assert set(manifest["columns"]["meta"]) == set(manifest["columns"]["order"])


@pytest.mark.parametrize("pkg_name", PACKAGES)
def test_sample_packages_pass_static_validation(pkg_name):
    validation = pytest.importorskip("ade_engine.packages.validation")
    found = validation.validate_static(SAMPLES / pkg_name)
    assert [d for d in found if d.level == "error"] == []


@pytest.mark.parametrize("pkg_name", PACKAGES)
def test_sample_packages_pass_dynamic_validation(pkg_name):
    validation = pytest.importorskip("ade_engine.packages.validation")
    if not hasattr(validation, "validate_dynamic"):
        pytest.skip("validate_dynamic not built yet")
    found = validation.validate_dynamic(SAMPLES / pkg_name)
    assert [d for d in found if d.level == "error"] == []


def call(fn, **kwargs):
    base = dict(job_id="01TEST", source_file="x.xlsx", sheet_name="S", table_id="sheet_1.table_1",
                column_id="sheet_1.table_1.col_1", column_index=1, header=None, row_offset=0,
                manifest={}, env={}, artifact={}, secrets={})
    base.update(kwargs)
    return fn(**base)


def test_roster_transforms_normalize_messy_values():
    manifest = manifest_of("member_roster")
    meta, env = manifest["columns"]["meta"], manifest["env"]
    with package_on_path(SAMPLES / "member_roster") as load:
        hire = load("columns.hire_date")
        out = call(hire.transform, values=[datetime(2021, 3, 15), 44270, "03/15/2021", "15.03.2021",
                                           "15-Mar-2021", "March 15, 2021", "31/12/2019", "TBD", None],
                   field_name="hire_date", field_meta=meta["hire_date"], env=env)
        assert out["values"][:6] == [date(2021, 3, 15)] * 6
        assert out["values"][6:] == [date(2019, 12, 31), "TBD", None]
        assert out["warnings"] == ["1 value(s) are not dates"]
        issues = call(hire.validate, values=out["values"], field_name="hire_date", field_meta=meta["hire_date"],
                      env=env)["issues"]
        assert [(i["row_index"], i["code"]) for i in issues] == [(8, "invalid_format")]

        status = load("columns.status")
        out = call(status.transform, values=["ACTIVE", "loa", "Terminated", " on leave ", "Suspended", None],
                   field_name="status", field_meta=meta["status"])
        assert out["values"] == ["Active", "On Leave", "Inactive", "On Leave", "Suspended", None]

        first = load("columns.first_name")
        out = call(first.transform, values=["  JEAN-LUC ", "o'brien", "McDonald", None],
                   field_name="first_name", field_meta=meta["first_name"])
        assert out["values"] == ["Jean-Luc", "O'Brien", "McDonald", None]

        member_id = load("columns.member_id")
        values = call(member_id.transform, values=["m10001", " M 10002 ", "M-10001", 10016],
                      field_name="member_id", field_meta=meta["member_id"])["values"]
        assert values == ["M-10001", "M-10002", "M-10001", "10016"]
        issues = call(member_id.validate, values=values, field_name="member_id",
                      field_meta=meta["member_id"])["issues"]
        assert {(i["row_index"], i["code"]) for i in issues} == {(3, "duplicate_value"), (4, "pattern_mismatch")}


def test_roster_row_detectors_tell_titles_headers_data_and_totals_apart():
    manifest = manifest_of("member_roster")
    with package_on_path(SAMPLES / "member_roster") as load:
        detectors = [fn for mod in ("row_types.header", "row_types.data", "row_types.total")
                     for name, fn in vars(load(mod)).items() if name.startswith("detect_")]

        def label(cells):
            totals = {}
            for fn in detectors:
                for key, delta in fn(job_id="j", source_file="f", sheet_name="s", sheet_index=1, row_index=1,
                                     row_values_sample=cells, table_hint={"state": "seeking"},
                                     manifest=manifest, env={}, artifact={})["scores"].items():
                    totals[key] = totals.get(key, 0.0) + delta
            best = max(totals, key=totals.get) if totals else None
            return best if best and totals[best] > 0 else "other"

        assert label(["Northwind Co-operative — Member Roster"]) == "other"
        assert label(["Exported 2025-03-03 08:15 from HRIS"]) == "other"
        assert label(["Staff #", "Given name", "Family Name", "Mail", "Joined"]) == "header"
        assert label([None, None, "Contact", None, "Employment"]) == "header"
        assert label(["M-1", "Ann", "Lee", "ann@x.example", datetime(2020, 1, 1), "Active"]) == "data"
        assert label([None, "Ann", "Lee", "ann@x.example", None, "Active"]) == "data"
        assert label(["Total members", 30]) == "total_row"


def test_payroll_money_parsing():
    with package_on_path(SAMPLES / "payroll_remittance") as load:
        money = load("columns._money")
        values = ["$1,234.50", "(12.00)", "($45.00)", "-7.5", "12.00-", 3000.25, "1234.5 USD", "n/a", None]
        out = money.transform_money(values)
        assert out["values"] == [1234.5, -12.0, -45.0, -7.5, -12.0, 3000.25, 1234.5, "n/a", None]
        assert out["warnings"] == ["1 value(s) are not amounts"]
        name = load("columns.employee_name")
        assert call(name.transform, values=["SOUZA, Ana", "lina park", "Ana  McKay"],
                    field_name="employee_name", field_meta={})["values"] == ["Ana Souza", "Lina Park", "Ana McKay"]


def test_payroll_cross_check_hook_reads_the_output_workbook(tmp_path):
    out = tmp_path / "normalized.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Remittance"
    ws.append(["Employee ID", "Employee Name", "Period Start", "Period End", "Gross Pay", "Deductions", "Net Pay"])
    ws.append(["E-1", "A B", date(2025, 3, 1), date(2025, 3, 15), 100.0, 20.0, 80.0])    # fine
    ws.append(["E-2", "C D", date(2025, 3, 1), date(2025, 3, 15), 100.0, 20.0, 90.0])    # net wrong
    ws.append(["E-3", "E F", date(2025, 3, 15), date(2025, 3, 1), 100.0, None, 100.0])   # reversed
    wb.save(out)
    letters = "ABCDEFG"
    artifact = {
        "output": {"sheet": "Remittance", "column_plan": {"target": [
            {"field": f, "output_column": letters[n], "order": n + 1, "output_header": f}
            for n, f in enumerate(make_inputs.PAYROLL_FIELDS)]}},
        "sheets": [{"tables": [{"id": "sheet_1.table_1", "output_range": "A2:G4",
                                "target_fields": list(make_inputs.PAYROLL_FIELDS)}]}],
    }
    env = manifest_of("payroll_remittance")["env"]
    with package_on_path(SAMPLES / "payroll_remittance") as load:
        hook = load("hooks.cross_check")
        result = hook.run(job_id="j", source_file="x.xlsx", stage="after_validate", manifest={}, env=env,
                          artifact=artifact, secrets={}, output_path=str(out))
    assert [(i["table_id"], i["row_index"], i["code"], i["target_field"]) for i in result["issues"]] == [
        ("sheet_1.table_1", 2, "net_pay_mismatch", "net_pay"),
        ("sheet_1.table_1", 3, "period_reversed", "period_end")]
    assert "1 net pay mismatch(es), 1 reversed period(s)" in result["notes"]


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def job(run_ade, tmp_path_factory):
    """job(input name) -> (CompletedProcess, job dir); each input is run once per test module."""
    done = {}

    def get(name):
        if name not in done:
            pkg = SAMPLES / make_inputs_package(name)
            out = tmp_path_factory.mktemp(name.replace(".", "_")) / "job"
            proc = run_ade("run", SAMPLES / "inputs" / name, "--config", pkg, "--out", out, "--json")
            done[name] = (proc, out)
        return done[name]

    return get


def make_inputs_package(name):
    return "member_roster" if name.startswith("roster") else "payroll_remittance"


def artifact_of(job_dir):
    return json.loads((job_dir / "artifact.json").read_text(encoding="utf-8"))


def tables_with_expectations(artifact, exp):
    assert [s["name"] for s in artifact["sheets"]] == [s["name"] for s in exp["sheets"]]
    for sheet, esheet in zip(artifact["sheets"], exp["sheets"]):
        assert len(sheet["tables"]) == len(esheet["tables"]), sheet["name"]
        yield from ((sheet, table, et) for table, et in zip(sheet["tables"], esheet["tables"]))


@pytest.mark.parametrize("name", INPUT_NAMES)
def test_run_succeeds_and_reports_json(job, expected, name):
    proc, job_dir = job(name)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    result = json.loads(proc.stdout)
    assert result["status"] == "succeeded"
    assert Path(result["output"]).name == "normalized.xlsx" and Path(result["output"]).is_file()
    assert [t["range"] for t in result["tables"]] == [
        t["range"] for s in expected[name]["sheets"] for t in s["tables"]]
    artifact = artifact_of(job_dir)
    assert artifact["job"]["status"] == "succeeded"
    assert artifact["error"] is None
    assert [e for e in artifact["rule_errors"] if e["level"] == "error"] == []


@pytest.mark.parametrize("name", INPUT_NAMES)
def test_tables_and_headers_are_found(job, expected, name):
    _, job_dir = job(name)
    artifact, exp = artifact_of(job_dir), expected[name]
    for sheet, esheet in zip(artifact["sheets"], exp["sheets"]):
        assert sheet["hidden"] is esheet["hidden"], sheet["name"]
    for sheet, table, et in tables_with_expectations(artifact, exp):
        where = f"{name} {table['id']}"
        assert table["range"] == et["range"], where
        assert table["data_range"] == et["data_range"], where
        assert table["data_row_count"] == len(et["rows"]), where
        assert table["header"]["kind"] == et["header_kind"], where
        assert table["header"]["row_index"] == et["header_row_index"], where
        if et["header_kind"] != "synthetic":
            assert table["header"]["row_indexes"] == et["header_row_indexes"], where
        assert table["header"]["source_header"] == et["source_headers"], where
    for sheet_index, roles in exp["roles"].items():
        recorded = {r["row_index"]: r["role"] for r in artifact["sheets"][sheet_index - 1]["row_classification"]}
        assert {row: recorded.get(row) for row in roles} == roles, f"{name} sheet {sheet_index}"
    if name == "roster_export.csv":
        assert artifact["input"]["format"] == "csv"
        assert artifact["input"]["delimiter"] == ";"
        assert artifact["input"]["encoding"].lower().replace("-", "") in ("cp1252", "windows1252")


@pytest.mark.parametrize("name", INPUT_NAMES)
def test_columns_are_mapped_with_reasons(job, expected, name):
    _, job_dir = job(name)
    artifact, exp = artifact_of(job_dir), expected[name]
    order = manifest_of(exp["package"])["columns"]["order"]
    for _, table, et in tables_with_expectations(artifact, exp):
        by_letter = {c["source_column"]: c["column_id"] for c in table["columns"]}
        decisions = {m["raw"]["column"]: m for m in table["mapping"]}
        for field, letter in et["mapped"].items():
            m = decisions[by_letter[letter]]
            assert (m["target_field"], m["decision"]) == (field, "mapped"), f"{name} {letter}"
            assert m["score"] > 0 and m["contributors"], f"{name} {letter}"
        for letter, decision in et["unmapped"].items():
            m = decisions[by_letter[letter]]
            assert (m["target_field"], m["decision"]) == (None, decision), f"{name} {letter}"
        assert table["target_fields"] == [f for f in order if f in et["mapped"]]


def output_rows(job_dir, package):
    sheet_name = manifest_of(package)["engine"]["writer"]["output_sheet"]
    wb = openpyxl.load_workbook(job_dir / "normalized.xlsx", read_only=True, data_only=True)
    try:
        return [list(r) for r in wb[sheet_name].iter_rows(values_only=True)]
    finally:
        wb.close()


@pytest.mark.parametrize("name", INPUT_NAMES)
def test_output_workbook_holds_transformed_values(job, expected, name):
    _, job_dir = job(name)
    exp = expected[name]
    meta = manifest_of(exp["package"])["columns"]
    rows = output_rows(job_dir, exp["package"])
    header = [meta["meta"][f]["label"] for f in meta["order"]] + exp["appended_headers"]
    assert rows[0][:len(header)] == header
    body = iter(rows[1:])
    written = 0
    for esheet in exp["sheets"]:
        for et in esheet["tables"]:
            for sheet_row, truth, appended in et["rows"]:
                got = next(body)
                written += 1
                for n, field in enumerate(meta["order"]):
                    assert same_value(got[n], truth[field]), f"{name} row {sheet_row} {field}: {got[n]!r}"
                for head, raw in appended.items():
                    value = got[header.index(head)]
                    assert same_value(value, raw), f"{name} row {sheet_row} {head}: {value!r}"
    assert next(body, None) is None
    assert artifact_of(job_dir)["output"]["rows_written"] == written


@pytest.mark.parametrize("name", INPUT_NAMES)
def test_issues_point_at_source_and_output_cells(job, expected, name):
    _, job_dir = job(name)
    artifact, exp = artifact_of(job_dir), expected[name]
    order = manifest_of(exp["package"])["columns"]["order"]
    out_letter = {f: make_inputs.col_letter(n + 1) for n, f in enumerate(order)}
    output_row = 2
    errors = warnings = 0
    for _, table, et in tables_with_expectations(artifact, exp):
        ordinal = {sheet_row: n for n, (sheet_row, _, _) in enumerate(et["rows"], 1)}
        want = set()
        for field, sheet_row, code, severity in et["issues"] + et["hook_issues"]:
            want.add((field, code, severity, ordinal[sheet_row], f"{et['mapped'][field]}{sheet_row}",
                      f"{out_letter[field]}{output_row + ordinal[sheet_row] - 1}"))
        got = {(i["target_field"], i["code"], i["severity"], i["row_index"], i["a1"], i["output_a1"])
               for i in table["validation"]["issues"]}
        assert got == want, f"{name} {table['id']}"
        errors += sum(1 for w in want if w[2] == "error")
        warnings += sum(1 for w in want if w[2] == "warning")
        output_row += len(et["rows"])
    assert (artifact["summary"]["errors"], artifact["summary"]["warnings"]) == (errors, warnings)


@pytest.mark.parametrize("name", INPUT_NAMES)
def test_hooks_leave_notes(job, expected, name):
    _, job_dir = job(name)
    artifact, exp = artifact_of(job_dir), expected[name]
    notes = {(a["stage"], a["hook"]): a for a in artifact["annotations"]}
    summary = artifact["summary"]
    if exp["package"] == "member_roster":
        mapping_note = notes[("after_mapping", "hooks/mapping_summary.py")]["notes"]
        for sheet in exp["sheets"]:
            for et in sheet["tables"]:
                assert f"{len(et['mapped'])}/7 fields mapped" in mapping_note
                if et["unmapped"]:
                    assert "unmapped:" in mapping_note
        issue_note = notes[("after_validate", "hooks/issue_summary.py")]["notes"]
        assert f"{summary['errors']} error(s), {summary['warnings']} warning(s)" in issue_note
    else:
        entry = notes[("after_validate", "hooks/cross_check.py")]
        hook_issues = [h for s in exp["sheets"] for t in s["tables"] for h in t["hook_issues"]]
        mismatches = sum(1 for h in hook_issues if h[2] == "net_pay_mismatch")
        assert f"{mismatches} net pay mismatch(es), {len(hook_issues) - mismatches} reversed period(s)" \
            in entry["notes"]
        assert entry.get("issues_added", 0) == len(hook_issues)


@pytest.mark.parametrize("name", INPUT_NAMES)
def test_no_data_value_reaches_the_artifact_or_events(job, expected, name):
    _, job_dir = job(name)
    texts = {"artifact.json": (job_dir / "artifact.json").read_text(encoding="utf-8"),
             "events.ndjson": (job_dir / "events.ndjson").read_text(encoding="utf-8")}
    leaks = set(expected[name]["leaks"])
    assert leaks, "the expectation lists no data values to look for"
    for file_name, text in texts.items():
        # whole-token search of the JSON-escaped value ("Tran" must not hit "transform")
        found = sorted(v for v in leaks for form in {json.dumps(v)[1:-1], json.dumps(v, ensure_ascii=False)[1:-1]}
                       if re.search(r"(?<![\w.@-])" + re.escape(form) + r"(?![\w@])", text))
        assert found == [], f"{file_name} of {name} holds data values: {found[:5]}"
