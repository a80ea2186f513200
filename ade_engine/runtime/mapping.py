"""Pass 2: column → target-field assignment (config-packages.md §5.2, pipeline.md §5).

Pure: scores are computed by the caller (running column detectors) into `ColumnScores`; `assign`
turns them into `mapping[]` entries. `apply_override` applies one `after_mapping` hook override.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

SCORE_DIGITS = 6
TIE_DIGITS = 9  # sums of floats are compared at this precision so 0.1 + 0.2 ties with 0.3
TIE_BREAKS = ("label", "synonym", "order", "column_position")


def normalize_header(text: str | None) -> str | None:
    """Lower-case, whitespace collapsed, trimmed (config-packages.md §5.2)."""
    if text is None:
        return None
    out = " ".join(str(text).lower().split())
    return out or None


@dataclass
class FieldSpec:
    id: str
    label: str
    synonyms: Sequence[str] = ()
    required: bool = False
    position: int = 0  # index in columns.order

    def tie_rank(self, header: str | None) -> int:
        h = normalize_header(header)
        if h is None:
            return 2
        if h == normalize_header(self.label):
            return 0
        if h in {normalize_header(s) for s in self.synonyms}:
            return 1
        return 2


@dataclass
class ColumnScores:
    column_id: str
    order: int  # 1-based position in the table
    header: str | None
    empty: bool = False
    totals: dict[str, float] = field(default_factory=dict)
    contributors: dict[str, list[tuple[str, float]]] = field(default_factory=dict)

    def add(self, field_id: str, rule_id: str, delta: float) -> None:
        self.totals[field_id] = self.totals.get(field_id, 0.0) + delta
        if delta != 0.0:
            self.contributors.setdefault(field_id, []).append((rule_id, delta))

    @property
    def any_signal(self) -> bool:
        return any(self.contributors.values())

    def total(self, field_id: str) -> float:
        return self.totals.get(field_id, 0.0)

    def scores_dict(self, fields: Sequence[FieldSpec]) -> dict[str, float]:
        return {f.id: round(self.totals[f.id], SCORE_DIGITS) for f in fields
                if round(self.totals.get(f.id, 0.0), SCORE_DIGITS) != 0.0}

    def contributors_of(self, field_id: str) -> list[dict[str, Any]]:
        return [{"rule": r, "delta": round(d, SCORE_DIGITS)} for r, d in self.contributors.get(field_id, [])
                if round(d, SCORE_DIGITS) != 0.0]


@dataclass(order=True)
class _Pair:
    key: tuple[float, int, int, int]
    column: ColumnScores = field(compare=False)
    field_spec: FieldSpec = field(compare=False)
    score: float = field(compare=False)


def _decisive(p: _Pair, q: _Pair) -> str:
    """The first sort key that put p before an equal-score competitor q."""
    if p.key[1] != q.key[1]:
        return "label" if p.key[1] == 0 else "synonym"
    if p.key[2] != q.key[2]:
        return "order"
    return "column_position"


def assign(columns: Sequence[ColumnScores], fields: Sequence[FieldSpec], threshold: float) -> list[dict[str, Any]]:
    """`mapping[]` entries (one per column, in column order) by sorted greedy assignment."""
    pairs: list[_Pair] = []
    for col in columns:
        if col.empty:
            continue
        for f in fields:
            s = col.total(f.id)
            if s > 0 and s >= threshold:
                pairs.append(_Pair((-round(s, TIE_DIGITS), f.tie_rank(col.header), f.position, col.order), col, f, s))
    pairs.sort()
    taken_cols: dict[str, _Pair] = {}
    taken_fields: set[str] = set()
    tie_break: dict[str, str | None] = {}
    for i, p in enumerate(pairs):
        if p.column.column_id in taken_cols or p.field_spec.id in taken_fields:
            continue
        decisive = None
        for q in pairs[i + 1:]:
            if q.key[0] != p.key[0]:
                break
            shares_col = q.column.column_id == p.column.column_id
            shares_field = q.field_spec.id == p.field_spec.id
            if not (shares_col or shares_field):
                continue
            if shares_col and q.field_spec.id in taken_fields:
                continue
            if shares_field and q.column.column_id in taken_cols:
                continue
            decisive = _decisive(p, q)
            break
        taken_cols[p.column.column_id] = p
        taken_fields.add(p.field_spec.id)
        tie_break[p.column.column_id] = decisive

    eligible_cols = {p.column.column_id for p in pairs}
    out = []
    for col in columns:
        entry: dict[str, Any] = {"raw": {"column": col.column_id, "header": col.header}, "target_field": None,
                                 "score": 0.0, "decision": "skipped_empty", "tie_break": None,
                                 "contributors": [], "scores": {}}
        if col.empty:
            out.append(entry)
            continue
        entry["scores"] = col.scores_dict(fields)
        chosen = taken_cols.get(col.column_id)
        if chosen is not None:
            entry.update(target_field=chosen.field_spec.id, score=round(chosen.score, SCORE_DIGITS),
                         decision="mapped", tie_break=tie_break[col.column_id],
                         contributors=col.contributors_of(chosen.field_spec.id))
        else:
            best = max((col.total(f.id) for f in fields), default=0.0)
            entry["score"] = round(best, SCORE_DIGITS) if col.totals else 0.0
            if not col.any_signal:
                entry["decision"] = "unmapped_no_signal"
            elif col.column_id not in eligible_cols:
                entry["decision"] = "unmapped_low_confidence"
            else:
                entry["decision"] = "unmapped_field_taken"
        out.append(entry)
    return out


def required_unmapped_issues(table_range: str, fields: Iterable[FieldSpec], mapped: Iterable[str]) -> list[dict[str, Any]]:
    """One `required_field_unmapped` error per required enabled field not mapped in the table."""
    have = set(mapped)
    return [{"a1": None, "output_a1": None, "range": table_range, "row_index": None, "target_field": f.id,
             "column": None, "code": "required_field_unmapped", "severity": "error",
             "message": f"Required field '{f.label}' ({f.id}) was not found in this table.", "rule": "engine"}
            for f in fields if f.required and f.id not in have]


def mapped_fields(mapping: Iterable[dict[str, Any]], fields: Sequence[FieldSpec]) -> list[str]:
    """`target_fields`: fields mapped in this table, in `columns.order`."""
    have = {m["target_field"] for m in mapping if m["target_field"] is not None}
    return [f.id for f in fields if f.id in have]


def apply_override(mapping: list[dict[str, Any]], scores: dict[str, ColumnScores], column_id: str,
                   target_field: str | None) -> None:
    """Apply one validated hook override in place: `hook_override`, displacing a holder of the field."""
    if target_field is not None:
        for m in mapping:
            if m["target_field"] == target_field and m["raw"]["column"] != column_id:
                m.update(target_field=None, decision="unmapped_displaced_by_hook", tie_break=None, contributors=[])
    for m in mapping:
        if m["raw"]["column"] == column_id:
            col = scores[column_id]
            if target_field is None:
                m.update(target_field=None, decision="hook_override", tie_break=None, contributors=[])
            else:
                m.update(target_field=target_field, decision="hook_override", tie_break=None,
                         score=round(col.total(target_field), SCORE_DIGITS),
                         contributors=col.contributors_of(target_field))


def mapping_stats(tables_mapping: Iterable[list[dict[str, Any]]], required_unmapped: int) -> dict[str, int]:
    mapped = unmapped = empty = 0
    for mapping in tables_mapping:
        for m in mapping:
            if m["decision"] == "skipped_empty":
                empty += 1
            elif m["target_field"] is not None:
                mapped += 1
            else:
                unmapped += 1
    return {"mapped": mapped, "unmapped": unmapped, "empty": empty, "required_unmapped": required_unmapped}
