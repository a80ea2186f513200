"""Helpers shared by the row detectors."""


def filled(cells):
    return [c for c in cells if c is not None]


def looks_numeric(cell):
    if isinstance(cell, bool):
        return False
    if isinstance(cell, int | float):
        return True
    text = str(cell).strip().strip("()").replace(",", "").lstrip("$€£")
    try:
        float(text)
    except ValueError:
        return False
    return True
