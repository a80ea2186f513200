"""Artifact models, committed JSON Schema (drift test) and the atomic save."""

from __future__ import annotations

import json
import os

import pytest
from pydantic import ValidationError

from ade_engine.runtime.artifact import SCHEMA_PATH, normalize_artifact, render_schema
from ade_engine.runtime.atomic import save_json_atomic

MINIMAL = {
    "job": {"job_id": "J", "attempt": 1, "trace_id": "t", "status": "running", "source_file": "a.xlsx",
            "started_at": "2025-01-01T00:00:00Z", "config_version_id": "v", "runtime_network_access": False},
    "input": {"size_bytes": 1, "sha256": "x", "sheet_count": 0},
    "config": {"config_id": "c", "config_version_id": "v", "title": "T", "manifest_version": "1.0.0",
               "manifest_schema": "ade.manifest/v1.0", "config_script_api_version": "1", "content_hash": "h"},
    "engine": {"engine_version": "1.0.0",
               "defaults": {"timeout_ms": 1000, "memory_mb": 64, "runtime_network_access": False,
                            "mapping_score_threshold": 0, "strict_rules": False},
               "detect": {"row_sample_size": 1, "column_sample_size": 1, "row_label_threshold": 0,
                          "row_label_order": [], "max_header_rows": 1},
               "writer": {"mode": "row_streaming", "chunk_rows": 100, "append_unmapped_columns": True,
                          "unmapped_prefix": "raw_", "output_sheet": "N", "provenance_columns": False},
               "artifact": {"max_issues_per_field": 1},
               "sandbox": {"level": "basic", "network": False}},
    "environment": {"python_version": "3.12", "platform": "linux"},
    "error": {"code": "x", "message": "m", "stage": "init"},
    "rule_errors": [{"rule": "engine", "stage": "generate", "level": "warning", "kind": "value_truncated",
                     "message": "m", "count": 1, "first_location": {"table_id": "t"}}],
}


def test_committed_schema_matches_models():
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_schema(), (
        "docs/schemas/artifact.schema.json is stale: run "
        "`.venv/bin/python -m ade_engine.runtime.artifact > docs/schemas/artifact.schema.json`")


def test_key_order_defaults_and_sparse_optionals():
    out = normalize_artifact(MINIMAL)
    assert list(out) == ["schema", "artifact_version", "job", "input", "config", "engine", "environment", "rules",
                         "sheets", "output", "summary", "pass_history", "annotations", "rule_errors", "warnings",
                         "error"]
    assert out["schema"] == "ade.artifact/v1" and out["artifact_version"] == "1.2"
    assert list(out["rules"]) == ["row_types", "column_detect", "transform", "validate", "hooks"]
    assert out["error"] == {"code": "x", "message": "m", "stage": "init"}  # no "rule": null
    assert out["rule_errors"][0]["first_location"] == {"table_id": "t"}


def test_unknown_keys_and_bad_values_are_rejected():
    with pytest.raises(ValidationError):
        normalize_artifact({**MINIMAL, "surprise": 1})
    bad = json.loads(json.dumps(MINIMAL))
    bad["job"]["status"] = "done"
    with pytest.raises(ValidationError):
        normalize_artifact(bad)


def test_save_json_atomic(tmp_path):
    target = tmp_path / "artifact.json"
    save_json_atomic(target, {"b": 1, "a": "é"})
    save_json_atomic(target, {"b": 2})
    assert json.loads(target.read_text(encoding="utf-8")) == {"b": 2}
    assert sorted(os.listdir(tmp_path)) == ["artifact.json"]
    with pytest.raises(ValueError):
        save_json_atomic(target, {"x": float("nan")})
    assert json.loads(target.read_text()) == {"b": 2}
