"""One line (row) of a sheet, described without its neighbours: which cells are filled and with what kind.

`Line` is what the segmenter works on; `line_evidence(line)` gives the context-free role scores with a reason
(title, note, header-like, data-like, total, page furniture, label:value metadata).
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from ade_engine.detect.cells import (
    CODE, DATE, EMPTY, NULL, NUMBER, TEXT, VALUE_KINDS, YEAR, YEAR_MAX, YEAR_MIN, kind,
)

# Role names used in decisions (and in the artifact)
TITLE, METADATA, HEADER, DATA, GROUP, TOTAL, NOTE, FURNITURE, BLANK = (
    "title", "metadata", "header", "data", "group", "total", "note", "furniture", "blank")
ROLES = (TITLE, METADATA, HEADER, DATA, GROUP, TOTAL, NOTE, FURNITURE, BLANK)

NOTE_START = re.compile(
    r"^\s*(?:\(?\d{1,2}[).:]|\(?[a-z][).]\s|\\\d+\\?|[*†‡#]+\s?\S|(?:notes?|sources?|footnotes?|remarks?|nb|n\.b\.|"
    r"symbols?|legend|key|p\s?=|r\s?=|e\s?=|z\s?=|x\s?=|na\s?=|-\s?=|\.\.\s?=|see\b|excludes?\b|includes?\b|"
    r"data\s+(?:are|is|for|from|source)|figures?\s+(?:are|may|for|in|exclude|include)|totals?\s+may|"
    r"updated|last\s+updated|revised|released|published|prepared|compiled|produced|copyright|©|"
    r"click|return\s+to|back\s+to|for\s+more|more\s+information|contact|enquiries|inquiries|please|"
    r"https?://|www\.|<http))", re.IGNORECASE)
_ANY_DIGIT = re.compile(r"\d")
CAPTION = re.compile(r"^(?:table|figure|chart|exhibit|annex|appendix|schedule)\s+[a-z]{0,2}\d+[a-z]?"
                     r"(?:[.\-]\d+[a-z]?)*\b", re.IGNORECASE)
BAND = re.compile(r"^\d{1,3}\s?[-–]\s?\d{1,3}$|^\d{1,3}\s?\+$")
NUMBERED_NOTE = re.compile(r"^\s*(?:\d{1,2}\s+[A-Z]|\d{1,2}\s?[-–]\s?[A-Z])")
PAGE_MARK = re.compile(r"^(?:page\s*\d+(?:\s*(?:of|/)\s*\d+)?|\d+\s+of\s+\d+|p\.\s*\d+)$", re.IGNORECASE)
TOTAL_WORD = re.compile(r"\b(?:total|totals|subtotal|sub-total|grand total|all\b|sum|average|mean|median)\b",
                        re.IGNORECASE)
UNITS = re.compile(r"^\(?\s*(?:in\s+)?(?:thousands?|millions?|billions?|percent|per\s?cent|%|\$|£|€|number|"
                   r"dollars|pounds|euros|units?|rate|ratio|index)\b.*\)?$|^\(.*\)$", re.IGNORECASE)


class Line:
    """A non-blank row: where its cells are and what kind each is (cells kept by reference)."""

    __slots__ = ("row", "cells", "kinds", "cols", "filled", "first", "last", "n_value", "n_number", "n_year",
                 "n_text", "n_null", "text_len")

    def __init__(self, row: int, cells: Sequence[Any]):
        self.row = row
        self.cells = cells
        kinds = [kind(c) for c in cells]
        self.kinds = kinds
        cols = [i for i, k in enumerate(kinds) if k != EMPTY]
        self.cols = cols
        self.filled = len(cols)
        self.first = cols[0] if cols else -1
        self.last = cols[-1] if cols else -1
        self.n_number = kinds.count(NUMBER)
        self.n_year = kinds.count(YEAR)
        self.n_null = kinds.count(NULL)
        self.n_text = kinds.count(TEXT)
        self.n_value = self.n_number + self.n_null + kinds.count(CODE) + kinds.count(DATE)
        first_text = cells[self.first] if cols and kinds[self.first] == TEXT else None
        self.text_len = len(str(first_text)) if first_text is not None else 0

    def text(self, col: int) -> str:
        v = self.cells[col] if col < len(self.cells) else None
        return "" if v is None else str(v).strip()

    @property
    def first_text(self) -> str:
        return self.text(self.first) if self.first >= 0 else ""

    # -- shapes
    @property
    def single(self) -> bool:
        return self.filled == 1

    @property
    def datalike(self) -> bool:
        """Holds values: numbers, null tokens, codes or dates (a year counts when other numbers sit beside it)."""
        if self.n_value == 0:
            return self.n_year > 0 and self.n_text == 1 and self.kinds[self.first] == TEXT and self.n_year <= 2
        if self.filled == 1:
            return self.kinds[self.first] in (NUMBER, DATE, CODE)
        return True

    @property
    def headerlike(self) -> bool:
        """Several cells of text or years and no other values (a header, a units row, a column-title row)."""
        if self.filled < 2:
            return False
        if self.n_value == 0:
            return True
        # A few numbers in a wide header ("15", "16" as ages) but mostly text; age or size bands ("19-24",
        # "25+") are labels here, not codes
        if self.n_number + self.n_null > max(0, (self.filled - 1) // 3):
            return False
        if self.n_text >= 2 * self.n_value:
            return True
        bands = sum(1 for c in self.cols if self.kinds[c] == CODE and BAND.match(self.text(c)))
        return bands > 0 and self.n_text + bands >= 2 * (self.n_value - bands)

    def is_units_row(self) -> bool:
        """A units or sub-column row ("n" | "(%)" | "n" | "(%)", "(1,000)" | "(1,000)"): the value-like cells
        repeat (at most half of them distinct), none holds a digit unless bracketed, and one at least is text or
        bracketed and not a null token, in half the cells at least (a row of dashes or "(NA)" is not one). Such a
        row reads as values but belongs to the header."""
        if self.n_value == 0 or self.filled < 3:
            return False
        cols = self.cols[1:] if self.kinds[self.first] == TEXT else self.cols
        texts = []
        marked = 0
        for c in cols:  # a body row leaves at its first unbracketed digit
            t = self.text(c)
            bracketed = len(t) >= 2 and t[0] in "([" and t[-1] in ")]"
            if not bracketed and _ANY_DIGIT.search(t):
                return False
            k = self.kinds[c]
            if k == TEXT or bracketed and k != NULL:
                marked += 1
            texts.append(t)
        return len(texts) >= 2 and len(set(texts)) * 2 <= len(texts) and marked * 2 >= len(texts)

    def is_caption(self) -> bool:
        """A numbered caption: "Table 4.1", "Figure 2:", "Annex N - Table 1B" in the first cell."""
        return bool(CAPTION.match(self.first_text))

    def is_note(self) -> bool:
        t = self.first_text
        if not t:
            return False
        return bool(NOTE_START.match(t) or NUMBERED_NOTE.match(t)) or len(t) > 120

    def is_total(self) -> bool:
        t = self.first_text
        return bool(t) and bool(TOTAL_WORD.search(t[:40]))

    def is_page_mark(self) -> bool:
        return self.filled <= 3 and any(PAGE_MARK.match(self.text(c)) for c in self.cols)

    def is_label_value(self) -> bool:
        """"Label:" | value — a metadata line of a report header."""
        if self.filled != 2 and not (self.filled == 1 and ":" in self.first_text[1:-1]):
            return False
        t = self.first_text
        if self.filled == 1:
            head, _, tail = t.partition(":")
            return 0 < len(head) <= 30 and bool(tail.strip()) and not tail.strip().startswith("//")
        return t.endswith(":")


def body_row(cells: Sequence[Any]) -> bool | None:
    """Cheap test for a row streaming past an open table: True when `Line(row, cells)` would be data-like and
    not a total, None when only the full `Line` can tell. Numbers and dates are recognised by their Python type
    before any text is looked at, and the scan stops at the first value cell, so a body row of a workbook costs
    no regex (texts hit the `kind` cache)."""
    filled = len(cells) - cells.count(None)
    if filled < 2:
        return None
    first = None
    found = False
    for v in cells:
        if v is None:
            continue
        if first is None:
            first = v
        cls = v.__class__
        if (cls is float and not (v.is_integer() and YEAR_MIN <= v <= YEAR_MAX)
                or cls is int and not YEAR_MIN <= v <= YEAR_MAX):
            found = True
            break
    if not found:
        for v in cells:
            if v is not None and kind(v) in VALUE_KINDS:
                found = True
                break
        if not found:
            return None  # a text row, or years beside one label: the full rules decide
    if first.__class__ is str and _total_text(first):
        return False
    return True


_totals: dict[str, bool] = {}


def _total_text(text: str) -> bool:
    hit = _totals.get(text)
    if hit is None:
        hit = bool(TOTAL_WORD.search(text.strip()[:40]))
        if len(_totals) >= 50_000:
            _totals.clear()
        _totals[text] = hit
    return hit


def make_lines(rows: Sequence[tuple[int, Sequence[Any]]]) -> list[Line]:
    """Non-blank rows as `Line`s (blank rows are gaps between row numbers)."""
    out = []
    for row, cells in rows:
        line = Line(row, cells)
        if line.filled:
            out.append(line)
    return out
