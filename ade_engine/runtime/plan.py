"""Output plan (pipeline.md §6): target columns, appended unmapped columns, provenance columns."""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, Sequence

from ade_engine.errors import AdeError
from ade_engine.runtime.a1 import MAX_COLUMNS, col_index, col_letter

_NON_ALNUM = re.compile(r"[\W_]+")
NAME_MAX = 100


class OutputLimitError(AdeError):
    """The output would exceed an Excel limit (`output_row_limit` / `output_column_limit`)."""

    code = "output_row_limit"


def sanitize_name(header: str | None, source_column: str) -> str:
    """`Start Date` → `Start_Date`; blank (or nothing left) → `col_<letter>`."""
    name = _NON_ALNUM.sub("_", header or "").strip("_")[:NAME_MAX].strip("_")
    return name or f"col_{source_column}"


@dataclass
class OutputColumn:
    kind: str  # target | appended | provenance
    header: str
    order: int
    field: str | None = None
    sources: list[tuple[str, str]] = dc_field(default_factory=list)  # (table_id, column_id)

    @property
    def letter(self) -> str:
        return col_letter(self.order)


@dataclass
class TableLayout:
    """For one table: what goes into each output column (1-based output order)."""

    table_id: str
    # output order → ("field", field_id, source_index) | ("raw", source_index) | ("sheet",) | ("row",)
    cells: list[tuple[Any, ...]]
    field_output: dict[str, int]  # field → output column order (every enabled field)


@dataclass
class OutputPlan:
    columns: list[OutputColumn]
    layouts: dict[str, TableLayout]

    @property
    def headers(self) -> list[str]:
        return [c.header for c in self.columns]

    def column_plan(self) -> dict[str, Any]:
        return {
            "target": [{"field": c.field, "output_header": c.header, "order": c.order, "output_column": c.letter}
                       for c in self.columns if c.kind == "target"],
            "appended_unmapped": [{"output_header": c.header, "order": c.order, "output_column": c.letter,
                                   "sources": [{"table_id": t, "column": col} for t, col in c.sources]}
                                  for c in self.columns if c.kind == "appended"],
            "provenance": [{"output_header": c.header, "order": c.order, "output_column": c.letter}
                           for c in self.columns if c.kind == "provenance"],
        }


def build_plan(fields: Sequence[tuple[str, str]], tables: Sequence[dict[str, Any]], *,
               append_unmapped: bool = True, prefix: str = "raw_", provenance: bool = False) -> OutputPlan:
    """`fields`: enabled (id, label) in columns.order; `tables`: artifact tables (columns + mapping) in output order."""
    columns = [OutputColumn("target", label, i, field=fid) for i, (fid, label) in enumerate(fields, start=1)]
    field_output = {c.field: c.order for c in columns if c.field}
    appended_by_name: dict[str, OutputColumn] = {}
    per_table_raw: dict[str, list[tuple[int, int]]] = {}  # table → [(output order, source index)]
    if append_unmapped:
        for t in tables:
            used: set[str] = set()
            per_table_raw[t["id"]] = []
            target = {m["raw"]["column"]: m["target_field"] for m in t["mapping"]}
            for c in t["columns"]:
                if c["empty"] or target.get(c["column_id"]) is not None:
                    continue
                base = prefix + sanitize_name(c["source_header"], c["source_column"])
                name, n = base, 1
                while name in used:  # duplicates within one table: _2, _3 … in column order
                    n += 1
                    name = f"{base}_{n}"
                used.add(name)
                out = appended_by_name.get(name)
                if out is None:  # identical names across tables share one column
                    out = OutputColumn("appended", name, len(columns) + 1)
                    appended_by_name[name] = out
                    columns.append(out)
                out.sources.append((t["id"], c["column_id"]))
                per_table_raw[t["id"]].append((out.order, _source_index(c["source_column"])))
    if provenance:
        columns.append(OutputColumn("provenance", "source_sheet", len(columns) + 1))
        columns.append(OutputColumn("provenance", "source_row", len(columns) + 1))
    if len(columns) > MAX_COLUMNS:
        raise OutputLimitError(f"the output would have {len(columns)} columns (Excel allows {MAX_COLUMNS}); "
                               "turn off writer.append_unmapped_columns or split the input.",
                               code="output_column_limit", details={"columns": len(columns)})

    layouts: dict[str, TableLayout] = {}
    for t in tables:
        cells: list[tuple[Any, ...]] = [("empty",)] * len(columns)
        src = {c["column_id"]: _source_index(c["source_column"]) for c in t["columns"]}
        for m in t["mapping"]:
            if m["target_field"] is not None and m["target_field"] in field_output:
                cells[field_output[m["target_field"]] - 1] = ("field", m["target_field"], src[m["raw"]["column"]])
        for order, source_index in per_table_raw.get(t["id"], []):
            cells[order - 1] = ("raw", source_index)
        for c in columns:
            if c.kind == "provenance":
                cells[c.order - 1] = ("sheet",) if c.header == "source_sheet" else ("row",)
        layouts[t["id"]] = TableLayout(t["id"], cells, field_output)
    return OutputPlan(columns, layouts)


def _source_index(letters: str) -> int:
    return col_index(letters)
