"""Pydantic v2 models of `manifest.json` (config-packages.md §2, secrets.md §2).

Unknown keys are forbidden everywhere and types are strict (JSON types, no coercion), so a typo or a
quoted number is reported instead of silently accepted. Cross-field rules that need their own
diagnostic code raise `PydanticCustomError` whose *type* is that code (`columns.meta_mismatch`,
`script_api.unsupported`, `manifest.pattern`, `secrets.*`); `packages.validation` maps it back.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ade_engine.errors import ConfigInvalid

MANIFEST_SCHEMA_VERSION = "ade.manifest/v1.0"
SUPPORTED_MANIFEST_SCHEMAS = (MANIFEST_SCHEMA_VERSION,)
SUPPORTED_SCRIPT_API_VERSIONS = ("1",)

HOOK_STAGES = ("on_job_start", "after_mapping", "after_transform", "after_validate", "on_job_end")
ROW_LABELS_DEFAULT = ("header", "group_header", "data", "separator")
TYPE_HINTS = ("string", "integer", "number", "decimal", "date", "datetime", "boolean", "email", "phone")

FIELD_ID_PATTERN = r"^[a-z][a-z0-9_]*$"
COLUMN_SCRIPT_PATTERN = r"^columns/[A-Za-z0-9_.\-/]+\.py$"
HOOK_SCRIPT_PATTERN = r"^hooks/[A-Za-z0-9_.\-/]+\.py$"
SECRET_NAME_PATTERN = r"^[A-Z][A-Z0-9_]{0,63}$"
ENV_KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
ENV_RESERVED_PREFIXES = ("ADE_", "PYTHON", "LD_", "DYLD_")
SEMVER_PATTERN = (
    r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)
# One clause of a PEP 440 specifier: operator + version (with optional .* for == / !=).
_SPEC_CLAUSE = re.compile(r"^\s*(~=|===|==|!=|<=|>=|<|>)\s*[0-9]+(\.[0-9]+)*([a-zA-Z0-9.+_-]*|\.\*)\s*$")
_SHEET_FORBIDDEN = set('[]:*?/\\')


# ----------------------------------------------------------------------------- field validators
def _err(code: str, message: str) -> PydanticCustomError:
    """A custom error whose type is the diagnostic code (message is final text, braces and all)."""
    return PydanticCustomError(code, "{message}", {"message": message})


def _fmt_err(code: str, template: str, ctx: dict[str, Any]) -> PydanticCustomError:
    return _err(code, template.format(**ctx))


def _check_secret_name(value: str) -> str:
    if not re.fullmatch(SECRET_NAME_PATTERN, value):
        raise _fmt_err(
            "secrets.name",
            "secrets key {name!r} must match {pattern}",
            {"name": value, "pattern": SECRET_NAME_PATTERN},
        )
    return value


def _reject_secret_values(value: Any) -> Any:
    """A secrets *object* (or list of objects) means values were put in the manifest."""
    if isinstance(value, dict):
        names = ", ".join(str(k) for k in value) or "(none)"
        raise _fmt_err(
            "secrets.value_in_manifest",
            "secrets must be a list of names; a value for {names} was found in manifest.json",
            {"names": names},
        )
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                name = item.get("name") or next(iter(item), "?")
                raise _fmt_err(
                    "secrets.value_in_manifest",
                    "secrets must be a list of names; a value for {names} was found in manifest.json",
                    {"names": str(name)},
                )
    return value


def _check_env_key(value: str) -> str:
    if not re.fullmatch(ENV_KEY_PATTERN, value):
        raise _fmt_err(
            "env.key", "key {key!r} must match {pattern}", {"key": value, "pattern": ENV_KEY_PATTERN}
        )
    for prefix in ENV_RESERVED_PREFIXES:
        if value.upper().startswith(prefix):
            raise _fmt_err(
                "env.key", "keys starting with {prefix} are not allowed", {"prefix": prefix}
            )
    return value


def _check_pattern(value: str | None) -> str | None:
    if value is None:
        return value
    try:
        re.compile(value)
    except re.error as exc:
        raise _err("manifest.pattern", str(exc)) from None
    return value


def _check_sheet_name(value: str) -> str:
    bad = sorted(set(value) & _SHEET_FORBIDDEN)
    if bad:
        raise _fmt_err(
            "manifest.pattern",
            "{name!r} is not a legal Excel sheet name (it contains {chars})",
            {"name": value, "chars": " ".join(bad)},
        )
    if value.startswith("'") or value.endswith("'"):
        raise _fmt_err(
            "manifest.pattern",
            "{name!r} is not a legal Excel sheet name (it starts or ends with an apostrophe)",
            {"name": value},
        )
    if value.strip().lower() == "history":
        raise _err("manifest.pattern", "'History' is a sheet name reserved by Excel")
    if any(ord(ch) < 32 for ch in value):
        raise _fmt_err(
            "manifest.pattern",
            "{name!r} is not a legal Excel sheet name (it contains control characters)",
            {"name": value},
        )
    return value


def _check_specifier(value: str | None) -> str | None:
    if value is None:
        return value
    clauses = value.split(",")
    if not value.strip() or any(not _SPEC_CLAUSE.match(c) for c in clauses):
        raise _fmt_err(
            "manifest.schema",
            "{value!r} is not a version specifier (e.g. \">=1.0,<2.0\")",
            {"value": value},
        )
    return value


def _check_semver(value: str) -> str:
    if not re.fullmatch(SEMVER_PATTERN, value):
        raise _fmt_err(
            "manifest.schema",
            "{value!r} is not a semantic version (e.g. 1.4.0 or 2.0.0-rc.1)",
            {"value": value},
        )
    return value


SecretName = Annotated[
    str,
    AfterValidator(_check_secret_name),
    WithJsonSchema({"type": "string", "pattern": SECRET_NAME_PATTERN}),
]
SecretNames = Annotated[list[SecretName], BeforeValidator(_reject_secret_values)]
EnvKey = Annotated[
    str,
    AfterValidator(_check_env_key),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": ENV_KEY_PATTERN,
            "description": "Must not start with " + ", ".join(ENV_RESERVED_PREFIXES),
        }
    ),
]
FieldId = Annotated[str, Field(pattern=FIELD_ID_PATTERN)]
Score = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


# ----------------------------------------------------------------------------- sections
class Info(_Model):
    schema_: str = Field(alias="schema", description=f'Manifest format; must be "{MANIFEST_SCHEMA_VERSION}".')
    title: str = Field(min_length=1, max_length=255)
    version: Annotated[
        str, AfterValidator(_check_semver), WithJsonSchema({"type": "string", "pattern": SEMVER_PATTERN})
    ]
    description: str | None = Field(default=None, max_length=2000)
    requires_engine: Annotated[
        str | None,
        AfterValidator(_check_specifier),
        WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "null"}]}),
    ] = None

    @field_validator("schema_")
    @classmethod
    def _supported_schema(cls, value: str) -> str:
        if value not in SUPPORTED_MANIFEST_SCHEMAS:
            raise _fmt_err(
                "script_api.unsupported",
                "Unsupported info.schema {value!r} (supported: {supported})",
                {"value": value, "supported": ", ".join(repr(s) for s in SUPPORTED_MANIFEST_SCHEMAS)},
            )
        return value


class EngineDefaults(_Model):
    timeout_ms: int = Field(default=120000, ge=1000)
    memory_mb: int = Field(default=512, ge=64)
    runtime_network_access: bool = False
    mapping_score_threshold: Score = 0.0
    strict_rules: bool = False


class EngineDetect(_Model):
    row_sample_size: int = Field(default=256, ge=1, le=16384)
    column_sample_size: int = Field(default=50, ge=1, le=10000)
    row_label_threshold: Score = 0.0
    row_label_order: list[str] = Field(default_factory=lambda: list(ROW_LABELS_DEFAULT))
    max_header_rows: int = Field(default=3, ge=1, le=5)
    # "rows": the row detectors' labels drive the scanner; "library": ade_engine.detect segments the sheet
    # and the row detectors add evidence (docs/writing-detectors.md).
    layout: Literal["rows", "library"] = "rows"


class EngineWriter(_Model):
    mode: Literal["row_streaming", "in_memory"] = "row_streaming"
    chunk_rows: int = Field(default=10000, ge=100, le=1_000_000)
    append_unmapped_columns: bool = True
    unmapped_prefix: str = Field(default="raw_", min_length=1)
    output_sheet: Annotated[str, Field(min_length=1, max_length=31), AfterValidator(_check_sheet_name)] = (
        "Normalized"
    )
    provenance_columns: bool = False


class EngineArtifact(_Model):
    max_issues_per_field: int = Field(default=1000, ge=0)


def _check_encoding(value: str | None) -> str | None:
    if value is None:
        return None
    import codecs

    try:
        info = codecs.lookup(value)
    except LookupError:
        raise _fmt_err("manifest.schema", "unknown text encoding {value!r} (e.g. utf-8, windows-1252, shift_jis)",
                       {"value": value}) from None
    if not getattr(info, "_is_text_encoding", True):
        raise _fmt_err("manifest.schema", "{value!r} is not a text encoding (e.g. utf-8, windows-1252, shift_jis)",
                       {"value": value})
    return value


class EngineInput(_Model):
    encoding: Annotated[str | None, AfterValidator(_check_encoding)] = Field(
        default=None, max_length=64,
        description="Text encoding of CSV/TSV inputs (e.g. windows-1252, shift_jis); null = detect it. "
                    "An --encoding given for a run wins.")


class Engine(_Model):
    defaults: EngineDefaults = Field(default_factory=EngineDefaults)
    input: EngineInput = Field(default_factory=EngineInput)
    detect: EngineDetect = Field(default_factory=EngineDetect)
    writer: EngineWriter = Field(default_factory=EngineWriter)
    artifact: EngineArtifact = Field(default_factory=EngineArtifact)


class HookEntry(_Model):
    script: str = Field(pattern=HOOK_SCRIPT_PATTERN)
    enabled: bool = True
    secrets: SecretNames = Field(default_factory=list)


class Hooks(_Model):
    on_job_start: list[HookEntry] = Field(default_factory=list)
    after_mapping: list[HookEntry] = Field(default_factory=list)
    after_transform: list[HookEntry] = Field(default_factory=list)
    after_validate: list[HookEntry] = Field(default_factory=list)
    on_job_end: list[HookEntry] = Field(default_factory=list)

    def entries(self) -> list[tuple[str, int, HookEntry]]:
        """(stage, index, entry) for every hook entry, in stage order."""
        return [(stage, i, e) for stage in HOOK_STAGES for i, e in enumerate(getattr(self, stage))]


class FieldMeta(_Model):
    label: str = Field(min_length=1, max_length=255)
    script: str = Field(pattern=COLUMN_SCRIPT_PATTERN)
    required: bool = False
    enabled: bool = True
    synonyms: list[str] = Field(default_factory=list)
    type_hint: str | None = Field(default=None, max_length=64, description="Advisory: " + ", ".join(TYPE_HINTS))
    pattern: Annotated[str | None, AfterValidator(_check_pattern)] = None
    secrets: SecretNames = Field(default_factory=list)


class Columns(_Model):
    order: list[FieldId] = Field(min_length=1)
    meta: dict[FieldId, FieldMeta]

    @model_validator(mode="after")
    def _meta_matches_order(self) -> Columns:
        dupes = sorted({f for f in self.order if self.order.count(f) > 1})
        if dupes:
            raise _fmt_err(
                "columns.meta_mismatch",
                "columns.order lists {fields} more than once",
                {"fields": ", ".join(dupes)},
            )
        missing = [f for f in self.order if f not in self.meta]
        if missing:
            raise _fmt_err(
                "columns.meta_mismatch",
                "columns.meta is missing entries for: {fields}",
                {"fields": ", ".join(missing)},
            )
        extra = [f for f in self.meta if f not in self.order]
        if extra:
            raise _fmt_err(
                "columns.meta_mismatch",
                "columns.meta has entries not listed in columns.order: {fields}",
                {"fields": ", ".join(extra)},
            )
        return self


class Manifest(_Model):
    """The whole `manifest.json`. `to_runtime_dict()` is what the runtime and scripts see."""

    config_script_api_version: str
    info: Info
    engine: Engine = Field(default_factory=Engine)
    env: dict[EnvKey, str] = Field(default_factory=dict)
    secrets: Annotated[SecretNames, Field(json_schema_extra={"uniqueItems": True})] = Field(default_factory=list)
    hooks: Hooks = Field(default_factory=Hooks)
    columns: Columns

    @field_validator("config_script_api_version")
    @classmethod
    def _supported_api(cls, value: str) -> str:
        if value not in SUPPORTED_SCRIPT_API_VERSIONS:
            raise _fmt_err(
                "script_api.unsupported",
                "Unsupported config_script_api_version {value!r} (supported: {supported})",
                {"value": value, "supported": ", ".join(repr(s) for s in SUPPORTED_SCRIPT_API_VERSIONS)},
            )
        return value

    @field_validator("secrets")
    @classmethod
    def _unique_secrets(cls, value: list[str]) -> list[str]:
        dupes = sorted({n for n in value if value.count(n) > 1})
        if dupes:
            raise _fmt_err(
                "manifest.schema", "{names} listed more than once", {"names": ", ".join(dupes)}
            )
        return value

    @model_validator(mode="after")
    def _requests_declared(self) -> Manifest:
        declared = set(self.secrets)
        for stage, i, entry in self.hooks.entries():
            for name in entry.secrets:
                if name not in declared:
                    raise _undeclared(f"hooks.{stage}[{i}].secrets", name)
        for field_id, meta in self.columns.meta.items():
            for name in meta.secrets:
                if name not in declared:
                    raise _undeclared(f"columns.meta.{field_id}.secrets", name)
        return self

    def to_runtime_dict(self) -> dict[str, Any]:
        """The fully defaulted plain-JSON manifest (every key present, `info.schema` under its alias)."""
        return self.model_dump(mode="json", by_alias=True)

    def requested_secrets(self) -> set[str]:
        """Names requested by enabled hook entries and enabled fields (secrets.md §5)."""
        names: set[str] = set()
        for _stage, _i, entry in self.hooks.entries():
            if entry.enabled:
                names.update(entry.secrets)
        for meta in self.columns.meta.values():
            if meta.enabled:
                names.update(meta.secrets)
        return names


def _undeclared(where: str, name: str) -> PydanticCustomError:
    return _fmt_err(
        "secrets.undeclared",
        "{where}: {name!r} is not declared in manifest.secrets",
        {"where": where, "name": name},
    )


# ----------------------------------------------------------------------------- loading
def format_location(loc: tuple[Any, ...]) -> str:
    """('columns', 'meta', 'sku', 'script') -> 'columns.meta.sku.script'; list indexes as [i]."""
    out = ""
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def describe_error(err: dict[str, Any]) -> tuple[str, str]:
    """One pydantic error -> (dotted location, readable message without the location)."""
    loc = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    if kind == "missing" and loc:
        return format_location(loc[:-1]), f"{loc[-1]!r} is a required property"
    if kind == "extra_forbidden" and loc:
        return format_location(loc[:-1]), f"unknown key {loc[-1]!r} (not allowed here; check the spelling)"
    return format_location(loc), str(err.get("msg", "invalid value"))


def validation_messages(exc: ValidationError) -> list[tuple[str, str, str]]:
    """[(code, location, message)] for every error of a manifest ValidationError."""
    out = []
    for err in exc.errors(include_url=False):
        kind = str(err.get("type", ""))
        code = kind if kind.startswith(("secrets.", "script_api.", "columns.", "manifest.")) else "manifest.schema"
        where, message = describe_error(err)
        if kind in ("secrets.undeclared", "columns.meta_mismatch"):  # the message names the place
            where = ""
        out.append((code, where, message))
    return out


def parse_manifest(text: str) -> Manifest:
    """Parse manifest.json text; raises `ConfigInvalid` naming every problem."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigInvalid(
            f"manifest.json line {exc.lineno}: {exc.msg}",
            code="manifest.invalid_json",
            details={"line": exc.lineno, "column": exc.colno},
        ) from None
    return manifest_from_data(data)


def manifest_from_data(data: Any) -> Manifest:
    """Validate already-decoded JSON; raises `ConfigInvalid`."""
    if not isinstance(data, dict):
        raise ConfigInvalid("manifest.json must hold a JSON object", code="manifest.schema")
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        problems = validation_messages(exc)
        lines = [f"{where}: {msg}" if where else msg for _code, where, msg in problems]
        code = problems[0][0] if len(problems) == 1 else "manifest.schema"
        raise ConfigInvalid(
            "manifest.json is invalid: " + "; ".join(lines),
            code=code,
            details={"problems": [{"code": c, "path": w, "message": m} for c, w, m in problems]},
        ) from None


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate a manifest file (or a package folder holding `manifest.json`)."""
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.json"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigInvalid(
            f"{path} not found; a config package needs a manifest.json at its root", code="manifest.missing"
        ) from None
    except OSError as exc:
        raise ConfigInvalid(f"cannot read {path}: {exc.strerror}", code="manifest.unreadable") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigInvalid(
            f"{path} is not UTF-8 (byte {exc.start}); save it as UTF-8", code="manifest.invalid_json"
        ) from None
    return parse_manifest(text)
