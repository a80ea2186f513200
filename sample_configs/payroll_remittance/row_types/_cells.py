"""Cell classifiers shared by the row detectors."""

import re
from datetime import date, datetime, time

DATE_TEXT = re.compile(
    r"^(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{1,2}[ -][A-Za-z]{3,9}[ -]\d{4})$")
EMAIL = re.compile(r"^\S+@\S+\.\S+$")


def filled(cells):
    return [c for c in cells if c is not None]


def squash(text):
    return " ".join(str(text).lower().split())


def is_email(cell):
    return isinstance(cell, str) and bool(EMAIL.match(cell.strip()))


def is_numeric(cell):
    if isinstance(cell, bool):
        return False
    if isinstance(cell, (int, float)):
        return True
    text = str(cell).strip().strip("()").replace(",", "").replace(" ", "").lstrip("$€£-")
    try:
        float(text)
        return True
    except ValueError:
        return False


def is_value(cell):
    """A cell a header would not hold: a number, a date, an e-mail address or a code with digits."""
    if isinstance(cell, (int, float, date, datetime, time)) and not isinstance(cell, bool):
        return True
    text = str(cell).strip()
    if is_email(text) or DATE_TEXT.match(text) or is_numeric(text):
        return True
    # short codes such as "M-10023" or "E 2001"; a sentence that mentions a date is not a value
    return len(text) <= 24 and len(text.split()) <= 3 and any(ch.isdigit() for ch in text)


def is_wordy(cell):
    """Short text without digits or '@': what header cells look like."""
    return isinstance(cell, str) and not is_value(cell) and "@" not in cell and len(cell.strip()) <= 60


def known_phrases(manifest):
    """Every field label and synonym of the manifest, normalized."""
    phrases = set()
    for meta in manifest["columns"]["meta"].values():
        phrases.add(squash(meta["label"]))
        phrases.update(squash(s) for s in meta.get("synonyms", []))
    return phrases
