"""Pass 2 assignment: thresholds, ties, decisions, overrides (config-packages.md §5.2)."""

from __future__ import annotations

from ade_engine.runtime.mapping import (
    ColumnScores,
    FieldSpec,
    apply_override,
    assign,
    mapped_fields,
    required_unmapped_issues,
)

SKU = FieldSpec("sku", "SKU", ["item code"], required=True, position=0)
PRICE = FieldSpec("unit_price", "Unit Price", ["price"], required=True, position=1)
NAME = FieldSpec("name", "Name", [], position=2)


def col(n, header, **scores):
    c = ColumnScores(f"t.col_{n}", n, header)
    for field_id, deltas in scores.items():
        for i, d in enumerate(deltas if isinstance(deltas, list) else [deltas]):
            c.add(field_id, f"columns.{field_id}:detect_{i}", d)
    return c


def by_col(entries):
    return {e["raw"]["column"]: e for e in entries}


def test_greedy_highest_score_first_and_field_taken():
    cols = [col(1, "Item Code", sku=[0.9, 0.6]), col(2, "Description", sku=0.6), col(3, "Price", unit_price=1.05)]
    m = by_col(assign(cols, [SKU, PRICE], 0.0))
    assert m["t.col_1"]["target_field"] == "sku" and m["t.col_1"]["score"] == 1.5
    assert m["t.col_1"]["contributors"] == [{"rule": "columns.sku:detect_0", "delta": 0.9},
                                            {"rule": "columns.sku:detect_1", "delta": 0.6}]
    assert m["t.col_2"]["decision"] == "unmapped_field_taken" and m["t.col_2"]["score"] == 0.6
    assert m["t.col_3"]["target_field"] == "unit_price"


def test_positive_evidence_required_even_at_threshold_zero():
    cols = [col(1, "x", sku=[0.5, -0.5]), col(2, "y"), col(3, "z", sku=-0.3)]
    m = by_col(assign(cols, [SKU], 0.0))
    assert m["t.col_1"]["decision"] == "unmapped_low_confidence"
    assert m["t.col_2"]["decision"] == "unmapped_no_signal"
    assert m["t.col_3"]["decision"] == "unmapped_low_confidence" and m["t.col_3"]["scores"] == {"sku": -0.3}


def test_threshold_is_inclusive():
    m = by_col(assign([col(1, "a", sku=0.5), col(2, "b", unit_price=0.49)], [SKU, PRICE], 0.5))
    assert m["t.col_1"]["decision"] == "mapped"
    assert m["t.col_2"]["decision"] == "unmapped_low_confidence"


def test_tie_broken_by_label_then_synonym():
    m = by_col(assign([col(1, "Item Code", sku=0.9), col(2, " sku ", sku=0.9)], [SKU], 0.0))
    assert m["t.col_2"]["target_field"] == "sku" and m["t.col_2"]["tie_break"] == "label"
    assert m["t.col_1"]["decision"] == "unmapped_field_taken"
    m = by_col(assign([col(1, "Other", sku=0.9), col(2, "item  CODE", sku=0.9)], [SKU], 0.0))
    assert m["t.col_2"]["target_field"] == "sku" and m["t.col_2"]["tie_break"] == "synonym"


def test_tie_broken_by_field_order_then_column_position():
    m = by_col(assign([col(1, "?", sku=0.7, unit_price=0.7)], [SKU, PRICE], 0.0))
    assert m["t.col_1"]["target_field"] == "sku" and m["t.col_1"]["tie_break"] == "order"
    m = by_col(assign([col(1, "?", sku=0.7), col(2, "?", sku=0.7)], [SKU], 0.0))
    assert m["t.col_1"]["target_field"] == "sku" and m["t.col_1"]["tie_break"] == "column_position"
    # no competitor with the same score -> no tie-break
    m = by_col(assign([col(1, "?", sku=0.8), col(2, "?", sku=0.7)], [SKU], 0.0))
    assert m["t.col_1"]["tie_break"] is None


def test_float_sums_tie():
    m = by_col(assign([col(1, "?", sku=[0.1, 0.2]), col(2, "?", sku=0.3)], [SKU], 0.0))
    assert m["t.col_1"]["tie_break"] == "column_position"


def test_empty_columns_are_skipped():
    c = col(1, None)
    c.empty = True
    (e,) = assign([c], [SKU], 0.0)
    assert e["decision"] == "skipped_empty" and e["target_field"] is None


def test_required_issue_and_override_displacement():
    cols = [col(1, "SKU", sku=1.0), col(2, "Code", sku=0.4, name=0.2)]
    entries = assign(cols, [SKU, PRICE, NAME], 0.0)
    assert mapped_fields(entries, [SKU, PRICE, NAME]) == ["sku", "name"]
    issues = required_unmapped_issues("A1:B9", [SKU, PRICE, NAME], mapped_fields(entries, [SKU, PRICE, NAME]))
    assert [(i["target_field"], i["code"], i["severity"], i["range"], i["rule"]) for i in issues] == [
        ("unit_price", "required_field_unmapped", "error", "A1:B9", "engine")]
    apply_override(entries, {c.column_id: c for c in cols}, "t.col_2", "sku")
    m = by_col(entries)
    assert m["t.col_2"]["decision"] == "hook_override" and m["t.col_2"]["score"] == 0.4
    assert m["t.col_1"]["decision"] == "unmapped_displaced_by_hook" and m["t.col_1"]["target_field"] is None
    apply_override(entries, {c.column_id: c for c in cols}, "t.col_2", None)
    assert by_col(entries)["t.col_2"]["target_field"] is None
