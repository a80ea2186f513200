"""Data rows: typed values (numbers, dates, e-mail addresses, codes) across several cells."""

from row_types._cells import filled, is_value


def detect_typed_values(*, row_values_sample, **_):
    cells = filled(row_values_sample)
    if not cells:
        return {"scores": {}}
    typed = sum(1 for c in cells if is_value(c)) / len(cells)
    return {"scores": {"data": round(0.3 + 0.4 * typed, 3)}} if typed else {"scores": {}}


def detect_width(*, row_values_sample, **_):
    count = len(filled(row_values_sample))
    if count == 1:                    # titles, "Exported …" lines and notes: neither header nor data
        return {"scores": {"data": -0.8, "header": -0.5}}
    return {"scores": {"data": 0.2}} if count >= 3 else {"scores": {}}
