"""Models of `artifact.json` (artifact.md), its JSON Schema, and the atomic JSON save.

The pipeline builds the artifact as plain dicts; every save passes them through `Artifact` so the
file always has the documented shape and key order (field order below = documented order).
Optional keys marked "?" in artifact.md are omitted when unset rather than written as null.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer

ARTIFACT_SCHEMA = "ade.artifact/v1"
ARTIFACT_VERSION = "1.2"
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "schemas" / "artifact.schema.json"

Severity = Literal["error", "warning", "info"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Sparse(_Model):
    """A model whose optional keys (`_optional`) are left out of the JSON when they are None."""

    _optional: frozenset[str] = frozenset()

    @model_serializer(mode="wrap")
    def _drop_unset(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        return {k: v for k, v in data.items() if not (v is None and k in self._optional)}


# ----------------------------------------------------------------------------- 3.1–3.5
class Job(_Model):
    job_id: str
    attempt: int = Field(ge=1)
    retry_of_job_id: str | None = None
    trace_id: str
    status: Literal["running", "succeeded", "failed", "cancelled"]
    source_file: str
    started_at: str
    completed_at: str | None = None
    config_version_id: str
    runtime_network_access: bool
    secrets_used: list[str] = Field(default_factory=list)


class Input(_Sparse):
    _optional = frozenset({"encoding_confidence", "encoding_source"})

    document_id: str | None = None
    format: Literal["xlsx", "xlsm", "csv"] | None = None
    size_bytes: int
    sha256: str
    encoding: str | None = None
    delimiter: str | None = None
    sheet_count: int
    # CSV only (omitted otherwise): how the encoding was chosen, and how sure the choice is (null when given).
    encoding_confidence: float | None = Field(default=None, ge=0, le=1)
    encoding_source: Literal["override", "manifest", "bom", "detected"] | None = None


class Config(_Model):
    config_id: str
    config_version_id: str
    title: str
    manifest_version: str
    manifest_schema: str
    config_script_api_version: str
    content_hash: str
    deps_hash: str | None = None


class EngineDefaults(_Model):
    timeout_ms: int
    memory_mb: int
    runtime_network_access: bool
    mapping_score_threshold: float
    strict_rules: bool


class EngineDetect(_Model):
    row_sample_size: int
    column_sample_size: int
    row_label_threshold: float
    row_label_order: list[str]
    max_header_rows: int
    layout: Literal["rows", "library"] = "rows"


class EngineWriter(_Model):
    mode: Literal["row_streaming", "in_memory"]
    chunk_rows: int
    append_unmapped_columns: bool
    unmapped_prefix: str
    output_sheet: str
    provenance_columns: bool


class EngineArtifact(_Model):
    max_issues_per_field: int


class Sandbox(_Model):
    level: Literal["strict", "standard", "basic", "reduced"]
    missing: list[str] = Field(default_factory=list)
    cpu_seconds: int | None = None
    memory_mb: int | None = None
    fsize_mb: int | None = None
    nofile: int | None = None
    network: bool


class Engine(_Model):
    engine_version: str
    defaults: EngineDefaults
    detect: EngineDetect
    writer: EngineWriter
    artifact: EngineArtifact
    sandbox: Sandbox


class Prepare(_Model):
    """How `requirements.txt` was installed (jobs.md §5.1; docs/security.md "Preparing dependencies")."""

    account: str  # the account pip ran as
    sandbox_level: Literal["strict", "standard", "basic", "reduced"]
    sandbox_missing: list[str] = Field(default_factory=list)
    network: Literal["index", "none"]  # "none": offline from ADE_WHEELHOUSE
    wheels_only: bool  # False only with ADE_PREPARE_ALLOW_SDIST


class Environment(_Sparse):
    _optional = frozenset({"prepare"})

    python_version: str
    platform: str
    dependencies: list[str] = Field(default_factory=list)
    # Omitted without requirements.txt (and for an environment prepared before this was recorded).
    prepare: Prepare | None = None


# ----------------------------------------------------------------------------- 3.6 rules
class RuleInfo(_Sparse):
    _optional = frozenset({"field", "stage"})
    impl: str
    version: str = Field(pattern=r"^[0-9a-f]{12}$")
    field: str | None = None
    stage: str | None = None


class Rules(_Model):
    row_types: dict[str, RuleInfo] = Field(default_factory=dict)
    column_detect: dict[str, RuleInfo] = Field(default_factory=dict)
    transform: dict[str, RuleInfo] = Field(default_factory=dict)
    validate_: dict[str, RuleInfo] = Field(default_factory=dict, alias="validate")
    hooks: dict[str, RuleInfo] = Field(default_factory=dict)


# ----------------------------------------------------------------------------- 3.7 sheets
class RuleTrace(_Model):
    rule: str
    label: str
    delta: float


class RowClassification(_Model):
    row_index: int = Field(ge=1)
    label: str
    role: Literal["preamble", "header", "repeated_header", "first_data", "excluded", "trailing"]
    confidence: float
    scores_by_type: dict[str, float] = Field(default_factory=dict)
    rule_traces: list[RuleTrace] = Field(default_factory=list)
    reason: str | None = None  # layout "library": why ade_engine.detect gave the line its label


class Header(_Model):
    kind: Literal["raw", "promoted", "synthetic"]
    row_index: int | None = None
    row_indexes: list[int] = Field(default_factory=list)
    source_header: list[str | None] = Field(default_factory=list)


class Column(_Model):
    column_id: str
    order: int = Field(ge=1)
    source_column: str
    source_header: str | None = None
    empty: bool = False


class RawColumn(_Model):
    column: str
    header: str | None = None


class Contributor(_Model):
    rule: str
    delta: float


class Mapping(_Model):
    raw: RawColumn
    target_field: str | None = None
    score: float
    decision: Literal["mapped", "unmapped_no_signal", "unmapped_low_confidence", "unmapped_field_taken",
                      "skipped_empty", "hook_override", "unmapped_displaced_by_hook"]
    tie_break: Literal["label", "synonym", "order", "column_position"] | None = None
    contributors: list[Contributor] = Field(default_factory=list)
    scores: dict[str, float] = Field(default_factory=dict)


class TransformStats(_Model):
    target_field: str
    transform: str
    changed: int = 0
    total: int = 0
    chunks: int = 0
    failed_chunks: int = 0
    warnings: list[str] = Field(default_factory=list)


class Issue(_Model):
    a1: str | None = None
    output_a1: str | None = None
    range: str | None = None
    row_index: int | None = None
    # artifact.md types it as str; hook issues may name no field, so null is allowed (docs/engine.md).
    target_field: str | None = None
    column: str | None = None
    code: str
    severity: Severity
    message: str
    rule: str


class FieldSummary(_Model):
    errors: int = 0
    warnings: int = 0
    infos: int = 0
    missing: int = 0
    stored: int = 0
    truncated: bool = False


class Validation(_Model):
    issues: list[Issue] = Field(default_factory=list)
    summary_by_field: dict[str, FieldSummary] = Field(default_factory=dict)


class Table(_Model):
    id: str
    index: int = Field(ge=1)
    range: str
    data_range: str | None = None
    data_row_count: int = 0
    header: Header
    columns: list[Column] = Field(default_factory=list)
    mapping: list[Mapping] = Field(default_factory=list)
    target_fields: list[str] = Field(default_factory=list)
    transforms: list[TransformStats] = Field(default_factory=list)
    validation: Validation = Field(default_factory=Validation)
    output_range: str | None = None


class Sheet(_Model):
    id: str
    name: str
    index: int = Field(ge=1)
    hidden: bool = False
    read_mode: Literal["streaming", "in_memory"] = "streaming"
    row_classification: list[RowClassification] = Field(default_factory=list)
    row_classification_truncated: bool = False
    tables: list[Table] = Field(default_factory=list)


# ----------------------------------------------------------------------------- 3.8–3.12
class TargetColumn(_Model):
    field: str
    output_header: str
    order: int
    output_column: str


class ColumnSource(_Model):
    table_id: str
    column: str


class AppendedColumn(_Model):
    output_header: str
    order: int
    output_column: str
    sources: list[ColumnSource] = Field(default_factory=list)


class ProvenanceColumn(_Model):
    output_header: str
    order: int
    output_column: str


class ColumnPlan(_Model):
    target: list[TargetColumn] = Field(default_factory=list)
    appended_unmapped: list[AppendedColumn] = Field(default_factory=list)
    provenance: list[ProvenanceColumn] = Field(default_factory=list)


class Output(_Model):
    format: Literal["xlsx"] = "xlsx"
    path: str = "normalized.xlsx"
    sheet: str
    rows_written: int = 0
    column_plan: ColumnPlan = Field(default_factory=ColumnPlan)


class Summary(_Model):
    sheets: int = 0
    tables: int = 0
    rows_written: int = 0
    columns_written: int = 0
    mapped_columns: int = 0
    unmapped_columns: int = 0
    issues_found: int = 0
    errors: int = 0
    warnings: int = 0
    infos: int = 0
    rule_errors: int = 0


class PassEntry(_Model):
    pass_: int = Field(alias="pass", ge=1, le=5)
    name: Literal["structure", "mapping", "transform", "validate", "generate"]
    started_at: str
    completed_at: str
    duration_ms: int = Field(ge=0)
    stats: dict[str, int] = Field(default_factory=dict)


class Annotation(_Sparse):
    _optional = frozenset({"notes", "data", "overrides_applied", "issues_added"})
    stage: str
    hook: str
    annotated_at: str
    notes: str | None = None
    data: dict[str, Any] | None = None
    overrides_applied: int | None = None
    issues_added: int | None = None


class FirstLocation(_Sparse):
    _optional = frozenset({"sheet_id", "table_id", "column_id", "row_index"})
    sheet_id: str | None = None
    table_id: str | None = None
    column_id: str | None = None
    row_index: int | None = None


class RuleErrorEntry(_Model):
    rule: str
    stage: str
    level: Literal["error", "warning"]
    kind: Literal["exception", "bad_return", "wrong_length", "invalid_override", "secret_in_output",
                  "score_out_of_range", "foreign_score_key", "bad_value_type", "value_truncated",
                  "control_chars_removed", "non_finite_float", "timezone_converted"]
    message: str
    count: int = Field(ge=1)
    first_location: FirstLocation = Field(default_factory=FirstLocation)


class JobWarning(_Model):
    code: str
    message: str


class JobError(_Sparse):
    _optional = frozenset({"rule"})
    code: str
    message: str
    stage: str
    rule: str | None = None


# ----------------------------------------------------------------------------- top level
class Artifact(_Model):
    """`artifact.json`: locations and decisions, never cell values or secrets."""

    schema_: Literal["ade.artifact/v1"] = Field(ARTIFACT_SCHEMA, alias="schema")
    artifact_version: str = ARTIFACT_VERSION
    job: Job
    input: Input
    config: Config
    engine: Engine
    environment: Environment
    rules: Rules = Field(default_factory=Rules)
    sheets: list[Sheet] = Field(default_factory=list)
    output: Output | None = None
    summary: Summary | None = None
    pass_history: list[PassEntry] = Field(default_factory=list)
    annotations: list[Annotation] = Field(default_factory=list)
    rule_errors: list[RuleErrorEntry] = Field(default_factory=list)
    warnings: list[JobWarning] = Field(default_factory=list)
    error: JobError | None = None


def normalize_artifact(data: dict[str, Any]) -> dict[str, Any]:
    """Validate a plain-dict artifact and return it in documented shape and key order."""
    return Artifact.model_validate(data).model_dump(mode="json", by_alias=True)


def artifact_json_schema() -> dict[str, Any]:
    """The JSON Schema of `artifact.json` (committed as docs/schemas/artifact.schema.json)."""
    schema = Artifact.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://ade.local/schemas/artifact.schema.json"
    return schema


def render_schema() -> str:
    return json.dumps(artifact_json_schema(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


if __name__ == "__main__":  # python -m ade_engine.runtime.artifact > docs/schemas/artifact.schema.json
    import sys

    sys.stdout.write(render_schema())
