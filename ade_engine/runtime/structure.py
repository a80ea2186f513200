"""Pass 1: find tables and headers in a stream of rows (pipeline.md §4).

Pure: `SheetScanner` is fed `(row_index, cells)` and asks a `label_row(row_index, cells, table_hint)`
callable for each non-blank row's `RowLabel`. It returns `TablePlan`s that hold no per-row lists:
a table's body is a list of runs of consecutive data rows, so the second read can pick exactly the
rows to write and map a data-row ordinal back to its sheet row.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, Callable, Iterable, Mapping, Sequence

from ade_engine.errors import AdeError
from ade_engine.runtime.a1 import cell_range, col_letter

HEADER_LABELS = frozenset({"header", "group_header"})
DATA_LABEL = "data"
OTHER_LABEL = "other"
ROW_CLASSIFICATION_CAP = 5000
TABLE_LIMIT = 1000
TIE_EPSILON = 1e-9


class TableLimitError(AdeError):
    code = "table_limit"


@dataclass
class RowLabel:
    """What the row detectors made of one row (config-packages.md §5.1)."""

    label: str
    confidence: float = 0.0
    scores_by_type: dict[str, float] = field(default_factory=dict)
    # (rule id, label, delta) of every non-zero delta; turned into artifact entries only for recorded rows,
    # since most rows are plain body rows and never recorded.
    rule_traces: list[tuple[str, str, float]] = field(default_factory=list)


def choose_label(totals: dict[str, float], threshold: float, order: Sequence[str],
                 rank: Mapping[str, int] | None = None) -> tuple[str, float]:
    """Winner = highest total strictly above `threshold`; ties by `order`, then alphabetically.
    `rank` (label → position in `order`) may be passed in by a caller that asks for every row."""
    candidates = [(t, lbl) for lbl, t in totals.items() if t > threshold]
    if not candidates:
        return OTHER_LABEL, 0.0
    if len(candidates) == 1:
        t, lbl = candidates[0]
        return lbl, t
    best = max(t for t, _ in candidates)
    tied = [lbl for t, lbl in candidates if best - t <= TIE_EPSILON]
    if len(tied) == 1:
        winner = tied[0]
    else:
        if rank is None:
            rank = {lbl: i for i, lbl in enumerate(order)}
        last = len(order)
        winner = min(tied, key=lambda lbl: (rank.get(lbl, last), lbl))
    return winner, totals[winner]


def header_text(value: Any) -> str | None:
    """Header text normalization (pipeline.md §2)."""
    if value is None:
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        text = str(int(value))
    elif isinstance(value, (datetime, date, time)):
        text = value.isoformat()
    else:
        text = str(value)
    text = " ".join(text.split())
    return text or None


def is_blank(cells: Sequence[Any]) -> bool:
    """No cell holds a value (readers give None for empty and whitespace-only cells)."""
    return cells.count(None) == len(cells)


def _filled(cells: Sequence[Any]) -> int:
    return sum(1 for c in cells if c is not None)


@dataclass
class StructureSettings:
    max_header_rows: int = 3
    column_sample_size: int = 50
    row_classification_cap: int = ROW_CLASSIFICATION_CAP


class TableCounter:
    """Job-wide table count; more than `limit` tables fails the job with `table_limit`."""

    def __init__(self, limit: int = TABLE_LIMIT):
        self.limit = limit
        self.count = 0

    def bump(self, where: str) -> None:
        self.count += 1
        if self.count > self.limit:
            raise TableLimitError(f"more than {self.limit} tables found (at {where}); split the input into "
                                  f"smaller files.", details={"limit": self.limit})


@dataclass
class ColumnPlan:
    order: int
    source_index: int  # 1-based sheet column
    column_id: str
    source_header: str | None
    empty: bool

    @property
    def letter(self) -> str:
        return col_letter(self.source_index)


@dataclass
class TablePlan:
    """One table: header rows, body as runs of data rows, span, sample buffer, then columns."""

    sheet_id: str
    index: int
    kind: str  # raw | promoted | synthetic
    header_rows: list[tuple[int, list[Any]]] = field(default_factory=list)
    runs: list[list[int]] = field(default_factory=list)  # [[first_row, last_row], ...] of data rows
    data_row_count: int = 0
    span_min: int | None = None
    span_max: int | None = None
    data_cols: set[int] = field(default_factory=set)
    samples: list[list[Any]] = field(default_factory=list)
    sample_size: int = 50
    columns: list[ColumnPlan] = field(default_factory=list)
    source_header: list[str | None] = field(default_factory=list)
    _ordinals: list[int] = field(default_factory=list)  # data-row ordinal of each run's first row
    _data_prefix: int = 0  # columns 1.._data_prefix are all in data_cols

    @property
    def id(self) -> str:
        return f"{self.sheet_id}.table_{self.index}"

    @property
    def first_data_row(self) -> int | None:
        return self.runs[0][0] if self.runs else None

    @property
    def last_data_row(self) -> int | None:
        return self.runs[-1][1] if self.runs else None

    @property
    def header_row_index(self) -> int | None:
        return self.header_rows[-1][0] if self.header_rows else None

    def _widen(self, cells: Sequence[Any]) -> None:
        for i, v in enumerate(cells):
            if v is not None:
                c = i + 1
                if self.span_min is None or c < self.span_min:
                    self.span_min = c
                break
        for i in range(len(cells) - 1, -1, -1):
            if cells[i] is not None:
                c = i + 1
                if self.span_max is None or c > self.span_max:
                    self.span_max = c
                break

    def add_header_rows(self, rows: Iterable[tuple[int, list[Any]]]) -> None:
        for r, cells in rows:
            self.header_rows.append((r, cells))
            self._widen(cells)

    def add_data_row(self, row_index: int, cells: list[Any]) -> None:
        if self.runs and self.runs[-1][1] == row_index - 1:
            self.runs[-1][1] = row_index
        else:
            self.runs.append([row_index, row_index])
        self.data_row_count += 1
        self._widen(cells)
        # Columns 1.._data_prefix are known to hold data already: only the cells beyond need a look
        # (after the first rows of a table, usually none).
        if len(cells) > self._data_prefix:
            cols = self.data_cols
            for i in range(self._data_prefix, len(cells)):
                if cells[i] is not None:
                    cols.add(i + 1)
            while self._data_prefix + 1 in cols:
                self._data_prefix += 1
        if len(self.samples) < self.sample_size:
            self.samples.append(cells)

    def flattened(self, span_min: int, span_max: int) -> list[str | None]:
        return flatten_header([cells for _, cells in self.header_rows], span_min, span_max)

    def finalize(self) -> None:
        """Fix columns, headers and the ordinal index once the table is closed."""
        assert self.span_min is not None and self.span_max is not None
        width = self.span_max - self.span_min + 1
        if self.kind == "synthetic":
            headers: list[str | None] = [f"Column {n}" for n in range(1, width + 1)]
        else:
            headers = self.flattened(self.span_min, self.span_max)
        self.source_header = headers
        self.columns = []
        for n in range(1, width + 1):
            src = self.span_min + n - 1
            blank_header = self.kind == "synthetic" or headers[n - 1] is None
            self.columns.append(ColumnPlan(order=n, source_index=src, column_id=f"{self.id}.col_{n}",
                                           source_header=headers[n - 1],
                                           empty=blank_header and src not in self.data_cols))
        self._ordinals = []
        total = 0
        for first, last in self.runs:
            self._ordinals.append(total + 1)
            total += last - first + 1

    def values_sample(self, column: ColumnPlan) -> list[Any]:
        i = column.source_index - 1
        return [row[i] if i < len(row) else None for row in self.samples]

    def release_samples(self) -> None:
        self.samples = []

    def row_of_ordinal(self, ordinal: int) -> int | None:
        """Sheet row of the `ordinal`-th (1-based) data row, or None when out of range."""
        if not 1 <= ordinal <= self.data_row_count:
            return None
        i = bisect.bisect_right(self._ordinals, ordinal) - 1
        return self.runs[i][0] + (ordinal - self._ordinals[i])

    @property
    def range(self) -> str:
        top = self.header_rows[0][0] if self.header_rows else self.first_data_row
        bottom = self.last_data_row if self.runs else self.header_rows[-1][0]
        return cell_range(self.span_min, top, self.span_max, bottom)  # type: ignore[arg-type]

    @property
    def data_range(self) -> str | None:
        if not self.runs:
            return None
        return cell_range(self.span_min, self.first_data_row, self.span_max, self.last_data_row)  # type: ignore[arg-type]

    def to_artifact(self) -> dict[str, Any]:
        return {
            "id": self.id, "index": self.index, "range": self.range, "data_range": self.data_range,
            "data_row_count": self.data_row_count,
            "header": {"kind": self.kind, "row_index": self.header_row_index,
                       "row_indexes": [r for r, _ in self.header_rows], "source_header": list(self.source_header)},
            "columns": [{"column_id": c.column_id, "order": c.order, "source_column": c.letter,
                         "source_header": c.source_header, "empty": c.empty} for c in self.columns],
            "mapping": [], "target_fields": [], "transforms": [],
            "validation": {"issues": [], "summary_by_field": {}}, "output_range": None,
        }


def flatten_header(rows: Sequence[Sequence[Any]], span_min: int, span_max: int) -> list[str | None]:
    """Flatten a header block over the span (pipeline.md §4.3): forward fill upper rows, join parts.

    The fill of a row stops at a column where a row above starts a group of its own (a non-blank cell there
    in the sheet): a merged cell cannot reach past its parent. Without that, in a block of "Name" over
    First|Last, "Contact" over Email|Phone, then "Hire Date", with a units row at the bottom, "Phone" would
    fill under "Hire Date" (docs/engine.md, Pass 1)."""
    texts: list[list[str | None]] = []
    starts: set[int] = set()  # columns where some row above has its own (not filled) text
    for k, cells in enumerate(rows):
        line: list[str | None] = []
        last: str | None = None
        own: list[int] = []
        for c in range(span_min, span_max + 1):
            v = header_text(cells[c - 1]) if c - 1 < len(cells) else None
            if v is not None:
                own.append(c)
            if k < len(rows) - 1:  # every row but the bottom one: nearest non-blank to the left
                if v is None:
                    v = None if c in starts else last
                last = v
            line.append(v)
        starts.update(own)
        texts.append(line)
    out: list[str | None] = []
    for i in range(span_max - span_min + 1):
        parts: list[str] = []
        for line in texts:
            part = line[i]
            if part is None or (parts and parts[-1] == part):
                continue
            parts.append(part)
        out.append(" ".join(parts) if parts else None)
    return out


@dataclass
class _Row:
    row_index: int
    entry: dict[str, Any] | None  # the row_classification entry (None beyond the cap)
    cells: list[Any] | None = None  # kept only for header-block rows and the previous row


@dataclass
class SheetStructure:
    sheet_id: str
    row_classification: list[dict[str, Any]]
    truncated: bool
    tables: list[TablePlan]

    @property
    def data_rows(self) -> int:
        return sum(t.data_row_count for t in self.tables)


LabelRow = Callable[[int, list[Any], dict[str, Any]], RowLabel]


class SheetScanner:
    """The per-sheet state machine of pipeline.md §4.2 (seeking / header / data)."""

    def __init__(self, sheet_id: str, label_row: LabelRow, settings: StructureSettings | None = None,
                 counter: TableCounter | None = None):
        self.sheet_id = sheet_id
        self.label_row = label_row
        self.settings = settings or StructureSettings()
        self.counter = counter or TableCounter()
        self.state = "seeking"
        self.entries: list[dict[str, Any]] = []
        self.truncated = False
        self.tables: list[TablePlan] = []
        self.table: TablePlan | None = None  # open table (state data)
        self.block: list[_Row] = []  # header block (state header) or pending block (state data)
        self.tail: list[_Row] = []  # non-data rows after the block
        self.pending: list[_Row] = []  # non-data rows after the open table's last data row
        self.prev: tuple[int, list[Any], str] | None = None
        self.prev_entry: dict[str, Any] | None = None
        self.rows_seen = 0

    # -- bookkeeping
    def _record(self, row_index: int, rl: RowLabel, role: str) -> dict[str, Any] | None:
        if len(self.entries) >= self.settings.row_classification_cap:
            self.truncated = True
            return None
        entry = {"row_index": row_index, "label": rl.label, "role": role, "confidence": round(rl.confidence, 6),
                 "scores_by_type": {k: round(v, 6) for k, v in rl.scores_by_type.items()},
                 "rule_traces": [{"rule": rule, "label": label, "delta": round(delta, 6)}
                                 for rule, label, delta in rl.rule_traces]}
        self.entries.append(entry)
        return entry

    @staticmethod
    def _set_role(rows: Iterable[_Row], role: str) -> None:
        for row in rows:
            if row.entry is not None:
                row.entry["role"] = role

    def _hint(self) -> dict[str, Any]:
        if self.state == "data" and self.table is not None:
            table_index, header_row = self.table.index, self.table.header_row_index
        elif self.state == "header" and self.block:
            table_index, header_row = None, self.block[-1].row_index
        else:
            table_index, header_row = None, None
        return {"state": self.state, "table_index": table_index, "header_row_index": header_row,
                "last_label": self.prev[2] if self.prev else None}

    def _new_table(self, kind: str, first_row: int) -> TablePlan:
        self.counter.bump(f"{self.sheet_id} row {first_row}")
        plan = TablePlan(sheet_id=self.sheet_id, index=len(self.tables) + 1, kind=kind,
                         sample_size=self.settings.column_sample_size)
        self.tables.append(plan)
        return plan

    def _adjacent(self, row_index: int) -> bool:
        return bool(self.block) and not self.tail and self.block[-1].row_index == row_index - 1

    # -- the machine
    def feed(self, row_index: int, cells: list[Any]) -> None:
        if is_blank(cells):
            return  # blank rows get no label and are skipped when writing
        self.rows_seen += 1
        rl = self.label_row(row_index, cells, self._hint())
        is_header = rl.label in HEADER_LABELS
        is_data = rl.label == DATA_LABEL
        entry: dict[str, Any] | None = None
        if self.state == "seeking":
            if is_header:
                entry = self._record(row_index, rl, "header")
                self.block, self.tail = [_Row(row_index, entry, cells)], []
                self.state = "header"
            elif is_data:
                entry = self._start_headerless(row_index, cells, rl)
            else:
                entry = self._record(row_index, rl, "preamble")
        elif self.state == "header":
            if is_header:
                entry = self._record(row_index, rl, "header")
                if self._adjacent(row_index):
                    self.block.append(_Row(row_index, entry, cells))
                    if len(self.block) > self.settings.max_header_rows:
                        self._set_role([self.block.pop(0)], "preamble")
                else:
                    self._set_role(self.block + self.tail, "preamble")
                    self.block, self.tail = [_Row(row_index, entry, cells)], []
            elif is_data:
                entry = self._record(row_index, rl, "first_data")
                self._open_from_block(row_index, cells)
            else:
                entry = self._record(row_index, rl, "excluded")
                self.tail.append(_Row(row_index, entry))
        else:  # data
            assert self.table is not None
            if is_data:
                if self.block:
                    entry = self._resolve_block(row_index, cells, rl)
                else:
                    self.pending = []  # tentatively excluded rows stay excluded
                    self.table.add_data_row(row_index, cells)
            elif is_header:
                entry = self._record(row_index, rl, "header")
                if self._adjacent(row_index):
                    self.block.append(_Row(row_index, entry, cells))
                    if len(self.block) > self.settings.max_header_rows:
                        left = self.block.pop(0)
                        self._set_role([left], "excluded")
                        self.pending.append(_Row(left.row_index, left.entry))
                else:
                    self._set_role(self.block + self.tail, "excluded")
                    self.pending.extend(_Row(r.row_index, r.entry) for r in self.block + self.tail)
                    self.block, self.tail = [_Row(row_index, entry, cells)], []
            else:
                entry = self._record(row_index, rl, "excluded")
                (self.tail if self.block else self.pending).append(_Row(row_index, entry))
        self.prev = (row_index, cells, rl.label)
        self.prev_entry = entry

    def _start_headerless(self, row_index: int, cells: list[Any], rl: RowLabel) -> dict[str, Any] | None:
        prev = self.prev
        need = math.ceil(_filled(cells) / 2)
        if (prev is not None and prev[0] == row_index - 1 and prev[2] not in HEADER_LABELS
                and prev[2] != DATA_LABEL and _filled(prev[1]) >= need):
            plan = self._new_table("promoted", prev[0])
            plan.add_header_rows([(prev[0], prev[1])])
            if self.prev_entry is not None:
                self.prev_entry["role"] = "header"
        else:
            plan = self._new_table("synthetic", row_index)
        entry = self._record(row_index, rl, "first_data")
        plan.add_data_row(row_index, cells)
        self.table = plan
        self.state = "data"
        return entry

    def _open_from_block(self, row_index: int, cells: list[Any]) -> None:
        plan = self._new_table("raw", self.block[0].row_index)
        plan.add_header_rows((r.row_index, r.cells or []) for r in self.block)
        plan.add_data_row(row_index, cells)
        self.block, self.tail, self.pending = [], [], []  # tail rows stay `excluded` (e.g. a units row)
        self.table = plan
        self.state = "data"

    def _is_repeat(self) -> bool:
        table = self.table
        assert table is not None and table.span_min is not None and table.span_max is not None
        if table.kind == "synthetic":
            return False
        for row in self.block:
            for i, v in enumerate(row.cells or []):
                if v is not None and not table.span_min <= i + 1 <= table.span_max:
                    return False
        mine = flatten_header([r.cells or [] for r in self.block], table.span_min, table.span_max)
        return mine == table.flattened(table.span_min, table.span_max)

    def _resolve_block(self, row_index: int, cells: list[Any], rl: RowLabel) -> dict[str, Any] | None:
        assert self.table is not None
        if self._is_repeat():  # page-break header: same table continues
            self._set_role(self.block, "repeated_header")
            self.block, self.tail, self.pending = [], [], []
            self.table.add_data_row(row_index, cells)
            return None
        self._close_table()
        entry = self._record(row_index, rl, "first_data")
        self._open_from_block(row_index, cells)
        return entry

    def _close_table(self) -> None:
        self._set_role(self.pending, "trailing")
        self.pending = []
        self.table = None

    def _header_only_table(self) -> None:
        plan = self._new_table("raw", self.block[0].row_index)
        plan.add_header_rows((r.row_index, r.cells or []) for r in self.block)
        self._set_role(self.tail, "trailing")
        self.block, self.tail = [], []

    def finish(self) -> SheetStructure:
        if self.state == "data":
            if self.block and self._is_repeat():
                self._set_role(self.block, "repeated_header")
                self.pending.extend(self.tail)
                self.block, self.tail = [], []
                self._close_table()
            elif self.block:
                self._close_table()
                self._header_only_table()
            else:
                self._close_table()
        elif self.state == "header":
            self._header_only_table()
        self.state = "seeking"
        for plan in self.tables:
            plan.finalize()
        return SheetStructure(self.sheet_id, self.entries, self.truncated, self.tables)


def scan_rows(sheet_id: str, rows: Iterable[tuple[int, list[Any]]], label_row: LabelRow,
              settings: StructureSettings | None = None, counter: TableCounter | None = None) -> SheetStructure:
    """Run Pass 1 over one sheet's rows."""
    scanner = SheetScanner(sheet_id, label_row, settings, counter)
    for row_index, cells in rows:
        scanner.feed(row_index, cells)
    return scanner.finish()


class RowCursor:
    """Second-read selection for one sheet: is this sheet row a body row of some table?"""

    def __init__(self, tables: Sequence[TablePlan]):
        self._items = [(first, last, t) for t in tables for first, last in t.runs]
        self._i = 0

    def table_for(self, row_index: int) -> TablePlan | None:
        while self._i < len(self._items) and self._items[self._i][1] < row_index:
            self._i += 1
        if self._i < len(self._items) and self._items[self._i][0] <= row_index:
            return self._items[self._i][2]
        return None


# ------------------------------------------------------------------ layout "library" (ade_engine.detect)
from ade_engine.detect.lines import Line as _Line, body_row as _body_row  # noqa: E402
LAYOUT_WINDOW = 4_096  # rows segmented at once; past it, an open table takes value rows as they stream by
CONTEXT_ROWS = 8  # a streamed table's last rows, segmented again with what ends the stream
CARRY_ROWS = 64  # rows after a window's last table, decided with the next window
_ARTIFACT_ROLE = {"title": "preamble", "metadata": "preamble", "header": "header", "note": "trailing",
                  "furniture": "trailing", "group": "excluded", "total": "excluded", "data": "first_data"}


class LayoutScanner:
    """Pass 1 with `engine.detect.layout = "library"`: `ade_engine.detect` segments the sheet.

    Rows are buffered and segmented `window` rows at a time. The package's row detectors (if any) run on every
    row as with the row scanner; what they say about `data` and `header` is evidence for the library (a positive
    score makes a line data-like / header-like, a negative one takes that away). Body rows the library calls
    section (`group`) or `total` rows stay inside the table's span but are not written as records; their
    decision (role, score, reason) is in `row_classification`, never a cell value."""

    def __init__(self, sheet_id: str, label_row: LabelRow | None = None, settings: StructureSettings | None = None,
                 counter: TableCounter | None = None, window: int = LAYOUT_WINDOW):
        self.sheet_id = sheet_id
        self.label_row = label_row
        self.settings = settings or StructureSettings()
        self.counter = counter or TableCounter()
        self.window = max(10, window)
        self.buffer: list[tuple[int, list[Any]]] = []
        self.evidence: dict[int, RowLabel] = {}
        self.entries: list[dict[str, Any]] = []
        self.truncated = False
        self.tables: list[TablePlan] = []
        self.spans: dict[str, list[int]] = {}  # table id -> [first, last] body row (group/total rows included)
        self.open: TablePlan | None = None
        self.recent: deque[tuple[int, list[Any]]] = deque(maxlen=CONTEXT_ROWS)  # last rows of the open table
        self.context: tuple[TablePlan, int] | None = None  # (streamed table, its last row) ahead of the buffer
        self.notes: list[str] = []

    def feed(self, row_index: int, cells: list[Any]) -> None:
        if is_blank(cells):
            return
        rl = None
        if self.label_row is not None:
            hint = {"state": "data" if self.open is not None else "seeking",
                    "table_index": self.open.index if self.open is not None else None,
                    "header_row_index": self.open.header_row_index if self.open is not None else None,
                    "last_label": None}
            rl = self.label_row(row_index, cells, hint)
            if any(rl.scores_by_type.get(k) for k in ("data", "header")):
                self.evidence[row_index] = rl
        if self.open is not None:
            said = rl.scores_by_type.get("data", 0) if rl is not None else 0
            body = _body_row(cells)  # cheap: numbers by type, texts cached, no Line unless it cannot tell
            if body is None:
                line = _Line(row_index, cells)
                body = line.datalike and not line.is_total()
                if not body and said > 0 and not line.is_total():
                    body = True
            if body and said >= 0:
                self.open.add_data_row(row_index, cells)
                self.spans[self.open.id][1] = row_index
                self.recent.append((row_index, cells))
                return
            # Anything else ends the stream; segmentation starts again here, with the table's last rows ahead
            # of the buffer as context, so that a total, a section row or a text record continues the table
            # rather than opening a headerless one.
            self.context = (self.open, self.recent[-1][0]) if self.recent else None
            self.buffer.extend(self.recent)
            self.recent.clear()
            self.open = None
        self.buffer.append((row_index, cells))
        if len(self.buffer) >= self.window:
            self._segment(final=False)

    def _record(self, entry: dict[str, Any]) -> None:
        if len(self.entries) >= self.settings.row_classification_cap:
            self.truncated = True
            return
        self.entries.append(entry)

    def _segment(self, final: bool) -> None:
        from ade_engine.detect import detect_layout

        rows, self.buffer = self.buffer, []
        if not rows:
            return
        evidence = self.evidence

        def package(line: Any) -> dict[str, float]:
            rl = evidence.get(line.row)
            return rl.scores_by_type if rl is not None else {}

        layout = detect_layout(rows, evidence=[package] if evidence else ())
        cells_of = dict(rows)
        decisions = layout.decisions
        context, self.context = self.context, None
        upto = context[1] if context is not None else 0  # rows up to here belong to the streamed table
        last_row = rows[-1][0]
        carry: list[tuple[int, list[Any]]] = []
        if not final and not (layout.tables and layout.tables[-1].last_data_row == last_row):
            # The window ends outside a table: its last rows (a title, a header) may belong to a table that
            # starts in the next window; they are decided there.
            end = layout.tables[-1].last_data_row if layout.tables else upto
            carry = [(r, c) for r, c in rows[-min(CARRY_ROWS, self.window // 2):] if r > end]
            layout.tables = [t for t in layout.tables if t.last_data_row <= end]
        stop = carry[0][0] if carry else last_row + 1
        for d in sorted(decisions.values(), key=lambda d: d.row):
            if d.row <= upto:
                continue
            if d.row >= stop:
                break
            if d.role == "data" and d.row - 1 in decisions and decisions[d.row - 1].role in ("data", "group", "total"):
                continue  # plain body rows are not recorded (as with the row scanner)
            rl = evidence.get(d.row)
            self._record({"row_index": d.row, "label": d.role, "role": _ARTIFACT_ROLE.get(d.role, "excluded"),
                          "confidence": round(d.score, 6),
                          "scores_by_type": {k: round(v, 6) for k, v in (rl.scores_by_type if rl else {}).items()},
                          "rule_traces": [], "reason": d.reason})
        for i, span in enumerate(layout.tables):
            if span.last_data_row <= upto:
                continue  # context rows only
            top = span.header_rows[0] if span.header_rows else span.first_data_row
            if context is not None and top <= upto:  # starts among the context rows: the streamed table goes on
                plan, first = context[0], upto + 1
            else:
                plan = self._new_table("raw" if span.header_rows else "synthetic", top)
                plan.add_header_rows((r, cells_of[r]) for r in span.header_rows)
                first = span.first_data_row
            for r in range(first, span.last_data_row + 1):
                cells = cells_of.get(r)
                if cells is None:
                    continue
                d = decisions.get(r)
                if d is not None and d.role in ("group", "total"):
                    plan._widen(cells)
                    continue
                plan.add_data_row(r, cells)
            if not plan.runs:  # a body of section rows only: keep the span as data
                for r in range(span.first_data_row, span.last_data_row + 1):
                    if r in cells_of:
                        plan.add_data_row(r, cells_of[r])
            if plan.id in self.spans:
                self.spans[plan.id][1] = span.last_data_row
            else:
                self.spans[plan.id] = [span.first_data_row, span.last_data_row]
            if not final and i == len(layout.tables) - 1 and span.last_data_row == last_row:
                self.open = plan  # may go on past the window
                self.recent.extend(rows[-CONTEXT_ROWS:])
        self.notes.extend(layout.notes)
        self.evidence = {r: evidence[r] for r, _ in carry if r in evidence}
        self.buffer = carry

    # The same table bookkeeping as the row scanner's (both hold sheet_id, counter, tables and settings).
    _new_table = SheetScanner._new_table

    def finish(self) -> SheetStructure:
        self._segment(final=True)
        self.open = None
        for plan in self.tables:
            plan.finalize()
        return SheetStructure(self.sheet_id, self.entries, self.truncated, self.tables)
