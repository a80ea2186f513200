"""The complete example package of config-packages.md §7, written out for tests."""

from __future__ import annotations

import json
from pathlib import Path

MANIFEST = {
    "config_script_api_version": "1",
    "info": {"schema": "ade.manifest/v1.0", "title": "Supplier price lists", "version": "0.3.0"},
    "engine": {
        "defaults": {"timeout_ms": 60000, "memory_mb": 512, "mapping_score_threshold": 0.5},
        "detect": {"column_sample_size": 40},
        "writer": {"output_sheet": "Prices"},
    },
    "env": {"CURRENCY": "CAD"},
    "hooks": {"after_validate": [{"script": "hooks/after_validate.py"}]},
    "columns": {
        "order": ["sku", "unit_price"],
        "meta": {
            "sku": {"label": "SKU", "script": "columns/sku.py", "required": True,
                    "synonyms": ["item code", "part number"], "pattern": "^[A-Z0-9-]{4,20}$"},
            "unit_price": {"label": "Unit Price", "script": "columns/unit_price.py", "required": True,
                           "synonyms": ["price", "unit cost"], "type_hint": "decimal"},
        },
    },
}

FILES = {
    "columns/_common.py": '''\
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
''',
    "columns/sku.py": '''\
import re
from columns._common import header_score


def detect_header(*, header, field_name, field_meta, **_):
    return {"scores": {field_name: header_score(header, field_meta)}}


def detect_code_shape(*, values_sample, field_name, field_meta, **_):
    rx = re.compile(field_meta.get("pattern") or r"^[A-Z0-9-]{4,20}$")
    present = [str(v).strip().upper() for v in values_sample if v is not None]
    if not present:
        return {"scores": {}}
    share = sum(1 for v in present if rx.fullmatch(v)) / len(present)
    return {"scores": {field_name: round(0.8 * share - 0.2, 3)}}


def transform(*, values, **_):
    return {"values": [None if v is None else (str(v).strip().upper() or None) for v in values], "warnings": []}
''',
    "columns/unit_price.py": '''\
from columns._common import header_score


def detect_header(*, header, field_name, field_meta, **_):
    return {"scores": {field_name: header_score(header, field_meta)}}
''',
    "row_types/header.py": '''\
def detect_wordy_cells(*, row_values_sample, **_):
    cells = [c for c in row_values_sample if c is not None]
    if len(cells) < 2:
        return {"scores": {}}
    wordy = sum(1 for c in cells if isinstance(c, str) and not any(ch.isdigit() for ch in c))
    return {"scores": {"header": 0.6, "data": -0.2}} if wordy / len(cells) >= 0.8 else {"scores": {}}
''',
    "row_types/data.py": '''\
def detect_width(*, row_values_sample, **_):
    count = len([c for c in row_values_sample if c is not None])
    return {"scores": {"data": 0.3}} if count >= 2 else {"scores": {}}
''',
    "hooks/after_validate.py": '''\
def run(*, artifact, env, **_):
    return {"notes": "prices in " + env.get("CURRENCY", "?")}
''',
}


def write_example_package(dest: Path, *, title: str | None = None) -> Path:
    """Write the example package into `dest` (created) and return it."""
    manifest = json.loads(json.dumps(MANIFEST))
    if title:
        manifest["info"]["title"] = title
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    for rel, text in FILES.items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return dest
