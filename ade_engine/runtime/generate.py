"""Passes 3–5: transform, validate and write in one streaming loop over the second read (pipeline.md §7).

Body rows of each table are gathered into chunks of `writer.chunk_rows` rows (`in_memory`: one chunk
per table); per chunk every mapped field is transformed, then validated, then the rows are written.
Only the chunk is in memory; issues are capped per (table, field) and counted in full.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from ade_engine.errors import AdeError
from ade_engine.runtime.a1 import cell, cell_range, col_letter
from ade_engine.runtime.plan import OutputPlan, TableLayout
from ade_engine.runtime.redact import Redactor
from ade_engine.runtime.rules import Registry, RuleErrorLog, ScriptRunner
from ade_engine.runtime.structure import ColumnPlan, RowCursor, TablePlan, is_blank

MESSAGE_MAX = 500
TRANSFORM_WARNINGS_MAX = 20
CODE_ALIASES = {
    "missing": "required_missing", "required": "required_missing", "blank": "required_missing",
    "pattern": "pattern_mismatch", "regex_mismatch": "pattern_mismatch",
    "format": "invalid_format", "invalid": "invalid_format",
}
SEVERITIES = ("error", "warning", "info")
FIX_MESSAGES = {
    "value_truncated": "strings longer than 32,767 characters were truncated",
    "control_chars_removed": "characters not allowed in a workbook were removed",
    "non_finite_float": "NaN/infinite numbers were written as empty cells",
    "timezone_converted": "timezone-aware date-times were converted to UTC",
    "bad_value_type": "values of an unsupported type were written as text",
}


class Cancelled(AdeError):
    code = "cancelled"


def _short(text: str, limit: int = MESSAGE_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class IssueBook:
    """Normalizes issues and stores them per table with the `max_issues_per_field` cap."""

    def __init__(self, max_per_field: int, redact: Callable[[str], str] | None = None):
        self.max_per_field = max_per_field
        self._redact = redact or (lambda s: s)
        self._stored: dict[tuple[str, str | None], int] = {}

    def forget_table(self, table_id: str) -> None:
        """Drop the stored-issue counts of a table whose validation is being rebuilt."""
        for key in [k for k in self._stored if k[0] == table_id]:
            del self._stored[key]

    @staticmethod
    def ensure_field(table: dict[str, Any], field_id: str) -> dict[str, Any]:
        return table["validation"]["summary_by_field"].setdefault(
            field_id, {"errors": 0, "warnings": 0, "infos": 0, "missing": 0, "stored": 0, "truncated": False})

    def add(self, table: dict[str, Any], *, code: Any, severity: Any, message: Any, rule: str,
            target_field: str | None, column: str | None = None, row_index: int | None = None,
            a1: str | None = None, output_a1: str | None = None, range_: str | None = None) -> str:
        """Normalize and add one issue; returns its normalized severity."""
        code_s = str(code).strip()
        code_s = CODE_ALIASES.get(code_s.lower(), code_s)
        sev = str(severity).strip().lower() if isinstance(severity, str) else "error"
        if sev not in SEVERITIES:
            sev = "error"
        text = _short(self._redact(str(message) if message is not None else ""))
        if target_field is not None:
            summary = self.ensure_field(table, target_field)
            summary[{"error": "errors", "warning": "warnings", "info": "infos"}[sev]] += 1
            if code_s == "required_missing":
                summary["missing"] += 1
        else:
            summary = None
        key = (table["id"], target_field)
        stored = self._stored.get(key, 0)
        if stored < self.max_per_field:
            self._stored[key] = stored + 1
            table["validation"]["issues"].append({
                "a1": a1, "output_a1": output_a1, "range": range_, "row_index": row_index,
                "target_field": target_field, "column": column, "code": code_s, "severity": sev,
                "message": text, "rule": rule})
            if summary is not None:
                summary["stored"] += 1
        elif summary is not None:
            summary["truncated"] = True
        return sev


@dataclass
class TableRun:
    """A table as the streaming loop sees it."""

    plan: TablePlan
    art: dict[str, Any]
    sheet_name: str
    layout: TableLayout
    processed: int = 0
    output_first_row: int | None = None
    transforms: dict[str, dict[str, Any]] = field(default_factory=dict)

    def mapped_columns(self) -> dict[str, ColumnPlan]:
        by_id = {c.column_id: c for c in self.plan.columns}
        return {m["target_field"]: by_id[m["raw"]["column"]] for m in self.art["mapping"]
                if m["target_field"] is not None}


@dataclass
class LoopStats:
    changed_cells: int = 0
    fields_with_warnings: int = 0
    by_severity: dict[str, int] = field(default_factory=lambda: {"error": 0, "warning": 0, "info": 0})
    rows_written: int = 0
    columns_written: int = 0
    transform_s: float = 0.0
    validate_s: float = 0.0
    generate_s: float = 0.0


class StreamLoop:
    def __init__(self, *, registry: Registry, runner: ScriptRunner, errors: RuleErrorLog, plan: OutputPlan,
                 writer: Any, issues: IssueBook, chunk_rows: int, in_memory: bool,
                 redactor: Redactor | None = None, cancelled: Callable[[], bool] = lambda: False,
                 progress: Callable[[str, int], None] | None = None):
        self.registry = registry
        self.runner = runner
        self.errors = errors
        self.plan = plan
        self.writer = writer
        self.issues = issues
        self.chunk_rows = chunk_rows
        self.in_memory = in_memory
        self.redactor = redactor if redactor else None
        self.cancelled = cancelled
        self.progress = progress
        self.stats = LoopStats()
        self._output_row = 1  # rows written so far, header included

    def _check_cancel(self) -> None:
        if self.cancelled():
            raise Cancelled("the job was cancelled", code="cancelled")

    def _write(self, values: Sequence[Any], sheet_id: str | None = None, table_id: str | None = None,
               ordinal: int | None = None) -> None:
        fixes = self.writer.write_row(values)
        if not fixes:
            return
        location = {"sheet_id": sheet_id, "table_id": table_id, "row_index": ordinal} if table_id else {}
        for fx in fixes:
            col = self.plan.columns[fx.column_index]
            self.errors.record("engine", "generate", fx.kind,
                               f"output column {col.letter} ({col.header}): {FIX_MESSAGES.get(fx.kind, fx.kind)}",
                               location, key=col.letter)

    def write_header(self) -> None:
        self._write(self.plan.headers)

    def run(self, sheets: Iterable[tuple[str, Iterator[tuple[int, list[Any]]], list[TableRun]]]) -> LoopStats:
        """`sheets`: (sheet_id, second-read row iterator, that sheet's tables in order)."""
        started = time.perf_counter()
        for sheet_id, rows, tables in sheets:
            cursor = RowCursor([t.plan for t in tables])
            by_plan = {id(t.plan): t for t in tables}
            for t in tables:
                self._start_table(t)
            current: TableRun | None = None
            chunk: list[tuple[int, list[Any]]] = []
            seen = 0
            for row_index, cells in rows:
                self._check_cancel()
                seen += 1
                if self.progress is not None and seen % 1000 == 0:
                    self.progress(sheet_id, seen)
                plan = cursor.table_for(row_index)
                if plan is None or is_blank(cells):
                    continue
                t = by_plan[id(plan)]
                if t is not current:
                    if current is not None and chunk:
                        self._flush(current, chunk)
                    current, chunk = t, []
                chunk.append((row_index, cells))
                if not self.in_memory and len(chunk) >= self.chunk_rows:
                    self._flush(current, chunk)
                    chunk = []
            if current is not None and chunk:
                self._flush(current, chunk)
            for t in tables:
                self._finish_table(t)
        total = time.perf_counter() - started
        self.stats.generate_s = max(0.0, total - self.stats.transform_s - self.stats.validate_s)
        self.stats.rows_written = self._output_row - 1
        self.stats.columns_written = len(self.plan.columns)
        return self.stats

    def _start_table(self, t: TableRun) -> None:
        for fid in t.art["target_fields"]:
            fr = self.registry.fields.get(fid)
            if fr is None:
                continue
            if fr.transform is not None:
                t.transforms[fid] = {"target_field": fid, "transform": fr.transform.id, "changed": 0, "total": 0,
                                     "chunks": 0, "failed_chunks": 0, "warnings": []}
            if fr.validate is not None:
                self.issues.ensure_field(t.art, fid)

    def _finish_table(self, t: TableRun) -> None:
        t.art["transforms"] = list(t.transforms.values())
        for entry in t.transforms.values():
            if entry["warnings"]:
                self.stats.fields_with_warnings += 1
        ncols = len(self.plan.columns)
        if t.processed and ncols and t.output_first_row is not None:
            t.art["output_range"] = cell_range(1, t.output_first_row, ncols, t.output_first_row + t.processed - 1)
        else:
            t.art["output_range"] = None

    def _flush(self, t: TableRun, rows: list[tuple[int, list[Any]]]) -> None:
        self._check_cancel()
        if t.output_first_row is None:
            t.output_first_row = self._output_row + 1
        offset = t.processed
        first_output_row = self._output_row + 1
        plan, table_id = t.plan, t.plan.id
        mapped = t.mapped_columns()
        values_by_field: dict[str, list[Any]] = {}
        for fid in t.art["target_fields"]:
            col = mapped[fid]
            i = col.source_index - 1
            raw = [cells[i] if i < len(cells) else None for _, cells in rows]
            values_by_field[fid] = raw
            fr = self.registry.fields.get(fid)
            if fr is None or fr.transform is None:
                continue
            ctx = dict(sheet_name=t.sheet_name, table_id=table_id, column_id=col.column_id, column_index=col.order,
                       header=col.source_header, values=raw, row_offset=offset)
            loc = {"sheet_id": plan.sheet_id, "table_id": table_id, "column_id": col.column_id, "row_index": offset + 1}
            t0 = time.perf_counter()
            result = self.runner.transform(fr.transform, fid, location=loc, **ctx)
            self.stats.transform_s += time.perf_counter() - t0
            entry = t.transforms[fid]
            entry["chunks"] += 1
            entry["total"] += len(rows)
            if result is None:
                entry["failed_chunks"] += 1
                continue
            out, warnings = result
            changed = 0
            for a, b in zip(out, raw):
                try:
                    if a != b:
                        changed += 1
                except Exception:
                    changed += 1
            entry["changed"] += changed
            self.stats.changed_cells += changed
            for w in warnings:
                text = _short(self.redactor(w) if self.redactor else w)
                if text not in entry["warnings"] and len(entry["warnings"]) < TRANSFORM_WARNINGS_MAX:
                    entry["warnings"].append(text)
            values_by_field[fid] = out
            self._check_cancel()

        for fid in t.art["target_fields"]:
            fr = self.registry.fields.get(fid)
            if fr is None or fr.validate is None:
                continue
            col = mapped[fid]
            ctx = dict(sheet_name=t.sheet_name, table_id=table_id, column_id=col.column_id, column_index=col.order,
                       header=col.source_header, values=values_by_field[fid], row_offset=offset)
            loc = {"sheet_id": plan.sheet_id, "table_id": table_id, "column_id": col.column_id, "row_index": offset + 1}
            t0 = time.perf_counter()
            found = self.runner.validate(fr.validate, fid, location=loc, **ctx)
            self.stats.validate_s += time.perf_counter() - t0
            out_col = t.layout.field_output.get(fid)
            for issue in found or []:
                pos = issue["row_index"]
                sev = self.issues.add(
                    t.art, code=issue.get("code"), severity=issue.get("severity"), message=issue.get("message"),
                    rule=fr.validate.id, target_field=fid, column=col.column_id, row_index=offset + pos,
                    a1=cell(col.source_index, rows[pos - 1][0]),
                    output_a1=cell(out_col, first_output_row + pos - 1) if out_col else None)
                self.stats.by_severity[sev] += 1
            self._check_cancel()

        # The output rows are put together column by column (one list per output column, then zipped):
        # the per-cell work of a row-by-row loop was a visible share of the generate pass.
        n = len(rows)
        columns: list[list[Any]] = []
        for spec in t.layout.cells:
            kind = spec[0]
            if kind == "field":
                column = values_by_field[spec[1]]
            elif kind == "raw":
                j = spec[1] - 1
                column = [cells[j] if j < len(cells) else None for _, cells in rows]
            elif kind == "sheet":
                column = [t.sheet_name] * n
            elif kind == "row":
                column = [row_index for row_index, _ in rows]
            else:
                column = [None] * n
            if self.redactor is not None:
                column = self._redact_column(t, spec, column, offset)
            columns.append(column)
        sheet_id = plan.sheet_id
        for i, out_values in enumerate(zip(*columns)) if columns else enumerate([()] * n):
            self._write(out_values, sheet_id, table_id, offset + i + 1)
            self._output_row += 1
        t.processed += len(rows)

    def _redact_column(self, t: TableRun, spec: tuple[Any, ...], column: list[Any], offset: int) -> list[Any]:
        assert self.redactor is not None
        contains = self.redactor.contains
        hits = [i for i, v in enumerate(column) if v.__class__ is str and contains(v)]
        if hits:
            column = list(column)
            for i in hits:
                column[i] = self._redact_cell(t, spec, column[i], offset + i + 1)
        return column

    def _redact_cell(self, t: TableRun, spec: tuple[Any, ...], value: str, ordinal: int) -> str:
        assert self.redactor is not None
        rule, column_id = "engine", None
        if spec[0] == "field":
            fr = self.registry.fields.get(spec[1])
            if fr is not None and fr.transform is not None:
                rule = fr.transform.id
            column_id = self.mapped_column_id(t, spec[1])
        self.errors.record(rule, "generate", "secret_in_output",
                           "an output cell contained a secret value; it was redacted",
                           {"sheet_id": t.plan.sheet_id, "table_id": t.plan.id, "column_id": column_id,
                            "row_index": ordinal})
        return self.redactor(value)

    @staticmethod
    def mapped_column_id(t: TableRun, field_id: str) -> str | None:
        for m in t.art["mapping"]:
            if m["target_field"] == field_id:
                return m["raw"]["column"]
        return None
