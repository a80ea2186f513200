"""manifest.json models (config-packages.md §2, secrets.md §2) and the committed JSON Schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ade_engine.errors import ConfigInvalid
from ade_engine.manifest import Manifest, load_manifest, parse_manifest
from ade_engine.manifest.schema import render

ROOT = Path(__file__).resolve().parents[1]

MINIMAL = {
    "config_script_api_version": "1",
    "info": {"schema": "ade.manifest/v1.0", "title": "Minimal", "version": "1.0.0"},
    "columns": {"order": ["sku"], "meta": {"sku": {"label": "SKU", "script": "columns/sku.py"}}},
}


def with_(path: str, value, base: dict | None = None) -> dict:
    """Copy of MINIMAL (or base) with the dotted `path` set to `value`."""
    data = json.loads(json.dumps(base or MINIMAL))
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return data


def problem(data: dict) -> ConfigInvalid:
    with pytest.raises(ConfigInvalid) as info:
        parse_manifest(json.dumps(data))
    return info.value


def test_runtime_dict_has_every_key_with_its_default():
    runtime = parse_manifest(json.dumps(MINIMAL)).to_runtime_dict()
    assert runtime == {
        "config_script_api_version": "1",
        "info": {"schema": "ade.manifest/v1.0", "title": "Minimal", "version": "1.0.0",
                 "description": None, "requires_engine": None},
        "engine": {
            "defaults": {"timeout_ms": 120000, "memory_mb": 512, "runtime_network_access": False,
                         "mapping_score_threshold": 0.0, "strict_rules": False},
            "input": {"encoding": None},
            "detect": {"row_sample_size": 256, "column_sample_size": 50, "row_label_threshold": 0.0,
                       "row_label_order": ["header", "group_header", "data", "separator"], "max_header_rows": 3,
                       "layout": "rows"},
            "writer": {"mode": "row_streaming", "chunk_rows": 10000, "append_unmapped_columns": True,
                       "unmapped_prefix": "raw_", "output_sheet": "Normalized", "provenance_columns": False},
            "artifact": {"max_issues_per_field": 1000},
        },
        "env": {},
        "secrets": [],
        "hooks": {"on_job_start": [], "after_mapping": [], "after_transform": [], "after_validate": [],
                  "on_job_end": []},
        "columns": {"order": ["sku"], "meta": {"sku": {
            "label": "SKU", "script": "columns/sku.py", "required": False, "enabled": True, "synonyms": [],
            "type_hint": None, "pattern": None, "secrets": []}}},
    }
    json.dumps(runtime)  # plain JSON all the way down


def test_input_encoding_must_be_a_text_encoding():
    assert parse_manifest(json.dumps(with_("engine.input.encoding", "shift_jis"))).engine.input.encoding == "shift_jis"
    for bad in ("klingon", "base64"):
        err = problem(with_("engine.input.encoding", bad))
        assert "engine.input.encoding" in err.message and bad in err.message


def test_info_schema_is_aliased_and_round_trips():
    m = parse_manifest(json.dumps(MINIMAL))
    assert m.info.schema_ == "ade.manifest/v1.0"
    again = Manifest.model_validate(m.to_runtime_dict())
    assert again == m


def test_hook_entries_get_defaults():
    data = with_("hooks", {"after_mapping": [{"script": "hooks/a.py"}]})
    runtime = parse_manifest(json.dumps(data)).to_runtime_dict()
    assert runtime["hooks"]["after_mapping"] == [{"script": "hooks/a.py", "enabled": True, "secrets": []}]


@pytest.mark.parametrize(("path", "value", "code", "message"), [
    ("config_script_api_version", "2", "script_api.unsupported",
     "Unsupported config_script_api_version '2' (supported: '1')"),
    ("config_script_api_version", 1, "manifest.schema", "config_script_api_version: Input should be a valid string"),
    ("info.schema", "ade.manifest/v0.6", "script_api.unsupported", "Unsupported info.schema 'ade.manifest/v0.6'"),
    ("info.title", "", "manifest.schema", "info.title: String should have at least 1 character"),
    ("info.title", "x" * 256, "manifest.schema", "info.title: String should have at most 255 characters"),
    ("info.version", "1.4", "manifest.schema", "info.version: '1.4' is not a semantic version"),
    ("info.description", "x" * 2001, "manifest.schema", "info.description: String should have at most 2000"),
    ("info.requires_engine", "one", "manifest.schema", "info.requires_engine: 'one' is not a version specifier"),
    ("info.homepage", "x", "manifest.schema", "info: unknown key 'homepage'"),
    ("engine.defaults.timeout_ms", 999, "manifest.schema", "engine.defaults.timeout_ms: Input should be greater"),
    ("engine.defaults.memory_mb", 63, "manifest.schema", "engine.defaults.memory_mb: Input should be greater"),
    ("engine.defaults.runtime_network_access", 1, "manifest.schema", "Input should be a valid boolean"),
    ("engine.defaults.mapping_score_threshold", -0.1, "manifest.schema", "greater than or equal to 0"),
    ("engine.detect.row_sample_size", 16385, "manifest.schema", "less than or equal to 16384"),
    ("engine.detect.column_sample_size", 0, "manifest.schema", "greater than or equal to 1"),
    ("engine.detect.max_header_rows", 6, "manifest.schema", "less than or equal to 5"),
    ("engine.writer.mode", "batch", "manifest.schema", "engine.writer.mode: Input should be 'row_streaming' or"),
    ("engine.writer.chunk_rows", 99, "manifest.schema", "greater than or equal to 100"),
    ("engine.writer.unmapped_prefix", "", "manifest.schema", "at least 1 character"),
    ("engine.writer.output_sheet", "a:b", "manifest.pattern", "is not a legal Excel sheet name"),
    ("engine.writer.output_sheet", "'quoted'", "manifest.pattern", "apostrophe"),
    ("engine.writer.output_sheet", "history", "manifest.pattern", "reserved by Excel"),
    ("engine.artifact.max_issues_per_field", -1, "manifest.schema", "greater than or equal to 0"),
    ("engine.turbo", True, "manifest.schema", "engine: unknown key 'turbo'"),
    ("env", {"PYTHONPATH": "/x"}, "manifest.schema", "env.PYTHONPATH: keys starting with PYTHON are not allowed"),
    ("env", {"ADE_DATA_DIR": "/x"}, "manifest.schema", "keys starting with ADE_ are not allowed"),
    ("env", {"DYLD_X": "/x"}, "manifest.schema", "keys starting with DYLD_ are not allowed"),
    ("env", {"1ABC": "x"}, "manifest.schema", "env.1ABC: key '1ABC' must match"),
    ("env", {"A": 1}, "manifest.schema", "env.A: Input should be a valid string"),
    ("secrets", ["ok_lower"], "secrets.name", "secrets key 'ok_lower' must match"),
    ("secrets", ["A" * 65], "secrets.name", "must match ^[A-Z][A-Z0-9_]{0,63}$"),
    ("secrets", {"TOKEN": "abc"}, "secrets.value_in_manifest", "a value for TOKEN was found"),
    ("secrets", [{"name": "TOKEN", "value": "abc"}], "secrets.value_in_manifest", "a value for TOKEN was found"),
    ("secrets", ["A", "A"], "manifest.schema", "A listed more than once"),
    ("hooks.before_mapping", [], "manifest.schema", "hooks: unknown key 'before_mapping'"),
    ("hooks.after_mapping", [{"script": "hooks/../x.sh"}], "manifest.schema", "String should match pattern"),
    ("hooks.after_mapping", [{"script": "hooks/x.py", "secrets": ["NOPE"]}], "secrets.undeclared",
     "hooks.after_mapping[0].secrets: 'NOPE' is not declared in manifest.secrets"),
    ("columns.order", [], "manifest.schema", "columns.order: List should have at least 1 item"),
    ("columns.meta.sku.script", "lib/sku.py", "manifest.schema", "columns.meta.sku.script: String should match"),
    ("columns.meta.sku.label", "", "manifest.schema", "at least 1 character"),
    ("columns.meta.sku.type_hint", "x" * 65, "manifest.schema", "at most 64 characters"),
    ("columns.meta.sku.pattern", "(", "manifest.pattern", "columns.meta.sku.pattern: missing ), unterminated"),
    ("columns.meta.sku.secrets", ["NOPE"], "secrets.undeclared", "columns.meta.sku.secrets: 'NOPE' is not declared"),
    ("columns.meta.sku.colour", "red", "manifest.schema", "columns.meta.sku: unknown key 'colour'"),
    ("columns.meta.extra", {"label": "X", "script": "columns/x.py"}, "columns.meta_mismatch",
     "columns.meta has entries not listed in columns.order: extra"),
])
def test_each_rule_is_enforced_with_a_readable_message(path, value, code, message):
    exc = problem(with_(path, value))
    assert exc.code == code
    assert message in exc.message
    assert exc.details["problems"][0]["code"] == code


def test_missing_required_key_reads_like_json_schema():
    data = with_("columns.meta", {"sku": {"label": "SKU"}})
    exc = problem(data)
    assert "columns.meta.sku: 'script' is a required property" in exc.message


def test_several_problems_are_listed_together():
    data = with_("engine.detect.row_sample_size", 0, with_("info.version", "x"))
    exc = problem(data)
    assert exc.code == "manifest.schema"
    assert [p["path"] for p in exc.details["problems"]] == ["info.version", "engine.detect.row_sample_size"]


def test_invalid_json_names_the_line():
    with pytest.raises(ConfigInvalid) as info:
        parse_manifest('{\n  "info": {}\n  "columns": 1\n}')
    assert info.value.code == "manifest.invalid_json"
    assert str(info.value) == "manifest.json line 3: Expecting ',' delimiter"


def test_secret_references_and_requested_set():
    data = with_("secrets", ["A_TOKEN", "B_TOKEN"])
    data["hooks"] = {"after_mapping": [{"script": "hooks/x.py", "secrets": ["A_TOKEN"]},
                                       {"script": "hooks/y.py", "secrets": ["B_TOKEN"], "enabled": False}]}
    m = parse_manifest(json.dumps(data))
    assert m.requested_secrets() == {"A_TOKEN"}


def test_load_manifest_from_file_or_folder(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps(MINIMAL), encoding="utf-8")
    assert load_manifest(tmp_path).info.title == "Minimal"
    assert load_manifest(tmp_path / "manifest.json").info.title == "Minimal"
    with pytest.raises(ConfigInvalid) as info:
        load_manifest(tmp_path / "nope")
    assert info.value.code == "manifest.missing"


def test_committed_schema_matches_the_models():
    committed = (ROOT / "docs" / "schemas" / "manifest.schema.json").read_text(encoding="utf-8")
    assert committed == render(), (
        "docs/schemas/manifest.schema.json is stale; regenerate it with "
        "`python -m ade_engine.manifest.schema > docs/schemas/manifest.schema.json`")


def test_schema_module_prints_the_schema():
    out = subprocess.run([sys.executable, "-m", "ade_engine.manifest.schema"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    schema = json.loads(out)
    assert schema["required"] == ["config_script_api_version", "info", "columns"]
    assert schema["additionalProperties"] is False
    assert "schema" in schema["$defs"]["Info"]["properties"]
