"""Cell classifiers shared by the row detectors.

Row detectors see every row of every sheet, so this module is written for that loop: one pass over a
row's cells, and the verdict for each distinct text remembered in a plain dict (statuses, departments,
codes and labels come back again and again; a dict lookup is the cheapest way to say "seen it")."""

import re
from datetime import date, datetime, time

from columns._headers import header_key

DATE_TEXT = re.compile(
    r"^(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{1,2}[ -][A-Za-z]{3,9}[ -](\d{2}|\d{4}))$")
# Header labels that hold a digit but are not values: "Address 1", "Address Line 2", "Phone #2", "Email2"
# (a word of 3+ letters, then a 1–2 digit ordinal) and plan names such as "401(k)". Month names are left
# out: "Mar 15" is a date.
NUMBERED_LABEL = re.compile(
    r"^(?!(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? )"
    r"[A-Za-z]{3,}(?:[ -][A-Za-z]+)* ?#?\d{1,2}$|^\d{3}\([a-z]\)$")
EMAIL = re.compile(r"^\S+@\S+\.\S+$")
# Print furniture: "Page 3", "Page 3 of 40", "Page 3 / 40", "3 of 40", "p. 3" (a report's page line).
PAGE_MARK = re.compile(r"^(?:page\s*\d+(?:\s*(?:of|/)\s*\d+)?|\d+\s+of\s+\d+|p\.\s*\d+)$", re.IGNORECASE)
_DIGIT = re.compile(r"[0-9]")  # ASCII digits; other scripts' digits take the slow check
TYPED = (int, float, date, datetime, time)
_TYPED_CLASSES = frozenset(TYPED)  # exact classes (bool is not among them)

# Verdict flags of one cell: a value (number, date, e-mail, code) or wordy (short text, what headers hold), and
# whether the text equals a field label or synonym of the manifest ("known"). Text that is neither — a sentence,
# a long note — is what instruction sheets and notes hold, and headers do not.
VALUE, WORDY, KNOWN = 1, 2, 4
WORDY_MAX_WORDS = 5  # "Amount of Federal Tax Withheld" is a label; "Unique member identifier, for example…" is not
CACHE_LIMIT = 50_000  # distinct texts remembered; a cache starts over beyond it (bounded memory)


def squash(text):
    """The key a text is compared with the manifest's labels by (the column detectors use the same one)."""
    return header_key(text)


def is_numeric(text):
    text = text.strip().strip("()").replace(",", "").replace(" ", "").lstrip("$€£-")
    try:
        float(text)
        return True
    except ValueError:
        return False


def text_is_value(text):
    """`text` (stripped) is an e-mail address, a date, a number, or a short code with digits ("M-10023").
    The cheap tests come first: most values in a roster are codes, phone numbers and e-mail addresses."""
    if "@" in text and EMAIL.match(text):
        return True
    if _DIGIT.search(text) or (not text.isascii() and any(ch.isdigit() for ch in text)):
        # a short code; a sentence that mentions a date is not a value, nor is a numbered label
        if len(text) <= 24 and len(text.split()) <= 3:
            # codes, phone numbers and amounts (most short digit texts) do not start with three letters
            return not ((text[:3].isalpha() or text[-1] == ")") and NUMBERED_LABEL.match(text))
        return bool(DATE_TEXT.match(text)) or is_numeric(text)
    return is_numeric(text)  # no digit: only "nan", "inf" and the like parse


def page_line(cells):
    """One of the cells is a page mark ("Page 3 of 40"). Asked only of rows with three or fewer cells."""
    return any(c.__class__ is str and PAGE_MARK.match(c.strip()) for c in cells)


def first_filled(cells):
    """The first non-blank cell (None for an empty row)."""
    for cell in cells:
        if cell is not None:
            return cell
    return None


class _Texts:
    """Verdicts for one manifest (its labels decide what is known)."""

    def __init__(self, manifest):
        self.manifest = manifest
        self.phrases = known_phrases(manifest)
        self.verdicts = {}

    def verdict(self, text):
        verdict = self.verdicts.get(text)
        if verdict is None:
            stripped = text.strip()
            if text_is_value(stripped):
                verdict = VALUE  # a label is never a value: the (dearer) label key is not needed
            else:
                if "@" not in text and len(stripped) <= 60 and len(stripped.split()) <= WORDY_MAX_WORDS:
                    verdict = WORDY | KNOWN if squash(text) in self.phrases else WORDY
                else:
                    verdict = KNOWN if squash(text) in self.phrases else 0
            if len(self.verdicts) >= CACHE_LIMIT:
                self.verdicts.clear()
            self.verdicts[text] = verdict
        return verdict


def known_phrases(manifest):
    """Every field label and synonym of the manifest, normalized."""
    phrases = set()
    for meta in manifest["columns"]["meta"].values():
        phrases.add(squash(meta["label"]))
        phrases.update(squash(s) for s in meta.get("synonyms") or ())
    return frozenset(phrases)


def _other_verdict(cell):
    if isinstance(cell, TYPED) and not isinstance(cell, bool):
        return VALUE
    # booleans and anything else a reader may hand over: judged by their text, never wordy (not a string)
    return VALUE if text_is_value(str(cell).strip()) else 0


_texts = None
_last_row: tuple = ()
_last_profile = (0, 0, 0, 0)


def row_profile(cells, manifest):
    """(filled, values, wordy, known) counts of one row. Each row detector asks for the row it is looking at,
    one after the other: the last answer is kept for the next caller. The counting is done with list and
    tuple methods (C loops) rather than a Python loop per cell: this runs for every row of every sheet."""
    global _texts, _last_row, _last_profile
    if _texts is None or _texts.manifest is not manifest:
        _texts, _last_row = _Texts(manifest), ()
    key = tuple(cells)
    if key == _last_row and key:
        return _last_profile
    texts = [c for c in key if c.__class__ is str]
    flags = list(map(_texts.verdicts.get, texts))
    if None in flags:
        verdict = _texts.verdict
        flags = [f if f is not None else verdict(t) for f, t in zip(flags, texts)]
    count = flags.count
    known_values, known_wordy = count(VALUE | KNOWN), count(WORDY | KNOWN)
    values = count(VALUE) + known_values
    wordy = count(WORDY) + known_wordy
    known = count(KNOWN) + known_values + known_wordy
    present = len(key) - key.count(None)
    others = present - len(texts)
    if others:
        typed = sum(map(_TYPED_CLASSES.__contains__, map(type, key)))
        values += typed
        if others > typed:  # booleans, str subclasses, durations, decimals…: the careful way
            for cell in key:
                if cell is None or cell.__class__ is str or cell.__class__ in _TYPED_CLASSES:
                    continue
                flag = _texts.verdict(cell) if isinstance(cell, str) else _other_verdict(cell)
                values += bool(flag & VALUE)
                wordy += bool(not flag & VALUE and flag & WORDY)
                known += bool(flag & KNOWN)
    _last_row, _last_profile = key, (present, values, wordy, known)
    return _last_profile
