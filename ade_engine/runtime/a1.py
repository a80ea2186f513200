"""A1 references: column letters both ways, cells and ranges (pipeline.md §3)."""

from __future__ import annotations

import re

MAX_ROWS = 1_048_576
MAX_COLUMNS = 16_384

_CELL_RE = re.compile(r"^\$?([A-Za-z]{1,3})\$?([0-9]+)$")


def col_letter(index: int) -> str:
    """1 → ``A``, 26 → ``Z``, 27 → ``AA``, 16384 → ``XFD``."""
    if not isinstance(index, int) or isinstance(index, bool) or index < 1:
        raise ValueError(f"column index must be an integer >= 1, got {index!r}")
    letters = []
    n = index
    while n:
        n, rem = divmod(n - 1, 26)
        letters.append(chr(65 + rem))
    return "".join(reversed(letters))


def col_index(letters: str) -> int:
    """``A`` → 1, ``XFD`` → 16384 (case-insensitive)."""
    if not letters or not letters.isascii() or not letters.isalpha():
        raise ValueError(f"not a column reference: {letters!r}")
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - 64)
    return n


def cell(column: int, row: int) -> str:
    """``cell(3, 12)`` → ``C12`` (column and row are 1-based)."""
    if not isinstance(row, int) or row < 1:
        raise ValueError(f"row must be an integer >= 1, got {row!r}")
    return f"{col_letter(column)}{row}"


def cell_range(first_column: int, first_row: int, last_column: int, last_row: int) -> str:
    """``cell_range(2, 4, 7, 159)`` → ``B4:G159`` (top-left:bottom-right, inclusive)."""
    if last_column < first_column or last_row < first_row:
        raise ValueError("range must go from top-left to bottom-right")
    return f"{cell(first_column, first_row)}:{cell(last_column, last_row)}"


def parse_cell(ref: str) -> tuple[int, int]:
    """``"C12"`` (or ``"$C$12"``) → ``(3, 12)`` as (column, row)."""
    m = _CELL_RE.match(ref.strip())
    if not m:
        raise ValueError(f"not a cell reference: {ref!r}")
    row = int(m.group(2))
    if row < 1:
        raise ValueError(f"not a cell reference: {ref!r}")
    return col_index(m.group(1)), row


def parse_range(ref: str) -> tuple[int, int, int, int]:
    """``"B4:G159"`` → ``(2, 4, 7, 159)``; a single cell gives a one-cell range."""
    first, _, last = ref.partition(":")
    c1, r1 = parse_cell(first)
    c2, r2 = parse_cell(last) if last else (c1, r1)
    return min(c1, c2), min(r1, r2), max(c1, c2), max(r1, r2)
