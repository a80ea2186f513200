from row_types._cells import filled, looks_numeric


def detect_has_numbers(*, row_values_sample, **_):
    if any(looks_numeric(c) for c in filled(row_values_sample)):
        return {"scores": {"data": 0.5}}
    return {"scores": {}}


def detect_width(*, row_values_sample, **_):
    count = len(filled(row_values_sample))
    if count == 1:  # titles and notes: neither header nor data
        return {"scores": {"data": -0.4, "header": -0.4}}
    return {"scores": {"data": 0.3}} if count >= 2 else {"scores": {}}
