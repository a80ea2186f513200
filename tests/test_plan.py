"""Output plan naming, de-duplication and provenance (pipeline.md §6)."""

from __future__ import annotations

import pytest

from ade_engine.errors import AdeError
from ade_engine.runtime.a1 import col_letter
from ade_engine.runtime.plan import build_plan, sanitize_name


def table(tid, cols, mapped=()):
    """cols: list of (letter, header, empty)."""
    columns, mapping = [], []
    for n, (letter, header, empty) in enumerate(cols, start=1):
        cid = f"{tid}.col_{n}"
        columns.append({"column_id": cid, "order": n, "source_column": letter, "source_header": header, "empty": empty})
        mapping.append({"raw": {"column": cid, "header": header}, "target_field": dict(mapped).get(n)})
    return {"id": tid, "columns": columns, "mapping": mapping}


def test_sanitize():
    assert sanitize_name("Start Date", "C") == "Start_Date"
    assert sanitize_name("  % of total (est.) ", "D") == "of_total_est"
    assert sanitize_name(None, "E") == "col_E"
    assert sanitize_name("???", "F") == "col_F"
    assert len(sanitize_name("x" * 300, "A")) == 100


def test_plan_targets_appended_and_provenance():
    t1 = table("s1.t1", [("A", "SKU", False), ("B", "Start Date", False), ("C", "Note", False),
                         ("D", "Note", False), ("E", None, False), ("F", None, True)], mapped=[(1, "sku")])
    t2 = table("s1.t2", [("B", "Start-Date", False), ("C", "Price", False)], mapped=[(2, "unit_price")])
    plan = build_plan([("sku", "SKU"), ("unit_price", "Unit Price")], [t1, t2], provenance=True)
    assert plan.headers == ["SKU", "Unit Price", "raw_Start_Date", "raw_Note", "raw_Note_2", "raw_col_E",
                            "source_sheet", "source_row"]
    cp = plan.column_plan()
    assert cp["target"][1] == {"field": "unit_price", "output_header": "Unit Price", "order": 2, "output_column": "B"}
    shared = cp["appended_unmapped"][0]
    assert shared["sources"] == [{"table_id": "s1.t1", "column": "s1.t1.col_2"},
                                 {"table_id": "s1.t2", "column": "s1.t2.col_1"}]
    assert [p["output_column"] for p in cp["provenance"]] == ["G", "H"]
    lay1, lay2 = plan.layouts["s1.t1"], plan.layouts["s1.t2"]
    assert lay1.cells[0] == ("field", "sku", 1) and lay1.cells[1] == ("empty",)
    assert lay2.cells[1] == ("field", "unit_price", 3) and lay2.cells[2] == ("raw", 2)
    assert lay2.cells[3] == ("empty",) and lay1.cells[6] == ("sheet",) and lay1.cells[7] == ("row",)


def test_no_append_and_column_limit():
    t = table("s1.t1", [("A", "x", False)])
    plan = build_plan([("sku", "SKU")], [t], append_unmapped=False)
    assert plan.headers == ["SKU"]
    wide = table("s1.t1", [(col_letter(i), f"h{i}", False) for i in range(1, 16385)])
    with pytest.raises(AdeError) as exc:
        build_plan([("sku", "SKU")], [wide])
    assert exc.value.code == "output_column_limit"
