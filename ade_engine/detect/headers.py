"""Header text → matching key, and fuzzy matching of a header against a field's label and synonyms.

`header_key("Hire Date (1)")`, `header_key("HIRE_DATE²")`, `header_key("hireDate [yyyy-mm-dd]")` are all
`"hire date"`: footnote marks (trailing digits, `*`, `†`, `(a)`, `\\1`), units and formats in brackets, case,
camelCase, spacing and punctuation go; a few common abbreviations are written out.

`similarity(a, b)` compares two keys word by word; a word matches another when equal, or when both are at
least 5 letters long and one edit apart (one letter added, dropped or two swapped; a changed letter needs 6+). So "Adress" finds
"Address" and "Recieved" finds "Received", while "Date" never finds "Rate" nor "Name" "Game" (short words must be
equal) — measured in tests/detect/test_headers.py.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable

_BRACKETS = re.compile(r"\s*[\(\[\{][^\)\]\}]*[\)\]\}]")
_FOOTNOTE = re.compile(r"(?:\s*(?:\\\d+\\?|[*†‡§¹²³⁴⁵⁶⁷⁸⁹⁰]+|\(\w\)|\[\w\]))+$")
_TRAIL_DIGIT = re.compile(r"(?<=[a-z])\d{1,2}$")  # "Uncontested2", "Percent distribution1"
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_BREAKS = str.maketrans({c: " " for c in "_.-:*/\\()[]{},;|'\"!?"} | {"#": " # ", "&": " and ", "%": " percent "})
_EMAIL = re.compile(r"\be mail\b")
_NO_DIGITS = str.maketrans("", "", "0123456789")
ABBREVIATIONS = {
    "#": "number", "no": "number", "num": "number", "nbr": "number", "qty": "quantity", "amt": "amount",
    "dt": "date", "emp": "employee", "ee": "employee", "identifier": "id", "tel": "telephone",
    "addr": "address", "dept": "department", "yr": "year", "mo": "month", "avg": "average", "pct": "percent",
    "st": "street", "acct": "account", "desc": "description", "ref": "reference",
}


@lru_cache(maxsize=8192)
def header_key(text: object) -> str:
    """Lower-case words of `text`, without footnote marks, bracketed units, punctuation; abbreviations out."""
    t = " ".join(str(text).split())
    t = _FOOTNOTE.sub("", t)
    stripped = _BRACKETS.sub("", t).strip()
    t = stripped or t  # a header that is all brackets keeps its words
    if not (t.islower() or t.isupper()):
        t = _CAMEL.sub(" ", t)
    t = t.lower()
    t = _TRAIL_DIGIT.sub("", t)
    words = [ABBREVIATIONS.get(w, w) for w in t.translate(_BREAKS).split()]
    return _EMAIL.sub("email", " ".join(words))


def _one_edit(a: str, b: str) -> bool:
    """`a` and `b` differ by exactly one insertion, deletion, substitution or adjacent swap."""
    if a == b:
        return False
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    if la > lb:
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1:]


def word_match(a: str, b: str) -> bool:
    """Equal, or one edit apart when both words have 5+ characters and are not numbers; a changed letter
    (rather than one added, dropped or swapped) needs 6+ characters ("Total" is not "Tonal")."""
    if a == b:
        return True
    if len(a) < 5 or len(b) < 5 or a.isdigit() or b.isdigit() or not _one_edit(a, b):
        return False
    if len(a) == len(b) and len(a) < 6:
        return sorted(a) == sorted(b)  # a swap of two letters
    return True


def similarity(a: str, b: str) -> float:
    """1.0 for equal keys; 0.9 for the same words with one-letter typos; else 0.0 (no partial credit)."""
    if a == b:
        return 1.0
    wa, wb = a.split(), b.split()
    if not wa or len(wa) != len(wb):
        return 0.0
    return 0.9 if all(word_match(x, y) for x, y in zip(wa, wb)) else 0.0


def match_header(header: object, names: Iterable[str]) -> float:
    """Best score of `header` against `names` (a label and its synonyms): 1.0 equal keys, 0.9 a typo,
    0.6 when a name's words appear whole inside the header ("Employee Email Address" ~ "email"), else 0."""
    if header is None:
        return 0.0
    key = header_key(header)
    if not key:
        return 0.0
    best = 0.0
    words = f" {key} "
    for name in names:
        nk = header_key(name)
        if not nk:
            continue
        s = similarity(key, nk)
        if s == 0.0 and f" {nk} " in words:
            s = 0.6
        best = max(best, s)
        if best == 1.0:
            break
    return best


class LabelMatcher:
    """Does a cell name one of a set of labels (equal keys or a one-letter typo, as `match_header` >= 0.9)?

    Built once for a list of names (a manifest's labels and synonyms) for detectors that look at every cell of
    every row: the names' keys are computed once and grouped by word count (a typo never changes it), a
    text's verdict is remembered in a bounded dict, and texts longer than `max_len` are never labels, nor
    texts made mostly of digits when no name has one. A data cell costs one dict lookup when seen before, else
    one `header_key` and a few word comparisons. `names` may be `(name, tag)` pairs (a field id for each
    label and synonym): `tag_of(text)` then says which field a cell names, so a row that repeats one field's
    synonym ("Total" | "Total") can be told from one naming two fields."""

    def __init__(self, names: Iterable[str | tuple[str, object]], *, max_len: int = 60, cache_limit: int = 50_000):
        self.tags: dict[str, object] = {}  # name key -> tag (the key itself without tags)
        self.by_words: dict[int, list[tuple[list[str], object]]] = {}
        for item in names:
            name, tag = item if isinstance(item, tuple) else (item, None)
            key = header_key(name)
            if key and key not in self.tags:
                self.tags[key] = key if tag is None else tag
                self.by_words.setdefault(key.count(" ") + 1, []).append((key.split(), self.tags[key]))
        self.keys = set(self.tags)
        self.digits = any(ch.isdigit() for key in self.keys for ch in key)
        self.max_len = max_len
        self.cache_limit = cache_limit
        self._seen: dict[str, object] = {}

    def __call__(self, text: object) -> bool:
        return self.tag_of(text) is not None

    def tag_of(self, text: object) -> object:
        """The tag of the name `text` matches (its key when names had no tags), or None."""
        if text.__class__ is not str:
            return None
        hit = self._seen.get(text, _MISSING)  # type: ignore[call-overload]
        if hit is _MISSING:
            hit = self._match(text)  # type: ignore[arg-type]
            if len(self._seen) >= self.cache_limit:
                self._seen.clear()
            self._seen[text] = hit  # type: ignore[index]
        return hit

    def _match(self, text: str) -> object:
        if len(text) > self.max_len:
            return None
        if not self.digits and (len(text) - len(text.translate(_NO_DIGITS))) * 2 > len(text):
            return None  # mostly digits (an id, a phone number, an amount): no label of these names
        key = header_key.__wrapped__(text)  # uncached: most texts seen here are values, met once
        if not key:
            return None
        if key in self.tags:
            return self.tags[key]
        words = key.split()
        for cand, tag in self.by_words.get(len(words), ()):
            if all(word_match(x, y) for x, y in zip(words, cand)):
                return tag
        return None


_MISSING = object()
