"""Total / count rows ("Total members", "Subtotal", "Count", "Operations Total"): a custom non-data label."""

from row_types._cells import CACHE_LIMIT

LEADING = ("total", "totals", "subtotal", "sub-total", "grand total", "count", "sum")
TRAILING = ("total", "totals", "subtotal", "sub-total")
TOTAL = {"total_row": 1.0, "data": -0.6, "header": -0.6}
NONE, FIRST_ONLY, ANYWHERE = 0, 1, 2
_seen: dict = {}  # text → NONE / FIRST_ONLY / ANYWHERE (the same few texts come back on every row)


def _judge(text):
    """ANYWHERE: "Total", "Subtotal", "<group> Total" (Excel's Data › Subtotal puts that label in the grouped
    column, after blank or summed cells); FIRST_ONLY: a label that starts a row ("Total members", "Count: 20") —
    "Sum" or "Count" after a number could be a name."""
    low = text.lower()
    if "tot" not in low and "count" not in low and "sum" not in low:
        return NONE  # ids, names and codes: most texts are judged here, once each
    words = " ".join(low.replace(":", " ").split())
    if any(words == w or words.endswith(" " + w) for w in TRAILING):
        return ANYWHERE
    return FIRST_ONLY if any(words.startswith(w + " ") or words == w for w in LEADING) else NONE


def detect_total_label(*, row_values_sample, **_):
    """The first filled cell is a total label, or the first text cell (after blanks or numbers) is "Total",
    "Subtotal" or "<group> Total" → total_row. Only one text is looked at: this runs on every row."""
    first = True
    for cell in row_values_sample:
        if cell is None:
            continue
        if isinstance(cell, str):
            hit = _seen.get(cell)
            if hit is None:
                hit = _judge(cell)
                if len(_seen) >= CACHE_LIMIT:
                    _seen.clear()
                _seen[cell] = hit
            return {"scores": dict(TOTAL)} if hit == ANYWHERE or (first and hit) else {"scores": {}}
        first = False
    return {"scores": {}}
