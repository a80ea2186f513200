"""JSON Schema of `manifest.json`, generated from the pydantic models.

Regenerate the committed copy with::

    python -m ade_engine.manifest.schema > docs/schemas/manifest.schema.json

A test fails when the committed file drifts from the models. Rules that need code (secret
references declared, `columns.meta` keys equal `columns.order`, regexes compile, legal sheet names)
are enforced by the models, not expressible here.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from ade_engine.manifest.models import MANIFEST_SCHEMA_VERSION, Manifest

SCHEMA_ID = "https://ade.local/schemas/manifest.schema.json"


def manifest_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of manifest.json, keys as written in the file (aliases)."""
    schema = Manifest.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": f"ADE config package manifest ({MANIFEST_SCHEMA_VERSION})",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def render() -> str:
    """The exact text of docs/schemas/manifest.schema.json."""
    return json.dumps(manifest_json_schema(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
