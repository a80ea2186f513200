"""The complete example package of config-packages.md §7 must validate clean (static and dynamic).

Other validation tests import `EXAMPLE_PACKAGE` / `write_package` from here and break it one way at a time.
"""

from __future__ import annotations

import json
from pathlib import Path

from ade_engine.packages.validation import validate, validate_dynamic, validate_static

# Copied verbatim from the spec (§7).
EXAMPLE_PACKAGE: dict[str, str] = {
    'manifest.json': r'''{
  "config_script_api_version": "1",
  "info": {"schema": "ade.manifest/v1.0", "title": "Supplier price lists", "version": "0.3.0"},
  "engine": {
    "defaults": {"timeout_ms": 60000, "memory_mb": 512, "mapping_score_threshold": 0.5},
    "detect": {"column_sample_size": 40},
    "writer": {"output_sheet": "Prices"}
  },
  "env": {"CURRENCY": "CAD"},
  "hooks": {"after_validate": [{"script": "hooks/after_validate.py"}]},
  "columns": {
    "order": ["sku", "unit_price"],
    "meta": {
      "sku": {"label": "SKU", "script": "columns/sku.py", "required": true,
              "synonyms": ["item code", "part number", "product code"],
              "pattern": "^[A-Z0-9-]{4,20}$"},
      "unit_price": {"label": "Unit Price", "script": "columns/unit_price.py", "required": true,
                     "synonyms": ["price", "unit cost", "cost each"], "type_hint": "decimal"}
    }
  }
}
''',
    'columns/_common.py': r'''def norm(text):
    return " ".join(str(text).lower().split())

def header_score(header, meta):
    """+0.9 for an exact label/synonym, +0.5 when one is contained in the header."""
    if not header:
        return 0.0
    wanted = [norm(meta["label"])] + [norm(s) for s in meta.get("synonyms", [])]
    h = norm(header)
    if h in wanted:
        return 0.9
    return 0.5 if any(w in h for w in wanted) else 0.0
''',
    'columns/sku.py': r'''import re
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
            found.append({"row_index": pos, "code": "required_missing",
                          "severity": "error", "message": "SKU is empty"})
            continue
        if not rx.fullmatch(sku):
            found.append({"row_index": pos, "code": "pattern_mismatch",
                          "severity": "warning", "message": "SKU has an unexpected format"})
        if sku in seen:
            found.append({"row_index": pos, "code": "duplicate_value",
                          "severity": "warning", "message": "SKU repeats an earlier row"})
        seen.add(sku)
    return {"issues": found}
''',
    'columns/unit_price.py': r'''from decimal import Decimal, InvalidOperation
from columns._common import header_score

def _number(value):
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float, Decimal)):
        return Decimal(str(value))
    text = str(value).strip()
    negative = text.startswith("(") and text.endswith(")")
    core = text.strip("()").replace(",", "").lstrip("$€£").strip()
    try:
        amount = Decimal(core)
    except InvalidOperation:
        return None
    if not amount.is_finite():                 # rejects "NaN" / "Infinity"
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
            out.append(v)                      # keep as-is so validate can flag it
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
''',
    'row_types/_cells.py': r'''def filled(cells):
    return [c for c in cells if c is not None]

def looks_numeric(cell):
    if isinstance(cell, bool):
        return False
    if isinstance(cell, (int, float)):
        return True
    text = str(cell).strip().strip("()").replace(",", "").lstrip("$€£")
    try:
        float(text)
        return True
    except ValueError:
        return False
''',
    'row_types/header.py': r'''from row_types._cells import filled

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
''',
    'row_types/data.py': r'''from row_types._cells import filled, looks_numeric

def detect_has_numbers(*, row_values_sample, **_):
    if any(looks_numeric(c) for c in filled(row_values_sample)):
        return {"scores": {"data": 0.5}}
    return {"scores": {}}

def detect_width(*, row_values_sample, **_):
    count = len(filled(row_values_sample))
    if count == 1:                              # titles and notes: neither header nor data
        return {"scores": {"data": -0.4, "header": -0.4}}
    return {"scores": {"data": 0.3}} if count >= 2 else {"scores": {}}
''',
    'hooks/after_validate.py': r'''def run(*, artifact, env, **_):
    per_field = [counts
                 for sh in artifact["sheets"] for tb in sh["tables"]
                 for counts in tb["validation"]["summary_by_field"].values()]
    errors = sum(c["errors"] for c in per_field)
    warnings = sum(c["warnings"] for c in per_field)
    return {"notes": f"{errors} error(s), {warnings} warning(s); prices in {env.get('CURRENCY', '?')}"}
''',
}


def write_package(root: Path, files: dict[str, str | bytes | None] | None = None, **changes: str | None) -> Path:
    """Write EXAMPLE_PACKAGE (or `files`) under `root`, with `changes` ({path: text or None to delete})."""
    content: dict[str, str | bytes | None] = dict(EXAMPLE_PACKAGE if files is None else files)
    content.update(changes)
    for rel, text in content.items():
        if text is None:
            continue
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
    return root


def example_manifest() -> dict:
    return json.loads(EXAMPLE_PACKAGE["manifest.json"])


def test_spec_example_is_clean_statically(tmp_path):
    pkg = write_package(tmp_path / "pkg")
    assert [d.to_dict() for d in validate_static(pkg)] == []


def test_spec_example_is_clean_dynamically(tmp_path):
    pkg = write_package(tmp_path / "pkg")
    assert [d.to_dict() for d in validate_dynamic(pkg)] == []


def test_validate_runs_both_and_leaves_no_bytecode(tmp_path):
    pkg = write_package(tmp_path / "pkg")
    assert validate(pkg, dynamic=True) == []
    assert not list(pkg.rglob("__pycache__"))
