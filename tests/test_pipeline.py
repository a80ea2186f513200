"""End-to-end `run_pipeline` in-process on small xlsx/csv files written in tmp_path."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from ade_engine.runtime.pipeline import run_pipeline
from pkgfactory import make_request, read_output, write_csv, write_package, write_xlsx

PRICES = [
    ["Acme price list"],
    ["Valid from 2025-03-01"],
    [],
    ["Item Code", "Description", "Price"],
    ["ab-1234", "Widget blue", "12.50"],
    ["CD-5678", "Gadget green", 7],
    [None, "Orphan gizmo", 3.25],
    ["EF-9012", "Sprocket tiny", "n/a"],
    ["Total", None, 22.75],
]


def run(tmp_path: Path, sheets=None, *, manifest=None, files=None, secrets=None, cancel=None, name="prices.xlsx",
        job="job", csv_rows=None, **req):
    pkg = tmp_path / "pkg"
    if not pkg.exists():
        write_package(pkg, manifest=manifest, files=files)
    if csv_rows is not None:
        inp = write_csv(tmp_path / name, csv_rows)
    else:
        inp = tmp_path / name
        if not inp.exists():
            write_xlsx(inp, sheets or {"March": PRICES})
    job_dir = tmp_path / job
    result = run_pipeline(make_request(job_dir, inp, pkg, **req), secrets or {}, job_dir, cancel)
    art_path = job_dir / "artifact.json"
    artifact = json.loads(art_path.read_text()) if art_path.exists() else None
    return result, artifact, job_dir


def issues_of(artifact):
    return [i for s in artifact["sheets"] for t in s["tables"] for i in t["validation"]["issues"]]


def test_example_package_end_to_end(tmp_path):
    result, art, job_dir = run(tmp_path)
    assert result["schema"] == "ade.run_result/v1" and result["status"] == "succeeded" and result["error"] is None
    assert read_output(job_dir / "normalized.xlsx") == [
        ["SKU", "Unit Price", "raw_Description"],
        ["AB-1234", 12.5, "Widget blue"],
        ["CD-5678", 7, "Gadget green"],
        [None, 3.25, "Orphan gizmo"],
        ["EF-9012", "n/a", "Sprocket tiny"],
    ]
    assert not (job_dir / "normalized.xlsx.partial").exists()
    sheet = art["sheets"][0]
    roles = {e["row_index"]: e["role"] for e in sheet["row_classification"]}
    assert roles == {1: "preamble", 2: "preamble", 4: "header", 5: "first_data", 9: "trailing"}
    table = sheet["tables"][0]
    assert (table["range"], table["data_range"], table["output_range"]) == ("A4:C8", "A5:C8", "A2:C5")
    assert table["target_fields"] == ["sku", "unit_price"]
    assert art["job"]["status"] == "succeeded" and art["summary"]["rows_written"] == 4
    # issues carry source and output cells; aliases are normalized
    by_code = {(i["code"], i["a1"]): i for i in issues_of(art)}
    missing = by_code[("required_missing", "A7")]
    assert missing["output_a1"] == "A4" and missing["row_index"] == 3 and missing["rule"] == "columns.sku:validate"
    assert missing["column"] == "sheet_1.table_1.col_1" and missing["severity"] == "error"
    bad_price = by_code[("invalid_format", "C8")]
    assert bad_price["output_a1"] == "B5" and bad_price["target_field"] == "unit_price"
    assert table["validation"]["summary_by_field"]["sku"]["missing"] == 1
    assert table["transforms"][1]["warnings"] == ["1 value(s) were not numeric"]
    assert art["summary"]["issues_found"] == result["stats"]["issues_found"] == len(issues_of(art))
    saved = [json.loads(line)["detail"]["after"] for line in (job_dir / "events.ndjson").read_text().splitlines()
             if json.loads(line)["event"] == "artifact.saved"]
    assert saved == ["init", "pass_1", "pass_2", "pass_5", "hooks", "finalize"]
    assert [p["pass"] for p in art["pass_history"]] == [1, 2, 3, 4, 5]


LEAKY = [
    ["Quarterly memo zebra-quartz"],
    ["Item Code", "Description", "Price", "Comment"],
    ["QX-77123", "Velvet armadillo lamp", 98765.4321, "bitter marmalade"],
    [None, "Crimson otter kettle", "not-a-price-zz", 55511],
    ["ZZ-31337", "Pewter falcon ladle", 4242.17, "lukewarm tangerine"],
    ["Total", None, 103007.5921, None],
]


def test_artifact_holds_no_data_cell_values(tmp_path):
    import re

    result, art, job_dir = run(tmp_path, {"Leaky": LEAKY})
    assert result["status"] == "succeeded"
    assert len(issues_of(art)) >= 2 and art["sheets"][0]["tables"][0]["data_row_count"] == 3
    text = (job_dir / "artifact.json").read_text()
    events = (job_dir / "events.ndjson").read_text()
    headers = set(LEAKY[1])
    values = [c for row in LEAKY for c in row if c is not None and c not in headers]
    values += ["QX-77123".upper(), "ZZ-31337"]
    for v in values:
        if isinstance(v, str):
            assert v not in text and v not in events, f"data value {v!r} leaked"
        else:
            pattern = r"(?<![\d.])" + re.escape(repr(v)) + r"(?![\d])"
            assert not re.search(pattern, text) and not re.search(pattern, events), f"data value {v!r} leaked"


def test_stacked_tables_two_sheets_and_csv(tmp_path):
    sheets = {
        "A": [["SKU", "Price"], ["AAAA-1", 1], ["AAAA-2", 2], [], ["Part Number", "Unit Cost", "Colour"],
              ["BBBB-1", 3, "red"]],
        "Empty": [],
    }
    result, art, job_dir = run(tmp_path, sheets, manifest={"engine": {"writer": {"provenance_columns": True}}})
    assert result["status"] == "succeeded"
    t1, t2 = art["sheets"][0]["tables"]
    assert t1["range"] == "A1:B3" and t2["range"] == "A5:C6"
    assert art["sheets"][1]["tables"] == []
    rows = read_output(job_dir / "normalized.xlsx")
    assert rows[0] == ["SKU", "Unit Price", "raw_Colour", "source_sheet", "source_row"]
    assert rows[1:] == [["AAAA-1", 1, None, "A", 2], ["AAAA-2", 2, None, "A", 3], ["BBBB-1", 3, "red", "A", 6]]
    assert t2["output_range"] == "A4:E4"

    (tmp_path / "csv").mkdir()
    csv_result, csv_art, csv_dir = run(tmp_path / "csv", csv_rows=[["SKU", "Price"], ["ZZZZ-1", "4.50"]],
                                       name="in.csv")
    assert csv_result["status"] == "succeeded"
    assert csv_art["input"]["format"] == "csv" and csv_art["input"]["delimiter"] == ","
    assert read_output(csv_dir / "normalized.xlsx")[1] == ["ZZZZ-1", 4.5]


def test_chunks_keep_ordinals_and_cells(tmp_path):
    rows = [["SKU", "Price"]] + [[f"CODE-{i:04d}", i] for i in range(1, 251)]
    rows[200][0] = None  # data row 200 -> sheet row 201
    result, art, job_dir = run(tmp_path, {"S": rows}, manifest={"engine": {"writer": {"chunk_rows": 100}}})
    table = art["sheets"][0]["tables"][0]
    assert [t["chunks"] for t in table["transforms"]] == [3, 3]
    (issue,) = [i for i in issues_of(art) if i["code"] == "required_missing"]
    assert (issue["row_index"], issue["a1"], issue["output_a1"]) == (200, "A201", "A201")
    assert len(read_output(job_dir / "normalized.xlsx")) == 251


def test_in_memory_mode_is_one_chunk_per_table(tmp_path):
    rows = [["SKU", "Price"]] + [[f"CODE-{i:04d}", i] for i in range(1, 251)]
    result, art, _ = run(tmp_path, {"S": rows}, manifest={"engine": {"writer": {"mode": "in_memory",
                                                                                   "chunk_rows": 100}}})
    assert [t["chunks"] for t in art["sheets"][0]["tables"][0]["transforms"]] == [1, 1]


HOOKS = {
    "hooks/remap.py": '''
        def run(*, artifact, **_):
            table = artifact["sheets"][0]["tables"][0]
            desc = [c["column_id"] for c in table["columns"] if c["source_header"] == "Description"][0]
            try:
                artifact["job"]["status"] = "hacked"
                mutated = "yes"
            except TypeError:
                mutated = "no"
            return {"notes": f"mutation allowed: {mutated}",
                    "mapping_overrides": [{"column_id": desc, "target_field": "sku"},
                                          {"column_id": "nope", "target_field": "sku"}],
                    "extra": {"k": 1}}
    ''',
    "hooks/check.py": '''
        def run(*, artifact, output_path, secrets, **_):
            table = artifact["sheets"][0]["tables"][0]
            return {"notes": f"seen {len(secrets)} secret(s); output exists {bool(output_path)}",
                    "issues": [{"table_id": table["id"], "row_index": 2, "code": "format", "severity": "info",
                                "message": "cross-field check", "target_field": "unit_price"},
                               {"table_id": table["id"], "row_index": None, "code": "note", "severity": "warning",
                                "message": "table-level"}]}
    ''',
    "hooks/end.py": '''
        def run(*, status, **_):
            return {"notes": f"ended {status}"}
    ''',
}


def test_hooks_overrides_issues_notes(tmp_path):
    manifest = {"secrets": ["TOKEN"], "hooks": {
        "after_mapping": [{"script": "hooks/remap.py"}],
        "after_validate": [{"script": "hooks/check.py", "secrets": ["TOKEN"]}],
        "on_job_end": [{"script": "hooks/end.py"}]}}
    result, art, job_dir = run(tmp_path, manifest=manifest, files=HOOKS, secrets={"TOKEN": "s3cr3t-value"})
    assert result["status"] == "succeeded"
    table = art["sheets"][0]["tables"][0]
    decisions = {m["raw"]["header"]: (m["decision"], m["target_field"]) for m in table["mapping"]}
    assert decisions["Description"] == ("hook_override", "sku")
    assert decisions["Item Code"] == ("unmapped_displaced_by_hook", None)
    assert read_output(job_dir / "normalized.xlsx")[0] == ["SKU", "Unit Price", "raw_Item_Code"]
    notes = {a["stage"]: a for a in art["annotations"]}
    assert notes["after_mapping"]["notes"] == "mutation allowed: no"
    assert notes["after_mapping"]["overrides_applied"] == 1 and notes["after_mapping"]["data"] == {"extra": {"k": 1}}
    assert notes["after_validate"]["notes"] == "seen 1 secret(s); output exists True"
    assert notes["after_validate"]["issues_added"] == 2 and notes["on_job_end"]["notes"] == "ended succeeded"
    hook_issues = [i for i in issues_of(art) if i["rule"] == "hooks.check:run"]
    assert hook_issues[0]["code"] == "invalid_format" and hook_issues[0]["a1"] == "C6"
    assert hook_issues[0]["output_a1"] == "B3" and hook_issues[0]["severity"] == "info"
    assert hook_issues[1]["range"] == "A4:C8" and hook_issues[1]["a1"] is None
    (bad,) = [e for e in art["rule_errors"] if e["kind"] == "invalid_override"]
    assert bad["rule"] == "hooks.remap:run" and bad["level"] == "error"
    assert art["rules"]["hooks"]["hooks.check:run"]["stage"] == "after_validate"
    assert art["job"]["secrets_used"] == ["TOKEN"]
    assert "s3cr3t-value" not in (job_dir / "artifact.json").read_text()


RAISING = {
    "columns/unit_price.py": '''
        from columns._common import header_score

        def detect_header(*, header, field_name, field_meta, **_):
            return {"scores": {field_name: header_score(header, field_meta), "sku": 0.2}}

        def detect_loud(*, field_name, **_):
            return {"scores": {field_name: 7}}

        def transform(*, values, **_):
            raise ValueError(f"cannot parse {values[0]!r}")
    ''',
}


def test_script_errors_are_contained(tmp_path):
    result, art, job_dir = run(tmp_path, files=RAISING)
    assert result["status"] == "succeeded"
    errs = {(e["rule"], e["kind"]): e for e in art["rule_errors"]}
    exc = errs[("columns.unit_price:transform", "exception")]
    assert exc["level"] == "error" and exc["count"] == 1 and exc["stage"] == "transform"
    assert exc["first_location"] == {"sheet_id": "sheet_1", "table_id": "sheet_1.table_1",
                                     "column_id": "sheet_1.table_1.col_3", "row_index": 1}
    assert "12.50" not in exc["message"] and "ValueError" in exc["message"]
    assert errs[("columns.unit_price:detect_loud", "score_out_of_range")]["level"] == "warning"
    assert errs[("columns.unit_price:detect_header", "foreign_score_key")]["level"] == "warning"
    # the failed chunk passes through unchanged
    assert read_output(job_dir / "normalized.xlsx")[1][1] == "12.50"
    tr = art["sheets"][0]["tables"][0]["transforms"][1]
    assert (tr["chunks"], tr["failed_chunks"]) == (1, 1)
    assert art["summary"]["rule_errors"] == 1
    events = [json.loads(line) for line in (job_dir / "events.ndjson").read_text().splitlines()]
    assert {"rule": "columns.unit_price:transform", "level": "error", "kind": "exception"} in [
        e["detail"] for e in events if e["event"] == "rule.error"]


def test_strict_rules_fail_the_job(tmp_path):
    result, art, job_dir = run(tmp_path, files=RAISING, manifest={"engine": {"defaults": {"strict_rules": True}}})
    assert result["status"] == "failed"
    assert result["error"]["code"] == "rule_error" and result["error"]["stage"] == "transform"
    assert result["error"]["rule"] == "columns.unit_price:transform"
    assert art["job"]["status"] == "failed" and art["error"]["code"] == "rule_error"
    assert not (job_dir / "normalized.xlsx").exists() and not (job_dir / "normalized.xlsx.partial").exists()


def _strip_volatile(art):
    art = json.loads(json.dumps(art))
    art["job"].pop("completed_at")
    for p in art["pass_history"]:
        p.pop("started_at"), p.pop("completed_at"), p.pop("duration_ms")
    for a in art["annotations"]:
        a.pop("annotated_at")
    for s in art["sheets"]:
        s.pop("read_mode")
    art["engine"].pop("sandbox")
    return art


def test_determinism(tmp_path):
    _, first, d1 = run(tmp_path, job="one")
    _, second, d2 = run(tmp_path, job="two")
    assert _strip_volatile(first) == _strip_volatile(second)
    assert read_output(d1 / "normalized.xlsx") == read_output(d2 / "normalized.xlsx")


def test_no_tables_found(tmp_path):
    result, art, job_dir = run(tmp_path, {"Notes": [["just a note"], ["another note"]]})
    assert result["status"] == "succeeded"
    assert [w["code"] for w in art["warnings"]] == ["no_tables_found"]
    assert read_output(job_dir / "normalized.xlsx") == [["SKU", "Unit Price"]]
    assert art["sheets"][0]["tables"] == []


def test_required_field_unmapped_issue(tmp_path):
    result, art, job_dir = run(tmp_path, {"S": [["SKU", "Colour"], ["ABCD-1", "red"]]})
    (issue,) = [i for i in issues_of(art) if i["code"] == "required_field_unmapped"]
    assert (issue["target_field"], issue["range"], issue["rule"], issue["a1"]) == ("unit_price", "A1:B2", "engine", None)
    assert read_output(job_dir / "normalized.xlsx")[1] == ["ABCD-1", None, "red"]


def test_cancel_before_start(tmp_path):
    ev = threading.Event()
    ev.set()
    result, art, job_dir = run(tmp_path, cancel=ev)
    assert result["status"] == "cancelled" and result["error"]["code"] == "cancelled"
    assert art["job"]["status"] == "cancelled"
    assert not (job_dir / "normalized.xlsx.partial").exists()


def test_unsupported_input(tmp_path):
    bad = tmp_path / "old.xlsx"
    bad.write_bytes(b"this is not a workbook at all\n" * 10)
    result, art, _ = run(tmp_path, name="old.xlsx")
    assert result["status"] == "failed" and result["error"]["code"] == "input_unsupported"
    assert result["error"]["stage"] == "init" and art["error"]["code"] == "input_unsupported"


def test_secret_in_output_is_redacted(tmp_path):
    sheets = {"S": [["SKU", "Price", "Memo"], ["ABCD-1", 1, "token=hunter2-xyz"]]}
    manifest = {"secrets": ["API_KEY"], "columns": {"meta": {"sku": {"secrets": ["API_KEY"]}}}}
    result, art, job_dir = run(tmp_path, sheets, manifest=manifest, secrets={"API_KEY": "hunter2-xyz"})
    assert result["status"] == "succeeded"
    assert read_output(job_dir / "normalized.xlsx")[1][2] == "token=[redacted:API_KEY]"
    (err,) = [e for e in art["rule_errors"] if e["kind"] == "secret_in_output"]
    assert err["level"] == "error" and err["rule"] == "engine"
    assert "hunter2" not in (job_dir / "artifact.json").read_text()


def test_table_limit(tmp_path):
    rows = []
    for i in range(1001):
        rows += [[f"Head{chr(65 + i % 26)}{chr(65 + i // 26 % 26)}", "Other"], ["ABCD-1", "2"]]
    result, art, _ = run(tmp_path, csv_rows=rows, name="many.csv")
    assert result["status"] == "failed" and result["error"]["code"] == "table_limit"
    assert result["error"]["stage"] == "structure"


def test_issue_cap_counts_everything(tmp_path):
    rows = [["SKU", "Price"]] + [[None, i] for i in range(1, 6)]
    result, art, _ = run(tmp_path, {"S": rows}, manifest={"engine": {"artifact": {"max_issues_per_field": 2}}})
    summary = art["sheets"][0]["tables"][0]["validation"]["summary_by_field"]["sku"]
    assert summary == {"errors": 5, "warnings": 0, "infos": 0, "missing": 5, "stored": 2, "truncated": True}
    assert len([i for i in issues_of(art) if i["target_field"] == "sku"]) == 2
    assert art["summary"]["errors"] == 5
