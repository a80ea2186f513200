"""Helpers that write small config packages, input workbooks and run requests into tmp_path."""

from __future__ import annotations

import copy
import json
import textwrap
from pathlib import Path
from typing import Any

COMMON = '''
def norm(text):
    return " ".join(str(text).lower().split())

def header_score(header, meta):
    if not header:
        return 0.0
    wanted = [norm(meta["label"])] + [norm(s) for s in meta.get("synonyms", [])]
    h = norm(header)
    if h in wanted:
        return 0.9
    return 0.5 if any(w in h for w in wanted) else 0.0
'''

SKU = '''
import re
from columns._common import header_score

DEFAULT_PATTERN = r"^[A-Z0-9-]{4,20}$"

def detect_header(*, header, field_name, field_meta, **_):
    return {"scores": {field_name: header_score(header, field_meta)}}

def detect_code_shape(*, values_sample, field_name, field_meta, **_):
    rx = re.compile(field_meta.get("pattern") or DEFAULT_PATTERN)
    present = [str(v).strip().upper() for v in values_sample if v is not None]
    if not present:
        return {"scores": {}}
    share = sum(1 for v in present if rx.fullmatch(v)) / len(present)
    return {"scores": {field_name: round(0.8 * share - 0.2, 3)}}

def transform(*, values, **_):
    upper = [None if raw is None else (str(raw).strip().upper() or None) for raw in values]
    return {"values": upper, "warnings": []}

def validate(*, values, field_meta, **_):
    rx = re.compile(field_meta.get("pattern") or DEFAULT_PATTERN)
    found, seen = [], set()
    for pos, sku in enumerate(values, 1):
        if sku is None:
            found.append({"row_index": pos, "code": "missing", "severity": "error", "message": "SKU is empty"})
            continue
        if not rx.fullmatch(sku):
            found.append({"row_index": pos, "code": "pattern", "severity": "warning",
                          "message": "SKU has an unexpected format"})
        if sku in seen:
            found.append({"row_index": pos, "code": "duplicate_value", "severity": "warning",
                          "message": "SKU repeats an earlier row"})
        seen.add(sku)
    return {"issues": found}
'''

UNIT_PRICE = '''
from decimal import Decimal, InvalidOperation
from columns._common import header_score

def _number(value):
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float, Decimal)):
        return Decimal(str(value))
    text = str(value).strip()
    negative = text.startswith("(") and text.endswith(")")
    core = text.strip("()").replace(",", "").lstrip("$").strip()
    try:
        amount = Decimal(core)
    except InvalidOperation:
        return None
    if not amount.is_finite():
        return None
    return -amount if negative else amount

def detect_header(*, header, field_name, field_meta, **_):
    return {"scores": {field_name: header_score(header, field_meta)}}

def detect_numeric_share(*, values_sample, field_name, **_):
    present = [v for v in values_sample if v is not None]
    if not present:
        return {"scores": {}}
    share = sum(1 for v in present if _number(v) is not None) / len(present)
    return {"scores": {field_name: round(0.6 * share - 0.3, 3)}}

def transform(*, values, **_):
    out, unreadable = [], 0
    for v in values:
        amount = _number(v)
        if v is not None and amount is None:
            unreadable += 1
            out.append(v)
        else:
            out.append(None if amount is None else float(amount.quantize(Decimal("0.01"))))
    notes = [f"{unreadable} value(s) were not numeric"] if unreadable else []
    return {"values": out, "warnings": notes}

def validate(*, values, **_):
    problems = {}
    for pos, price in enumerate(values, 1):
        if price is None:
            problems[pos] = ("required_missing", "Unit price is empty")
        elif not isinstance(price, float):
            problems[pos] = ("invalid_format", "Unit price is not a number")
        elif price < 0:
            problems[pos] = ("out_of_range", "Unit price is negative")
    return {"issues": [{"row_index": pos, "code": code, "severity": "error", "message": text}
                       for pos, (code, text) in problems.items()]}
'''

CELLS = '''
def filled(cells):
    return [c for c in cells if c is not None]

def looks_numeric(cell):
    if isinstance(cell, bool):
        return False
    if isinstance(cell, (int, float)):
        return True
    text = str(cell).strip().strip("()").replace(",", "").lstrip("$")
    try:
        float(text)
        return True
    except ValueError:
        return False
'''

HEADER = '''
from row_types._cells import filled

def detect_wordy_cells(*, row_values_sample, **_):
    cells = filled(row_values_sample)
    if len(cells) < 2:
        return {"scores": {}}
    wordy = sum(1 for c in cells if isinstance(c, str) and not any(ch.isdigit() for ch in c))
    if wordy / len(cells) >= 0.8:
        return {"scores": {"header": 0.6, "data": -0.2}}
    return {"scores": {}}

def detect_known_labels(*, row_values_sample, manifest, **_):
    squash = lambda text: " ".join(text.lower().split())
    known = set()
    for fmeta in manifest["columns"]["meta"].values():
        known.add(squash(fmeta["label"]))
        known.update(squash(word) for word in fmeta.get("synonyms", []))
    hits = sum(1 for cell in row_values_sample if isinstance(cell, str) and squash(cell) in known)
    return {"scores": {"header": min(0.5 * hits, 1.0)}} if hits else {"scores": {}}
'''

DATA = '''
from row_types._cells import filled, looks_numeric

def detect_has_numbers(*, row_values_sample, **_):
    if any(looks_numeric(c) for c in filled(row_values_sample)):
        return {"scores": {"data": 0.5}}
    return {"scores": {}}

def detect_width(*, row_values_sample, **_):
    count = len(filled(row_values_sample))
    if count == 1:
        return {"scores": {"data": -0.4, "header": -0.4}}
    return {"scores": {"data": 0.3}} if count >= 2 else {"scores": {}}

def detect_total(*, row_values_sample, **_):
    first = row_values_sample[0] if row_values_sample else None
    if isinstance(first, str) and first.strip().lower() in ("total", "subtotal"):
        return {"scores": {"total_row": 1.0, "data": -0.5}}
    return {"scores": {}}
'''

BASE_MANIFEST: dict[str, Any] = {
    "config_script_api_version": "1",
    "info": {"schema": "ade.manifest/v1.0", "title": "Supplier price lists", "version": "0.3.0"},
    "engine": {"defaults": {"mapping_score_threshold": 0.5}, "writer": {"output_sheet": "Prices"}},
    "env": {"CURRENCY": "CAD"},
    "columns": {
        "order": ["sku", "unit_price"],
        "meta": {
            "sku": {"label": "SKU", "script": "columns/sku.py", "required": True,
                    "synonyms": ["item code", "part number", "product code"], "pattern": "^[A-Z0-9-]{4,20}$"},
            "unit_price": {"label": "Unit Price", "script": "columns/unit_price.py", "required": True,
                           "synonyms": ["price", "unit cost", "cost each"], "type_hint": "decimal"},
        },
    },
}

BASE_FILES = {
    "columns/_common.py": COMMON,
    "columns/sku.py": SKU,
    "columns/unit_price.py": UNIT_PRICE,
    "row_types/_cells.py": CELLS,
    "row_types/header.py": HEADER,
    "row_types/data.py": DATA,
}


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def write_package(root: Path, *, manifest: dict[str, Any] | None = None, files: dict[str, str] | None = None,
                  replace_manifest: dict[str, Any] | None = None) -> Path:
    """The spec's example package (plus a total-row detector), merged with `manifest`/`files` overrides."""
    root.mkdir(parents=True, exist_ok=True)
    data = replace_manifest if replace_manifest is not None else deep_merge(BASE_MANIFEST, manifest or {})
    (root / "manifest.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    for rel, text in {**BASE_FILES, **(files or {})}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def write_xlsx(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    """A workbook with one sheet per entry (rows from A1); `None` leaves a cell empty."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(list(row))
    wb.save(path)
    return path


def write_csv(path: Path, rows: list[list[Any]]) -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["" if c is None else c for c in row] for row in rows])
    return path


def make_request(job_dir: Path, input_path: Path, config_dir: Path, **extra: Any) -> dict[str, Any]:
    job_dir.mkdir(parents=True, exist_ok=True)
    req: dict[str, Any] = {
        "schema": "ade.run_request/v1", "job_id": "01JTESTJOB0000000000000000", "attempt": 1,
        "trace_id": "trace123", "config_version_id": "draft:abc", "content_hash": "abc", "deps_hash": None,
        "input": {"document_id": None, "filename": input_path.name, "sha256": "", "path": str(input_path),
                  "format": None},
        "limits": {"timeout_s": 60, "cpu_seconds": 65, "memory_mb": 512, "fsize_mb": 100, "nofile": 256},
        "runtime_network_access": False, "sandbox_level": "basic", "secrets_requested": [],
        "engine_version": "1.0.0", "job_dir": str(job_dir), "config_dir": str(config_dir),
        "config_id": "supplier-prices", "started_at": "2025-11-20T14:02:11Z", "reader": "auto",
        "input_budget": {"max_uncompressed_mb": 1024, "max_ratio": 200, "inmemory_max_mb": 64},
    }
    return deep_merge(req, extra)


def read_output(path: Path) -> list[list[Any]]:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True)
    ws = wb.worksheets[0]
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    wb.close()
    return rows
