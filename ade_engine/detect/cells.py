"""What one cell holds: a number, a year, a null token, a code, a date, or text (and which kind of text).

`kind(value)` is called for every cell of every row, so texts are judged once and remembered in a bounded
dict. Kinds are small ints; a line keeps only their counts and a few flags (`ade_engine.detect.lines`).
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time
from typing import Any

# Cell kinds
EMPTY, NUMBER, YEAR, NULL, CODE, DATE, TEXT = range(7)
KIND_NAMES = ("empty", "number", "year", "null", "code", "date", "text")
VALUE_KINDS = frozenset({NUMBER, NULL, CODE, DATE})  # what a body row holds (a year is ambiguous: header or value)

# Null tokens of statistical tables and exports: not available, suppressed, not applicable, rounds to zero.
NULL_TOKENS = frozenset({
    "-", "--", "---", "—", "–", ".", "..", "...", "…", "*", "**", "***", "x", "z", "na", "n/a", "n.a.", "n.a",
    "nil", "none", "null", "nan", "#n/a", "(na)", "(x)", "(z)", "(d)", "(s)", "(b)", "(nm)", "(r)", "nm", "nr",
    "ns", "s", "d", "c", "u", ":", "(*)", "†", "‡", "‡‡", "~", "?", "#", "n.d.", "nd", "(-)", "0", "[x]", "[c]",
    "[z]", "[u]", "[w]", "[low]", "low", "*~", "(l)", "(p)", "-*", "z*", "w", "n", "b",
    "\\n", "\\r\\n", "\\t",  # an escaped line break or tab alone: an empty cell written out by an export
})
YEAR_MIN, YEAR_MAX = 1800, 2100
_NUM = re.compile(r"^[(\[]?[-+−]?[$€£¥]?\s?[-+−]?(?:\d{1,3}(?:[,\s]\d{3})+|\d+)?(?:\.\d+)?\s?(?:%|[kKmMbB]n?)?[)\]]?"
                  r"(?:\s?[*†‡]+|\s?\(?[a-zA-Z]\)|\s?\\\d\\?)?$")
_YEARISH = re.compile(r"^(?:(?:fy|cy|q[1-4]|h[12])\s?)?(1[89]\d\d|20\d\d)(?:\s?\(?[a-z0-9]{1,3}\)?|[*†]+|/\d{2,4}|-\d{2,4}"
                      r"|\s?(?:q[1-4]|p|r|e|est\.?)|\s?\\\d+\\?)?$", re.IGNORECASE)
_FISCAL = re.compile(r"^(?:fy|ay|cy|sy)\s?'?\d{2}(?:\s?[-/]\s?'?\d{2})?$", re.IGNORECASE)  # FY03, AY07-08
_DATE = re.compile(r"^(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}"
                   r"|\d{1,2}[ -][A-Za-z]{3,9}[ -]\d{2,4}|[A-Za-z]{3,9}[ -]\d{1,2},? \d{4}|\d{1,2}:\d{2}(?::\d{2})?"
                   r"(?:\s?[ap]m)?|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*[-/ ]\d{2,4})$",
                   re.IGNORECASE)
_CODE = re.compile(r"^(?=.*\d)[A-Za-z0-9][A-Za-z0-9._/#:+-]{0,23}$")
_DIGIT = re.compile(r"\d")
_NUM_START = frozenset("0123456789-+.")
_CENTURIES = frozenset({"18", "19", "20"})
_CACHE_LIMIT = 100_000
_kinds: dict[str, int] = {}


def is_year_number(v: float) -> bool:
    return v.is_integer() and YEAR_MIN <= v <= YEAR_MAX


def text_kind(text: str) -> int:
    """The kind of a non-empty text (stripped by the caller or not)."""
    hit = _kinds.get(text)
    if hit is not None:
        return hit
    k = _text_kind(text.strip())
    if len(_kinds) >= _CACHE_LIMIT:
        _kinds.clear()
    _kinds[text] = k
    return k


def _text_kind(t: str) -> int:
    if not t:
        return EMPTY
    low = t.lower()
    if low in NULL_TOKENS:
        return NULL
    c0 = t[0]
    if c0 in _NUM_START and len(t) <= 40 and "_" not in t:
        # the common case of a CSV body: a plain number that float() reads (no regex); "1e5", "inf", "nan"
        # and "1_000" take the slow path below
        try:
            v = float(t)
        except ValueError:
            pass
        else:
            if "e" not in low and "n" not in low:
                if v.is_integer() and YEAR_MIN <= v <= YEAR_MAX and t.replace(".0", "").isdigit():
                    return YEAR
                if t[:2] not in _CENTURIES or len(t) > 5 or not _YEARISH.match(t):  # "20131": 2013, note 1
                    return NUMBER
                return YEAR
    if not _DIGIT.search(t):
        return TEXT
    if len(t) <= 40:
        if _YEARISH.match(t) or _FISCAL.match(t):
            return YEAR
        if _NUM.match(t):
            try:
                v = float(re.sub(r"[^\d.eE+-]", "", t.replace("−", "-")) or "x")
            except ValueError:
                v = math.nan
            if math.isfinite(v) and is_year_number(v) and t.replace(".0", "").isdigit():
                return YEAR
            return NUMBER
        if _DATE.match(t):
            return DATE
        if " " not in t and _CODE.match(t):
            # a code ("A2712242R", "M-10023"), unless it is a word with a footnote digit ("Uncontested2")
            if t.replace(" ", "").rstrip("0123456789*)(,").isalpha() and sum(ch.isalpha() for ch in t) >= 3:
                return TEXT
            return CODE
    return TEXT


def kind(value: Any) -> int:
    """The kind of a cell value as readers give them (None, str, int, float, bool, date, datetime, time)."""
    if value is None:
        return EMPTY
    cls = value.__class__
    if cls is str:
        return text_kind(value)
    if cls is float or cls is int:
        return YEAR if (cls is int or value.is_integer()) and YEAR_MIN <= value <= YEAR_MAX else NUMBER
    if cls is bool:
        return CODE
    if isinstance(value, (datetime, date, time)):
        return DATE
    if isinstance(value, (int, float)):
        return NUMBER
    return text_kind(str(value))
