"""Total / count rows ("Total members", "Subtotal", "Count"): a custom non-data label."""

from row_types._cells import filled

WORDS = ("total", "totals", "subtotal", "sub-total", "grand total", "count", "sum")


def detect_total_label(*, row_values_sample, **_):
    cells = filled(row_values_sample)
    if not cells or not isinstance(cells[0], str):
        return {"scores": {}}
    first = " ".join(cells[0].lower().replace(":", " ").split())
    if any(first == w or first.startswith(w + " ") for w in WORDS):
        return {"scores": {"total_row": 1.0, "data": -0.6, "header": -0.6}}
    return {"scores": {}}
