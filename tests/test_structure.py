"""Pass 1 state machine on hand-made rows (pipeline.md §4 and §8)."""

from __future__ import annotations

import pytest

from ade_engine.runtime.structure import (
    RowCursor,
    RowLabel,
    StructureSettings,
    TableCounter,
    TableLimitError,
    choose_label,
    flatten_header,
    header_text,
    scan_rows,
)

H, G, D, O, T = "header", "group_header", "data", "other", "total_row"


def scan(rows, **settings):
    """rows: list of (label, cells) on consecutive sheet rows from 1; label None = blank row."""
    labels = {}
    stream = []
    for i, (label, cells) in enumerate(rows, start=1):
        if label is None:
            continue  # readers may skip blank rows
        labels[i] = label
        stream.append((i, cells))
    hints = []

    def label_row(row_index, cells, hint):
        hints.append((row_index, hint))
        return RowLabel(labels[row_index], confidence=1.0)

    result = scan_rows("sheet_1", stream, label_row, StructureSettings(**settings))
    result.hints = hints
    return result


def roles(result):
    return {e["row_index"]: e["role"] for e in result.row_classification}


def test_preamble_then_one_table():
    res = scan([(O, ["Price list"]), (O, ["March 2025"]), (None, []),
                (H, ["SKU", "Price"]), (D, ["A1", 1.5]), (D, ["A2", 2.5])])
    assert roles(res) == {1: "preamble", 2: "preamble", 4: "header", 5: "first_data"}
    (t,) = res.tables
    assert t.id == "sheet_1.table_1"
    assert t.range == "A4:B6" and t.data_range == "A5:B6" and t.data_row_count == 2
    assert t.source_header == ["SKU", "Price"] and t.kind == "raw"
    assert [c.column_id for c in t.columns] == ["sheet_1.table_1.col_1", "sheet_1.table_1.col_2"]


def test_two_stacked_tables_and_blank_rows_inside_body():
    res = scan([(H, ["SKU", "Price"]), (D, ["A", 1]), (None, []), (D, ["B", 2]),
                (None, []), (H, ["Name", "Email"]), (D, ["x", "y"])])
    t1, t2 = res.tables
    assert t1.data_range == "A2:B4" and t1.data_row_count == 2 and t1.runs == [[2, 2], [4, 4]]
    assert t2.range == "A6:B7" and t2.source_header == ["Name", "Email"]
    assert t1.row_of_ordinal(2) == 4 and t1.row_of_ordinal(3) is None


def test_stacked_and_merged_header_flattening():
    # "Address" is a merged parent cell over City/Zip: a streaming reader reports it in B only.
    res = scan([(G, ["Id", "Address", None]), (H, [None, "City", "Zip"]), (D, [1, "Oslo", "0150"])])
    (t,) = res.tables
    assert t.header_row_index == 2 and [r for r, _ in t.header_rows] == [1, 2]
    assert t.source_header == ["Id", "Address City", "Address Zip"]


def test_merged_parents_do_not_fill_past_the_next_group():
    # "Name" over First|Last and "Contact" over Email|Phone; "Hire Date" and "Status" are merged down two rows;
    # a units row sits at the bottom. The second row's fill stops where the top row starts a new group.
    block = [["Id", "Name", None, "Contact", None, "Hire Date", "Status"],
             [None, "First", "Last", "Email", "Phone", None, None],
             [None, None, None, None, "+1 ...", "MM/DD/YYYY", "A/I/L"]]
    assert flatten_header(block, 1, 7) == ["Id", "Name First", "Name Last", "Contact Email",
                                           "Contact Phone +1 ...", "Hire Date MM/DD/YYYY", "Status A/I/L"]
    # Three levels: a parent over two groups still reaches every child column.
    three = [["Employee", None, None, None], ["Name", None, "Contact", None], ["First", "Last", "Email", "Phone"]]
    assert flatten_header(three, 1, 4) == ["Employee Name First", "Employee Name Last", "Employee Contact Email",
                                           "Employee Contact Phone"]


def test_max_header_rows_drops_oldest_to_preamble():
    res = scan([(H, ["a", "b"]), (H, ["c", "d"]), (H, ["e", "f"]), (D, [1, 2])], max_header_rows=2)
    assert roles(res)[1] == "preamble"
    assert res.tables[0].source_header == ["c e", "d f"]


def test_page_break_repeated_header_continues_the_table():
    res = scan([(H, ["SKU", "Price"]), (D, ["A", 1]), (T, ["Page 1 of 2"]), (H, ["SKU", "Price"]),
                (D, ["B", 2]), (D, ["C", 3])])
    (t,) = res.tables
    assert roles(res) == {1: "header", 2: "first_data", 3: "excluded", 4: "repeated_header"}
    assert t.data_row_count == 3 and t.runs == [[2, 2], [5, 6]]
    cursor = RowCursor(res.tables)
    assert [r for r in range(1, 8) if cursor.table_for(r)] == [2, 5, 6]


def test_different_header_block_closes_table_and_leftovers_are_trailing():
    res = scan([(H, ["SKU", "Price"]), (D, ["A", 1]), (T, ["Total"]), (H, ["SKU", "Cost"]),
                (O, ["units"]), (D, ["B", 2])])
    t1, t2 = res.tables
    assert roles(res) == {1: "header", 2: "first_data", 3: "trailing", 4: "header", 5: "excluded", 6: "first_data"}
    assert t1.range == "A1:B2" and t2.range == "A4:B6" and t2.data_range == "A6:B6"


def test_header_only_table_and_trailing_rows():
    res = scan([(H, ["SKU", "Price"]), (D, ["A", 1]), (H, ["Notes", "Owner"]), (O, ["see below"])])
    t1, t2 = res.tables
    assert t2.data_range is None and t2.data_row_count == 0 and t2.range == "A3:B3"
    assert roles(res)[4] == "trailing"


def test_trailing_total_row_and_excluded_units_row():
    res = scan([(H, ["Item", "Qty"]), (O, ["", "pcs"]), (D, ["a", 1]), (D, ["b", 2]), (T, ["Total", 3])])
    (t,) = res.tables
    assert roles(res) == {1: "header", 2: "excluded", 3: "first_data", 5: "trailing"}
    assert t.data_range == "A3:B4" and t.range == "A1:B4"


def test_non_data_rows_inside_body_are_excluded_not_written():
    res = scan([(H, ["Item", "Qty"]), (D, ["a", 1]), (T, ["Subtotal", 1]), (D, ["b", 2])])
    assert roles(res)[3] == "excluded"
    assert res.tables[0].runs == [[2, 2], [4, 4]]


def test_promoted_header():
    res = scan([(O, ["Report"]), (None, []), (O, ["Name", "Qty", None]), (D, ["a", 1, "x"])])
    (t,) = res.tables
    assert t.kind == "promoted" and t.header_row_index == 3
    assert roles(res)[3] == "header" and t.source_header == ["Name", "Qty", None]


def test_synthetic_header_when_previous_row_is_not_adjacent_or_too_sparse():
    res = scan([(O, ["Report"]), (D, ["a", 1, "x", "y"]), (D, ["b", None, None, 2])])
    (t,) = res.tables
    assert t.kind == "synthetic" and t.header_row_index is None
    assert t.source_header == ["Column 1", "Column 2", "Column 3", "Column 4"]
    assert t.range == "A2:D3" and not any(c.empty for c in t.columns)


def test_blank_and_duplicate_headers_and_empty_columns():
    res = scan([(H, ["Name", None, "Name", None, "X"]), (D, ["a", 1, "b", None, None])])
    (t,) = res.tables
    assert t.source_header == ["Name", None, "Name", None, "X"]
    assert [c.empty for c in t.columns] == [False, False, False, True, False]
    assert len({c.column_id for c in t.columns}) == 5


def test_span_starts_at_first_filled_column():
    res = scan([(H, [None, "Code", "Price"]), (D, [None, "A", 1, None]), (D, [None, "B", 2, "extra"])])
    (t,) = res.tables
    assert t.range == "B1:D3" and [c.letter for c in t.columns] == ["B", "C", "D"]
    assert t.source_header == ["Code", "Price", None] and not t.columns[2].empty


def test_repeat_with_cell_outside_span_is_a_new_table():
    res = scan([(H, ["a", "b"]), (D, [1, 2]), (H, ["a", "b", "c"]), (D, [3, 4, 5])])
    assert len(res.tables) == 2


def test_pending_repeat_at_end_of_sheet_is_repeated_header():
    res = scan([(H, ["a", "b"]), (D, [1, 2]), (H, ["a", "b"])])
    assert len(res.tables) == 1 and roles(res)[3] == "repeated_header"


def test_table_hint_and_samples():
    res = scan([(H, ["a", "b"])] + [(D, [i, i * 2]) for i in range(1, 8)], column_sample_size=3)
    (t,) = res.tables
    assert t.values_sample(t.columns[1]) == [2, 4, 6]
    hint_of_row_3 = dict(res.hints)[3]
    assert hint_of_row_3 == {"state": "data", "table_index": 1, "header_row_index": 1, "last_label": "data"}
    assert dict(res.hints)[1]["state"] == "seeking"


def test_row_classification_is_capped():
    rows = [(O, [f"note {i}"]) for i in range(30)]
    res = scan(rows, row_classification_cap=10)
    assert len(res.row_classification) == 10 and res.truncated


def test_table_limit():
    counter = TableCounter(limit=2)
    rows = [(3 * i + 1, ["h", f"x{i}"]) for i in range(3)] + [(3 * i + 2, [1, 2]) for i in range(3)]
    rows.sort()
    labels = {r: (H if cells[0] == "h" else D) for r, cells in rows}
    with pytest.raises(TableLimitError) as exc:
        scan_rows("sheet_1", rows, lambda r, c, h: RowLabel(labels[r]), StructureSettings(), counter)
    assert exc.value.code == "table_limit"


def test_choose_label_threshold_and_ties():
    order = ["header", "group_header", "data", "separator"]
    assert choose_label({"data": 0.5, "header": 0.5}, 0.0, order) == ("header", 0.5)
    assert choose_label({"data": 0.3}, 0.3, order) == ("other", 0.0)
    assert choose_label({"zeta": 0.4, "alpha": 0.4}, 0.0, order)[0] == "alpha"
    assert choose_label({"note": 0.9, "data": 0.4}, 0.0, order)[0] == "note"


def test_header_text_normalization():
    import datetime as dt

    assert header_text(2024.0) == "2024"
    assert header_text("  Unit \n price ") == "Unit price"
    assert header_text(dt.date(2025, 3, 1)) == "2025-03-01"
    assert header_text("   ") is None
    assert flatten_header([["A", None], ["x", "x"]], 1, 2) == ["A x", "A x"]
    assert flatten_header([["Same", None], ["Same", None]], 1, 2) == ["Same", "Same"]
