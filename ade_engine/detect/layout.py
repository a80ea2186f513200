"""Table segmentation of one sheet: where each table's header and body start and end, and every line's role.

`detect_layout(rows)` takes a sheet's rows (`(row_number, cells)`, blank rows may be left out) and returns a
`Layout`: the tables (header rows, first and last body row) and a `Decision` per non-blank line (role, score
in [0, 1], a short reason). The rules, in order:

1. *First data line*: a line holding values (numbers, null tokens, codes, dates) with another such line (or a
   group row and then one) right below it, or a header-like line followed by several lines of the same shape
   (a text-only table).
2. *Header*: climb up to `max_header_lines` non-blank lines above it, over blank lines, while the lines are
   header-like (several text or year cells) or a spanning parent (one cell away from the table's first column);
   an upper line whose cells sit where neither the body nor the lower header has anything ends the climb, and so
   does a title, a note, a "Label: value" line or a line with values. A one-cell line just under the header is a
   section row and opens the body.
3. *Body*: walk down over value lines, blank lines, section rows (one text cell followed by values) and totals;
   the body ends before a note or page line, before a header-like line followed by values (the next table,
   repeated headers included), and before one-cell lines not followed by values (notes, the next title).
Lines outside tables are titles/metadata above and notes below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from ade_engine.detect.cells import CODE, DATE, EMPTY, NULL, NUMBER, TEXT, YEAR
from ade_engine.detect.lines import (
    BLANK, DATA, FURNITURE, GROUP, HEADER, METADATA, NOTE, TITLE, TOTAL, Line, make_lines,
)

MAX_HEADER_LINES = 8
MAX_COLUMNS = 1024  # columns looked at per row (a table's span is still taken from the whole row by the caller)


@dataclass(frozen=True)
class Decision:
    """One line's role with a score in [0, 1] and a short reason (never the cell values)."""

    row: int
    role: str
    score: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"row_index": self.row, "role": self.role, "score": round(self.score, 3), "reason": self.reason}


@dataclass
class TableSpan:
    """A table: header rows (possibly none), the first and last body row, and how sure the segmenter is."""

    header_rows: list[int]
    first_data_row: int
    last_data_row: int
    score: float = 0.0
    reason: str = ""
    columns: tuple[int, int] = (0, 0)  # 0-based first and last column with something in it

    def to_dict(self) -> dict[str, Any]:
        return {"header_rows": list(self.header_rows), "first_data_row": self.first_data_row,
                "last_data_row": self.last_data_row, "score": round(self.score, 3), "reason": self.reason}


@dataclass
class Layout:
    tables: list[TableSpan] = field(default_factory=list)
    decisions: dict[int, Decision] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # about the sheet as a whole (bounded work, odd shapes)

    def roles(self) -> dict[int, str]:
        return {r: d.role for r, d in self.decisions.items()}


# A package may pass its own per-line evidence: row → {role: delta}; "data" > 0 makes a line data-like,
# "header" > 0 header-like, a negative value of either takes that away (see docs/writing-detectors.md).
Evidence = Callable[[Line], dict[str, float]]


class _Segmenter:
    def __init__(self, lines: list[Line], max_header_lines: int, evidence: Sequence[Evidence]):
        self.lines = lines
        self.max_header = max_header_lines
        self.layout = Layout()
        self.datalike: list[bool] = []
        self.headerlike: list[bool] = []
        self.reasons: list[str] = []
        for line in lines:
            d, h, why = line.datalike, line.headerlike, ""
            if d and line.is_units_row():
                d, h, why = False, True, "units row"
            elif d and line.n_null == line.filled and line.first > 0 and self.headerlike and \
                    line.row - lines[len(self.headerlike) - 1].row == 1 and \
                    _labels_row(lines[len(self.headerlike) - 1], self.headerlike[-1]):
                d, h, why = False, True, "marks under a header"  # "(r)" | "(p)": revised, provisional
            for ev in evidence:
                scores = ev(line) or {}
                if scores.get("data", 0) > 0:
                    d, h, why = True, False, "package says data"
                elif scores.get("data", 0) < 0:
                    d = False
                if scores.get("header", 0) > 0:
                    h, d, why = True, False, "package says header"
                elif scores.get("header", 0) < 0:
                    h = False
            self.datalike.append(d)
            self.headerlike.append(h)
            self.reasons.append(why)

    # -- helpers
    def gap(self, k: int) -> int:
        """Blank rows between line k-1 and line k."""
        return self.lines[k].row - self.lines[k - 1].row - 1 if k > 0 else 0

    def decide(self, k: int, role: str, score: float, reason: str) -> None:
        line = self.lines[k]
        extra = self.reasons[k]
        self.layout.decisions[line.row] = Decision(line.row, role, score, f"{reason}; {extra}" if extra else reason)

    def is_group(self, k: int, table_first: int | None = None) -> bool:
        """A one-cell text line followed (directly or after more section lines) by a value line. A note
        pattern in the table's first column is a footnote, further right it is a row's continuation."""
        line = self.lines[k]
        if not line.single or self.datalike[k] or line.is_page_mark():
            return False
        t = line.first_text
        if t.startswith("(") and t.endswith(")") and line.first > (table_first or 0):
            return False  # "(Million kilowatts)" right of the first column: a units line of the header
        if line.text_len > 80 and (table_first is None or line.first <= table_first):
            return False
        for j in range(k + 1, min(k + 4, len(self.lines))):
            if self.datalike[j]:
                first = self.lines[j].first if table_first is None else table_first
                return not (line.is_note() and line.first <= first)
            if not self.lines[j].single or (self.lines[j].is_note() and self.lines[j].first <= line.first):
                return False
        return False

    def starts_body(self, k: int) -> bool:
        """Line k can be a first data line."""
        if not self.datalike[k]:
            return False
        line = self.lines[k]
        if line.single and line.is_note():
            return False
        n = len(self.lines)
        for j in range(k + 1, min(k + 4, n)):
            if self.datalike[j]:
                return True
            if not self.is_group(j, line.first):
                break
        return line.filled >= 2 and (k + 1 == n or (line.filled >= 3 and not self.headerlike[k + 1]))

    def text_table_at(self, k: int) -> bool:
        """Line k is a header-like line over at least two lines of the same width without values (a text
        table): k is its header. A value line among the next lines makes them a stacked header instead."""
        line = self.lines[k]
        if not self.headerlike[k] or line.filled < 2:
            return False
        same = 0
        n = len(self.lines)
        j = k + 1
        while j < min(k + 9, n):
            other = self.lines[j]
            if self.datalike[j]:
                # a record holding a code or a date but no number, shaped like the records above it, is one
                # more text record ("Aruba | ABW | …" among "Angola | AGO | …"); numbers mean a stacked header
                if not (same and other.n_number == 0 and self.gap(j) <= 1
                        and self.same_shapes(j, range(j - 1, k, -1))):
                    return False
            if self.gap(j) > 1 or other.filled < max(2, line.filled - 1) or other.is_note():
                break
            if abs(other.first - line.first) > 1:
                break
            same += 1
            j += 1
        if same < 2:
            return False
        # section rows and then figures right after the run: the run is a stacked header
        while j < n and self.lines[j].single and not self.datalike[j] and self.gap(j) <= 1 and j - k < 12:
            j += 1
        return not (j < n and self.datalike[j] and self.lines[j].n_number and self.gap(j) <= 1 and j - k <= 12)

    def same_shapes(self, k: int, others: Iterable[int], share: float = 2 / 3) -> bool:
        """Most cells of line k (two thirds, at least two, texts or codes: years never) have the shape (letters,
        digits, spaces, punctuation as runs) of a cell in the same column of `others`: a record of a text-heavy
        table, not a header."""
        line = self.lines[k]
        if line.filled < 2:
            return False
        seen: dict[int, set[str]] = {}
        for j in others:
            other = self.lines[j]
            for c in other.cols:
                seen.setdefault(c, set()).add(shape(other.cells[c]))
        if not seen:
            return False
        kinds = line.kinds
        hits = sum(1 for c in line.cols if kinds[c] in (TEXT, CODE) and shape(line.cells[c]) in seen.get(c, ()))
        return hits >= 2 and hits >= line.filled * share - 1e-9

    def header_over_body(self, k: int) -> bool:
        """Line k holds values but is the header of the lines below: in most of its columns, text (or a year,
        or a label with a digit) sits over a column of numbers, or its numbers count 1, 2, 3… across."""
        line = self.lines[k]
        if line.filled < 2:
            return False
        nums = [line.cells[c] for c in line.cols if line.kinds[c] == NUMBER]
        if len(nums) >= 3 and len(nums) * 2 >= line.filled and line.kinds[line.first] == TEXT and _counts_up(nums):
            return True
        if line.n_text + line.n_year + line.kinds.count(CODE) + line.kinds.count(DATE) < 2:
            return False
        below = [j for j in range(k + 1, min(k + 7, len(self.lines))) if self.datalike[j]]
        if len(below) < 2:
            return False
        breaks = agrees = 0
        for c in line.cols:
            kinds = [self.lines[j].kinds[c] for j in below if c < len(self.lines[j].kinds)]
            filled = sum(1 for x in kinds if x != EMPTY)
            numeric = sum(1 for x in kinds if x in (NUMBER, NULL))
            if filled < 2 or numeric * 2 <= filled:  # a number column, sparse or not
                continue
            if line.kinds[c] in (NUMBER, NULL):
                agrees += 1
            else:
                breaks += 1
        return breaks >= 2 and breaks > agrees

    # -- the walk
    def run(self) -> Layout:
        lines, n = self.lines, len(self.lines)
        k = 0
        floor = 0  # lines before `floor` belong to an earlier table (or its notes)
        while k < n:
            text_table = forced = False
            if self.starts_body(k):
                forced = (self.header_over_body(k) and k + 1 < n  # k is the header
                          and (self.datalike[k + 1] or self.is_group(k + 1)))
            elif self.text_table_at(k) and k + 1 < n:
                text_table = forced = True
            else:
                k += 1
                continue
            if forced:
                last_forced = k  # a second row of labels over the body right below ("30-Sep-16" | … twice)
                while (last_forced - k < 2 and last_forced + 2 < n and self.datalike[last_forced + 1]
                       and not text_table and self.datalike[last_forced + 2]
                       and self.header_over_body(last_forced + 1)):
                    last_forced += 1
                header, fdl = self.climb(last_forced + 1, floor, force_first=k)
            else:
                header, fdl = self.climb(k, floor)
            last = self.extend(fdl, text_table)
            self.record(header, fdl, last, floor, text_table)
            floor = last + 1
            k = floor
        self.record_rest(floor)
        return self.layout

    def climb(self, fdl: int, floor: int, force_first: int | None = None) -> tuple[list[int], int]:
        """Header lines above the first data line (indexes, top first) and the line where the body starts."""
        lines = self.lines
        body = lines[fdl]
        cols = set(body.cols)
        for j in range(fdl + 1, min(fdl + 6, len(lines))):
            if self.datalike[j]:
                cols.update(lines[j].cols)
        table_first = min(cols)
        header: list[int] = []
        k = fdl - 1
        if force_first is not None:
            for r in range(fdl - 1, force_first - 1, -1):
                header.append(r)
                cols.update(lines[r].cols)
            k = force_first - 1
        else:
            # text-only records just above the first data line, shaped cell for cell like the body's records
            # and away from its number columns, open the body (a header's words have other shapes)
            body_rows = [fdl] + [j for j in range(fdl + 1, min(fdl + 6, len(lines))) if self.datalike[j]]
            numeric = {c for c in cols
                       if sum(1 for j in body_rows if c < len(lines[j].kinds) and lines[j].kinds[c] in (NUMBER, NULL))
                       * 2 > len(body_rows)}
            while (k >= floor and self.headerlike[k] and self.gap(k + 1) == 0 and not lines[k].is_note()
                   and not numeric.intersection(lines[k].cols)
                   and self.same_shapes(k, body_rows, share=1.0)):
                fdl = k
                k -= 1
            # section rows just above the first data line open the body (when a header sits above them)
            g = k
            while g >= floor and lines[g].single and self.is_group(g) and fdl - g <= 3:
                g -= 1
            if g < fdl - 1 and g >= floor and self.headerlike[g] and self.gap(g + 1) <= 5:
                if ((fdl - g >= 3 or fdl - g == 2 and self.gap(fdl) >= 1)
                        and self.gap(g + 1) == 0 and lines[g + 1].first <= table_first
                        and lines[g].first > lines[g + 1].first):
                    # two section rows or more, or one set apart from the rows by a blank line: the first, right
                    # under a header that leaves the first column empty, names the stub column ("Offence" over
                    # "Higher tier offences", then rows)
                    fdl = g + 2
                    k = g + 1
                else:
                    fdl = g + 1
                    k = g
        while k >= floor and len(header) < self.max_header:
            line = lines[k]
            if (header and line.filled >= 2 and line.first > table_first
                    and all(line.kinds[c] in (DATE, YEAR) for c in line.cols)):
                header.append(k)  # period columns over the header ("31 March 2011" | "31 March 2010")
                cols.update(line.cols)
                k -= 1
                continue
            if self.datalike[k] and not (self.headerlike[k] and header):
                break
            if line.is_note() and (not self.headerlike[k] or line.filled <= 2) or line.is_page_mark() \
                    or line.is_label_value():
                break
            if line.filled <= 2 and line.is_caption():
                break  # "Table 4.1" | "Conversion factors": the table's caption
            if self.headerlike[k]:
                if header and line.filled == 2 and line.first <= table_first and \
                        max(len(line.text(c)) for c in line.cols) > 40:
                    break  # two leading cells, one a sentence ("BT" | "Base: all respondents…"): context
                outside = sum(1 for c in line.cols if c not in cols)
                if header and outside * 2 > line.filled:
                    break
                if not header and outside == line.filled:
                    break  # cells beside the body only: a side note, not its header
            elif line.single:
                c = line.first
                if c > max(cols) or line.is_note():
                    break
                if k == 0 and line.kinds[c] == TEXT and not line.first_text[:1].isdigit():
                    break  # the sheet's first line, one text cell: its title, wherever it sits
                if c <= table_first and not self.stub_header(k, header, table_first, floor):
                    break  # a title or note in the first column
            else:
                break
            header.append(k)
            cols.update(line.cols)
            k -= 1
        header.reverse()
        return header, fdl

    def stub_header(self, k: int, header: list[int], table_first: int, floor: int) -> bool:
        """A one-cell line in the first column, between header-like lines that leave the first column empty,
        names the stub column ("Characteristic", "Occupation"): it is a header row (a title has no header
        line above it)."""
        line = self.lines[k]
        if line.text_len > 40 or line.is_label_value():
            return False
        if any(self.lines[h].first <= table_first for h in header):
            return False
        if k - 1 >= floor:
            above = self.lines[k - 1]
            if self.headerlike[k - 1] and above.first > table_first and self.gap(k) <= 3:
                return True
        # on top of the stack: a short label (not a sentence, a caption or a unit), set apart from what is
        # above it by a blank line, over header lines that leave the first column empty ("Commodity" over
        # "1995 | 2000 | …"); the first line of a sheet is its title
        text = line.first_text
        return (bool(header) and self.gap(header[0]) <= 2 and not line.is_caption() and not line.is_note()
                and text[:1].isalpha() and text[-1:] not in ".:" and len(text.split()) <= 4
                and k - 1 >= floor and self.gap(k) >= 1)

    def extend(self, fdl: int, text_table: bool) -> int:
        """Index of the last body line of the table whose first data line is `fdl`."""
        lines, n = self.lines, len(self.lines)
        cols = set(lines[fdl].cols)
        width = lines[fdl].filled
        last = fdl
        k = fdl + 1
        profile = _Profile()
        profile.add(lines[fdl])
        while k < n:
            line = lines[k]
            if (not self.datalike[k] and line.n_year >= 2 and line.n_text == 1 and line.kinds[line.first] == TEXT
                    and line.n_year + 1 == line.filled and self.gap(k) == 0 and profile.figures(line)):
                last = k  # a label and figures that happen to fall in the year range (2000.0, 1996.0)
                cols.update(line.cols)
                k += 1
                continue
            if self.datalike[k] and not (line.single and line.is_note()):
                if self.gap(k) and cols and not (set(line.cols) & cols):
                    break  # after blank lines, values in other columns: another block
                # a row shaped like the one above, or like the body so far, is not a header
                if (line.kinds != lines[k - 1].kinds and k + 1 < n and self.datalike[k + 1]
                        and profile.breaks(line) and self.header_over_body(k)):
                    break  # the next table's header
                profile.add(line)
                last = k
                cols.update(line.cols)
                k += 1
                continue
            if self.headerlike[k]:
                nxt = k + 1
                above = range(k - 1, max(fdl, k - 6) - 1, -1)
                if self.gap(k) == 0 and not line.is_note() and self.same_shapes(k, above):
                    last = k  # a record without values: its cells are shaped like the body's cells above
                    cols.update(line.cols)
                    k += 1
                    continue
                if nxt < n and (self.starts_body(nxt) or self.text_table_at(k)) and not text_table:
                    break  # the header of the next table
                if text_table and line.filled >= max(2, width - 1) and not line.is_note() and self.gap(k) <= 1:
                    last = k
                    k += 1
                    continue
                # a text-only row between value rows of the same table (a record without numbers)
                if nxt < n and self.datalike[nxt] and self.gap(k) == 0 and self.gap(nxt) == 0 and \
                        len(set(line.cols) & cols) * 2 >= line.filled and not line.is_note():
                    last = k
                    k += 1
                    continue
                break
            if line.single:
                if self.is_group(k, min(cols)):
                    last = k
                    k += 1
                    continue
                # one cell right of the first column, in a body column, then more such lines and a value
                # line, all without a gap: the wrapped end of the record above (a list of codes, a long text)
                j = k
                while (j < n and lines[j].single and self.gap(j) == 0 and lines[j].first > min(cols)
                       and lines[j].first in cols and not self.datalike[j] and j - k < 20):
                    j += 1
                if j > k and j < n and self.gap(j) == 0 and self.datalike[j] and not lines[j].single:
                    last = j - 1
                    k = j
                    continue
                break
            break
        return last

    def record(self, header: list[int], fdl: int, last: int, floor: int, text_table: bool) -> None:
        lines = self.lines
        for k in range(floor, header[0] if header else fdl):
            self.record_outside(k, above=True)
        for k in header:
            self.decide(k, HEADER, 0.8 if self.headerlike[k] else 0.6,
                        "header-like line above the first data line" if self.headerlike[k]
                        else "one cell spanning columns above the header")
        for k in range(fdl, last + 1):
            line = lines[k]
            if k == fdl and text_table:
                self.decide(k, DATA, 0.6, "first line under a text header, same width")
            elif line.single and not self.datalike[k]:
                self.decide(k, GROUP, 0.7, "one text cell followed by value lines (section row)")
            elif line.is_total():
                self.decide(k, TOTAL, 0.7, "total keyword in a value line")
            elif self.datalike[k]:
                self.decide(k, DATA, 0.9 if line.filled >= 2 else 0.6, "values in the table's columns")
            else:
                self.decide(k, DATA, 0.5, "text line inside the body")
        width = (min(c for k in [*header, *range(fdl, last + 1)] for c in lines[k].cols),
                 max(c for k in [*header, *range(fdl, last + 1)] for c in lines[k].cols))
        score = 0.9 if header and self.headerlike[header[-1]] else (0.7 if header else 0.5)
        reason = (f"{len(header)} header line(s), body of {last - fdl + 1} line(s)" if header
                  else f"no header line above the first data line, body of {last - fdl + 1} line(s)")
        self.layout.tables.append(TableSpan([lines[k].row for k in header], lines[fdl].row, lines[last].row,
                                            score, reason, width))

    def record_outside(self, k: int, above: bool) -> None:
        line = self.lines[k]
        if line.is_page_mark():
            self.decide(k, FURNITURE, 0.8, "page mark")
        elif not above and line.is_note():
            self.decide(k, NOTE, 0.7, "note or source pattern")
        elif line.is_label_value():
            self.decide(k, METADATA, 0.7, "label: value line")
        elif line.is_note() or not above:
            self.decide(k, NOTE, 0.7 if line.is_note() else 0.5,
                        "note or source pattern" if line.is_note() else "line after a table's body")
        else:
            self.decide(k, TITLE if line.single else METADATA, 0.6,
                        "one cell above a table" if line.single else "line above a table that is not its header")

    def record_rest(self, floor: int) -> None:
        for k in range(floor, len(self.lines)):
            self.record_outside(k, above=not self.layout.tables)


class _Profile:
    """A body's running column profile: where its first `settle` rows hold numbers. Once a body has that many
    rows it is established: a line that has text where the body mostly has numbers, in two columns or more,
    breaks the shape and may be the next table's header; the others are not tested for that. Shorter bodies test
    every line. The profile is fixed after `settle` rows, so a long body costs one look at each line's cells."""

    __slots__ = ("numeric", "seen", "rows", "settle")

    def __init__(self, settle: int = 32):
        self.numeric: dict[int, int] = {}
        self.seen: dict[int, int] = {}
        self.rows = 0
        self.settle = settle

    def add(self, line: Line) -> None:
        if self.rows >= self.settle:
            return
        self.rows += 1
        kinds, numeric, seen = line.kinds, self.numeric, self.seen
        for c in line.cols:
            seen[c] = seen.get(c, 0) + 1
            if kinds[c] == NUMBER or kinds[c] == NULL:
                numeric[c] = numeric.get(c, 0) + 1

    def figures(self, line: Line) -> bool:
        """The line's years all sit in columns where the body has numbers."""
        numeric, seen = self.numeric, self.seen
        return all(numeric.get(c, 0) * 2 > seen.get(c, 0) for c in line.cols if line.kinds[c] == YEAR)

    def breaks(self, line: Line) -> bool:
        """Whether `line` must be tested as a header: always until the body is established."""
        if self.rows < self.settle:
            return True
        kinds, numeric, seen = line.kinds, self.numeric, self.seen
        n = 0
        for c in line.cols:
            k = kinds[c]
            if k != NUMBER and k != NULL and numeric.get(c, 0) * 2 > seen.get(c, 0):
                n += 1
                if n >= 2:
                    return True
        return False


_LETTERS = re.compile(r"[^\W\d_]+")
_DIGITS = re.compile(r"\d+")
_SPACES = re.compile(r"\s+")
_shapes: dict[Any, str] = {}


def shape(value: Any) -> str:
    """A cell's shape: runs of letters, digits and spaces as A, D, S, punctuation kept ("AGO" and "ABW" are
    "A", "TM.TAX.MRCH" is "A.A.A", "Country Code" is "ASA", "12.5" is "D.D"); non-text values by type."""
    if value.__class__ is not str:
        return "#" + value.__class__.__name__
    hit = _shapes.get(value)
    if hit is None:
        hit = _SPACES.sub("S", _DIGITS.sub("D", _LETTERS.sub("A", value.strip())))
        if len(_shapes) >= 50_000:
            _shapes.clear()
        _shapes[value] = hit
    return hit


def _labels_row(line: Line, headerlike: bool) -> bool:
    """A header-like line, or a row of only dates or years (period labels)."""
    return headerlike or (line.filled >= 2 and all(line.kinds[c] in (DATE, YEAR) for c in line.cols))


def _counts_up(values: list[Any]) -> bool:
    """1, 2, 3… (column numbers) across a row: from 0, 1 or 2 (45, 46, 47 are figures that happen to follow)."""
    try:
        nums = [float(str(v).replace(",", "")) for v in values]
    except ValueError:
        return False
    return nums[0] <= 2 and all(b - a == 1 for a, b in zip(nums, nums[1:]))


def detect_layout(rows: Iterable[tuple[int, Sequence[Any]]], *, max_header_lines: int = MAX_HEADER_LINES,
                  evidence: Sequence[Evidence] = ()) -> Layout:
    """Segment one sheet: the tables and every non-blank line's role (see the module docstring)."""
    rows = list(rows)
    wide = sum(1 for _, cells in rows if len(cells) > MAX_COLUMNS)
    lines = make_lines([(r, cells[:MAX_COLUMNS]) for r, cells in rows])
    layout = _Segmenter(lines, max_header_lines, evidence).run()
    if wide:
        layout.notes.append(f"{wide} row(s) wider than {MAX_COLUMNS} columns: only the first {MAX_COLUMNS} "
                            "columns were used to find the tables")
    if lines and not layout.tables:
        layout.notes.append(f"no table found in {len(lines)} non-blank row(s): no line holds values with another "
                            "value line below it, and no header sits over rows of its width")
    return layout


def line_roles(layout: Layout, rows: Iterable[int]) -> dict[int, str]:
    """Role of each of `rows` (blank where the layout has no decision)."""
    return {r: (layout.decisions[r].role if r in layout.decisions else BLANK) for r in rows}
