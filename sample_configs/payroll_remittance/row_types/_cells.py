"""Cell classifiers shared by the row detectors."""

import re
from datetime import date, datetime, time
from functools import lru_cache

DATE_TEXT = re.compile(
    r"^(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{1,2}[ -][A-Za-z]{3,9}[ -]\d{4})$")
EMAIL = re.compile(r"^\S+@\S+\.\S+$")


def filled(cells):
    return [c for c in cells if c is not None]


@lru_cache(maxsize=8192)
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
    return _text_is_value(str(cell).strip())


# Row detectors see every row of a sheet, and the same texts (statuses, departments, codes) come back again
# and again: remembering the verdict per text keeps Pass 1 fast. The cache is pure: same text, same answer.
@lru_cache(maxsize=8192)
def _text_is_value(text):
    if is_email(text) or DATE_TEXT.match(text) or is_numeric(text):
        return True
    # short codes such as "M-10023" or "E 2001"; a sentence that mentions a date is not a value
    return len(text) <= 24 and len(text.split()) <= 3 and any(ch.isdigit() for ch in text)


def is_wordy(cell):
    """Short text without digits or '@': what header cells look like."""
    return isinstance(cell, str) and not is_value(cell) and "@" not in cell and len(cell.strip()) <= 60


def known_phrases(manifest):
    """Every field label and synonym of the manifest, normalized."""
    metas = manifest["columns"]["meta"].values()
    return _phrases(tuple((meta["label"], tuple(meta.get("synonyms") or ())) for meta in metas))


@lru_cache(maxsize=8)
def _phrases(labels):
    phrases = set()
    for label, synonyms in labels:
        phrases.add(squash(label))
        phrases.update(squash(s) for s in synonyms)
    return frozenset(phrases)


def row_profile(cells):
    """(filled, values, wordy) counts of one row. Several detectors look at the same row one after the
    other; the small cache lets them share one pass over its cells."""
    return _row_profile(tuple(cells))


@lru_cache(maxsize=16)
def _row_profile(cells):
    present = [c for c in cells if c is not None]
    values = [is_value(c) for c in present]
    wordy = sum(1 for c, v in zip(present, values)
                if not v and isinstance(c, str) and "@" not in c and len(c.strip()) <= 60)
    return len(present), sum(values), wordy
