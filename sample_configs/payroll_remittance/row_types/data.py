"""Data rows: typed values (numbers, dates, e-mail addresses, codes) across several cells."""

from row_types._cells import row_profile


def detect_data(*, row_values_sample, manifest, **_):
    """- typed values: +0.3 … +0.7 data by the share of filled cells that are values;
    - width: one filled cell (titles, "Exported …" lines, notes) is neither header nor data (−0.8 data,
      −0.5 header); three or more filled cells +0.2 data."""
    filled, values, _wordy, _known = row_profile(row_values_sample, manifest)
    scores = {}
    if filled and values:
        scores["data"] = round(0.3 + 0.4 * values / filled, 3)
    if filled == 1:
        scores["data"] = scores.get("data", 0.0) - 0.8
        scores["header"] = -0.5
    elif filled >= 3:
        scores["data"] = scores.get("data", 0.0) + 0.2
    return {"scores": scores}
