"""Package loading, rule ids and contained script calls (config-packages.md §3–§5)."""

from __future__ import annotations

import copy
import json

import pytest

from ade_engine.manifest import load_manifest
from ade_engine.runtime.rules import RuleError, RuleErrorLog, ScriptRunner, freeze, load_registry
from pkgfactory import write_package

EXTRA = {
    "row_types/zeta.py": '''
        from row_types._cells import filled as detect_imported  # imported: not a detector

        def detect_second(**_):
            return {"scores": {"data": 2.5}}

        def detect_first(**_):
            return {"scores": {"header": "high"}}

        detect_second, detect_first = detect_second, detect_first
    ''',
    "columns/shared.py": '''
        def detect_any(*, field_name, secrets, **_):
            return {"scores": {field_name: 0.1 * len(secrets), "other": 1}}

        def detect_boom(**_):
            raise RuntimeError("kaboom-xyz")
    ''',
}


def load(tmp_path, **manifest):
    pkg = write_package(tmp_path / "pkg", files=EXTRA, manifest=manifest)
    m = load_manifest(pkg).to_runtime_dict()
    return pkg, m, load_registry(pkg, m)


def shared_fields():
    return {"secrets": ["A", "B"], "columns": {"order": ["sku", "unit_price", "f1", "f2"], "meta": {
        "f1": {"label": "F1", "script": "columns/shared.py", "secrets": ["A"]},
        "f2": {"label": "F2", "script": "columns/shared.py", "secrets": ["B"]}}}}


def test_registry_discovery_ids_and_versions(tmp_path):
    pkg, m, reg = load(tmp_path, **shared_fields())
    ids = [r.id for r in reg.row_detectors]
    assert ids == ["row_types.data:detect_has_numbers", "row_types.data:detect_width", "row_types.data:detect_total",
                   "row_types.header:detect_wordy_cells", "row_types.header:detect_known_labels",
                   "row_types.zeta:detect_second", "row_types.zeta:detect_first"]
    groups = reg.artifact_rules()
    info = groups["transform"]["columns.sku:transform"]
    assert info["impl"] == "columns/sku.py:transform" and info["field"] == "sku"
    assert len(info["version"]) == 12 and int(info["version"], 16) >= 0
    assert reg.fields["f1"].secrets == reg.fields["f2"].secrets == frozenset({"A", "B"})
    assert "columns.shared:detect_any" in groups["column_detect"]


def test_contained_calls_record_once_with_counts(tmp_path):
    pkg, m, reg = load(tmp_path, **shared_fields())
    events = []
    log = RuleErrorLog(on_first=events.append)
    runner = ScriptRunner(reg, log, job_id="j", source_file="in.xlsx", manifest=m, secrets={"A": "1", "B": "2", "C": "3"})
    zeta = {r.id: r for r in reg.row_detectors}
    common = dict(sheet_name="S", sheet_index=1, row_values_sample=["x"], table_hint={})
    assert runner.row_scores(zeta["row_types.zeta:detect_second"], row_index=1, location={"row_index": 1}, **common) == {"data": 1.0}
    assert runner.row_scores(zeta["row_types.zeta:detect_first"], row_index=2, location={"row_index": 2}, **common) == {}
    assert runner.row_scores(zeta["row_types.zeta:detect_first"], row_index=3, location={"row_index": 3}, **common) == {}
    any_rule, boom = reg.fields["f1"].detectors
    col = dict(sheet_name="S", table_id="t", column_id="t.col_1", column_index=1, header="h", values_sample=[1])
    assert runner.column_score(any_rule, "f1", location={}, **col) == pytest.approx(0.2)  # got both secrets
    assert runner.column_score(boom, "f1", location={"column_id": "t.col_1"}, **col) == 0.0
    assert runner.column_score(boom, "f2", location={"column_id": "t.col_2"}, **col) == 0.0
    by = {(e["rule"], e["kind"]): e for e in log.entries}
    assert by[("row_types.zeta:detect_second", "score_out_of_range")]["level"] == "warning"
    bad = by[("row_types.zeta:detect_first", "bad_return")]
    assert bad["count"] == 2 and bad["first_location"] == {"row_index": 2}
    assert by[("columns.shared:detect_any", "foreign_score_key")]["level"] == "warning"
    crash = by[("columns.shared:detect_boom", "exception")]
    assert crash["count"] == 2 and crash["first_location"] == {"column_id": "t.col_1"} and "kaboom-xyz" not in crash["message"]
    assert len(events) == len(log.entries) and log.error_count == 2


def test_transform_and_validate_contracts(tmp_path):
    files = {"columns/sku.py": '''
        import datetime
        def detect_x(**_):
            return {"scores": {}}
        def transform(*, values, row_offset, **_):
            if row_offset == 10:
                return {"values": values[:-1]}
            return {"values": [object() if v == "obj" else v for v in values], "warnings": ["w"]}
        def validate(*, values, **_):
            return {"issues": [{"row_index": len(values) + 1, "code": "x"}]}
    '''}
    pkg = write_package(tmp_path / "pkg", files=files)
    m = load_manifest(pkg).to_runtime_dict()
    reg = load_registry(pkg, m)
    log = RuleErrorLog()
    runner = ScriptRunner(reg, log, job_id="j", source_file="f", manifest=m)
    fr = reg.fields["sku"]
    ctx = dict(sheet_name="S", table_id="t", column_id="c", column_index=1, header="h")
    vals, warns = runner.transform(fr.transform, "sku", location={}, values=["a", "obj"], row_offset=0, **ctx)
    assert vals[0] == "a" and isinstance(vals[1], str) and warns == ["w"]
    assert runner.transform(fr.transform, "sku", location={}, values=["a", "b"], row_offset=10, **ctx) is None
    assert runner.validate(fr.validate, "sku", location={}, values=["a"], row_offset=0, **ctx) is None
    kinds = {e["kind"]: e["level"] for e in log.entries}
    assert kinds == {"bad_value_type": "warning", "wrong_length": "error", "bad_return": "error"}


def test_strict_rules_raise(tmp_path):
    log = RuleErrorLog(strict=True)
    log.record("r", "transform", "score_out_of_range", "clamped")  # warnings never fail a job
    with pytest.raises(RuleError) as exc:
        log.record("r", "transform", "exception", "ValueError")
    assert exc.value.code == "rule_error" and exc.value.details["rule"] == "r"


def test_read_only_artifact_view():
    view = freeze({"sheets": [{"tables": []}], "job": {"status": "running"}})
    with pytest.raises(TypeError):
        view["job"]["status"] = "x"
    with pytest.raises(TypeError):
        view["sheets"].append({})
    with pytest.raises(TypeError):
        view["sheets"][0]["tables"] += [1]
    with pytest.raises(TypeError):
        view.update(a=1)
    editable = copy.deepcopy(view)
    editable["job"]["status"] = "mine"
    assert view["job"]["status"] == "running" and json.loads(json.dumps(view)) == {"sheets": [{"tables": []}],
                                                                                    "job": {"status": "running"}}


def test_import_failure_is_config_invalid(tmp_path):
    pkg = write_package(tmp_path / "pkg", files={"row_types/broken.py": "import does_not_exist_anywhere\n"})
    m = load_manifest(pkg).to_runtime_dict()
    with pytest.raises(Exception) as exc:
        load_registry(pkg, m)
    assert exc.value.code == "config_invalid" and "row_types/broken.py" in str(exc.value)
