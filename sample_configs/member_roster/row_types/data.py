"""Data rows: typed values (numbers, dates, e-mail addresses, codes) across several cells."""

from row_types._cells import row_profile


def detect_typed_values(*, row_values_sample, **_):
    filled, values, _wordy = row_profile(row_values_sample)
    if not filled or not values:
        return {"scores": {}}
    return {"scores": {"data": round(0.3 + 0.4 * values / filled, 3)}}


def detect_width(*, row_values_sample, **_):
    filled, _values, _wordy = row_profile(row_values_sample)
    if filled == 1:                   # titles, "Exported …" lines and notes: neither header nor data
        return {"scores": {"data": -0.8, "header": -0.5}}
    return {"scores": {"data": 0.2}} if filled >= 3 else {"scores": {}}
