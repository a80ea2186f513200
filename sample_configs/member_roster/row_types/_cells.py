"""Cell classifiers shared by the row detectors.

Row detectors see every row of every sheet, so this module is written for that loop: one pass over a
row's cells, and the verdict for each distinct text remembered in a plain dict (statuses, departments,
codes and labels come back again and again; a dict lookup is the cheapest way to say "seen it")."""

import re
from datetime import date, datetime, time

DATE_TEXT = re.compile(
    r"^(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{1,2}[ -][A-Za-z]{3,9}[ -]\d{4})$")
EMAIL = re.compile(r"^\S+@\S+\.\S+$")
TYPED = (int, float, date, datetime, time)

# Verdict of one text cell: a value (number, date, e-mail, code), wordy (short text, what headers hold), or neither.
VALUE, WORDY, OTHER = 1, 2, 0
_CACHE_LIMIT = 50_000  # distinct texts remembered; the cache starts over beyond it (bounded memory)
_verdicts: dict = {}


def filled(cells):
    return [c for c in cells if c is not None]


def squash(text):
    return " ".join(str(text).lower().split())


def is_numeric(text):
    text = text.strip().strip("()").replace(",", "").replace(" ", "").lstrip("$€£-")
    try:
        float(text)
        return True
    except ValueError:
        return False


def text_is_value(text):
    """`text` (stripped) is an e-mail address, a date, a number, or a short code with digits ("M-10023")."""
    if EMAIL.match(text) or DATE_TEXT.match(text) or is_numeric(text):
        return True
    # a sentence that mentions a date is not a value
    return len(text) <= 24 and len(text.split()) <= 3 and any(ch.isdigit() for ch in text)


def text_verdict(text):
    verdict = _verdicts.get(text)
    if verdict is None:
        stripped = text.strip()
        if text_is_value(stripped):
            verdict = VALUE
        elif "@" not in text and len(stripped) <= 60:
            verdict = WORDY
        else:
            verdict = OTHER
        if len(_verdicts) >= _CACHE_LIMIT:
            _verdicts.clear()
        _verdicts[text] = verdict
    return verdict


def cell_verdict(cell):
    if isinstance(cell, str):
        return text_verdict(cell)
    if isinstance(cell, TYPED) and not isinstance(cell, bool):
        return VALUE
    # booleans and anything else a reader may hand over: judged by their text, never wordy (not a string)
    return VALUE if text_is_value(str(cell).strip()) else OTHER


_last_row: tuple = ()
_last_profile = (0, 0, 0)


def row_profile(cells):
    """(filled, values, wordy) counts of one row. The data and header detectors both ask for the row they
    are looking at, one after the other: the last answer is kept for the second caller."""
    global _last_row, _last_profile
    key = tuple(cells)
    if key == _last_row and key:
        return _last_profile
    present = values = wordy = 0
    for cell in key:
        if cell is None:
            continue
        present += 1
        verdict = text_verdict(cell) if cell.__class__ is str else cell_verdict(cell)
        if verdict == VALUE:
            values += 1
        elif verdict == WORDY:
            wordy += 1
    _last_row, _last_profile = key, (present, values, wordy)
    return _last_profile


_known_for = None  # (manifest, {text: is a known phrase}) of the manifest last asked about


def known_label_hits(cells, manifest):
    """How many cells equal a field label or synonym of the manifest (case and spacing ignored)."""
    global _known_for
    if _known_for is None or _known_for[0] is not manifest:
        _known_for = (manifest, {}, _phrases(manifest))
    _manifest, seen, phrases = _known_for
    hits = 0
    for cell in cells:
        if isinstance(cell, str):
            known = seen.get(cell)
            if known is None:
                if len(seen) >= _CACHE_LIMIT:
                    seen.clear()
                known = seen[cell] = squash(cell) in phrases
            hits += known
    return hits


def _phrases(manifest):
    phrases = set()
    for meta in manifest["columns"]["meta"].values():
        phrases.add(squash(meta["label"]))
        phrases.update(squash(s) for s in meta.get("synonyms") or ())
    return frozenset(phrases)
