"""Total / count rows ("Total members", "Subtotal", "Count"): a custom non-data label."""

from row_types._cells import CACHE_LIMIT

WORDS = ("total", "totals", "subtotal", "sub-total", "grand total", "count", "sum")
TOTAL = {"total_row": 1.0, "data": -0.6, "header": -0.6}
_seen: dict = {}  # first-cell text → is a total label (the same few texts come back on every row)


def detect_total_label(*, row_values_sample, **_):
    for first in row_values_sample:
        if first is not None:
            break
    else:
        return {"scores": {}}
    if not isinstance(first, str):
        return {"scores": {}}
    hit = _seen.get(first)
    if hit is None:
        words = " ".join(first.lower().replace(":", " ").split())
        hit = any(words == w or words.startswith(w + " ") for w in WORDS)
        if len(_seen) >= CACHE_LIMIT:
            _seen.clear()
        _seen[first] = hit
    return {"scores": dict(TOTAL)} if hit else {"scores": {}}
