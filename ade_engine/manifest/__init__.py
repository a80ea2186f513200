"""The `manifest.json` models (config-packages.md §2): parse, validate, fill defaults."""

from ade_engine.manifest.models import (
    HOOK_STAGES,
    MANIFEST_SCHEMA_VERSION,
    SUPPORTED_MANIFEST_SCHEMAS,
    SUPPORTED_SCRIPT_API_VERSIONS,
    Columns,
    Engine,
    FieldMeta,
    HookEntry,
    Hooks,
    Info,
    Manifest,
    load_manifest,
    manifest_from_data,
    parse_manifest,
)

__all__ = [
    "HOOK_STAGES",
    "MANIFEST_SCHEMA_VERSION",
    "SUPPORTED_MANIFEST_SCHEMAS",
    "SUPPORTED_SCRIPT_API_VERSIONS",
    "Columns",
    "Engine",
    "FieldMeta",
    "HookEntry",
    "Hooks",
    "Info",
    "Manifest",
    "load_manifest",
    "manifest_from_data",
    "parse_manifest",
]
