"""Data rows: typed values (numbers, dates, e-mail addresses, codes) across several cells."""

from row_types._cells import page_line, row_profile

LABEL_VALUE = {"data": -0.8, "header": -0.5}
NOT_DATA = {"data": -0.8}


def detect_data(*, row_values_sample, manifest, table_hint, **_):
    """- typed values: +0.3 … +0.7 data by the share of filled cells that are values;
    - width: one filled cell (titles, "Exported …" lines, notes) is neither header nor data (−0.8 data,
      −0.5 header); three or more filled cells +0.2 data when the row holds a value or a table is open
      (a text-only row inside a table is a record missing its typed fields; before a table it is a list);
    - a "Label:" | value pair ("Generated on:" | date, "Prepared by:" | name) is neither (−0.8 data, −0.5 header);
    - a page line of two or three cells ("Cascade Co-op" … "3 of 40", "p. 3") is not data (−0.8 data);
    - inside an open table, two cells with column A blank are a continuation of the record above (the
      member's address under the name), not a record (−0.8 data). Column A stands in for the table's first
      column, which the table hint does not carry: in a table that starts further right, a record with only
      two filled cells is left out too."""
    filled, values, _wordy, _known = row_profile(row_values_sample, manifest)
    scores = {}
    if filled and values:
        scores["data"] = round(0.3 + 0.4 * values / filled, 3)
    if filled == 1:
        scores["data"] = scores.get("data", 0.0) - 0.8
        scores["header"] = -0.5
    elif filled >= 3:
        if values or table_hint.get("state") == "data":
            scores["data"] = scores.get("data", 0.0) + 0.2
        if values and filled == 3 and page_line(row_values_sample):
            return {"scores": dict(NOT_DATA)}
    elif _is_label_value(row_values_sample):
        return {"scores": dict(LABEL_VALUE)}
    elif values and ((row_values_sample[0] is None and table_hint.get("state") == "data")
                     or page_line(row_values_sample)):
        return {"scores": dict(NOT_DATA)}
    return {"scores": scores}


def _is_label_value(cells):
    for first in cells:
        if first is not None:
            return isinstance(first, str) and first.rstrip().endswith(":")
    return False
