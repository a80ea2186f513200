"""`info.requires_engine` (config-packages.md §2.1): does an engine version satisfy a package's specifier?

One answer for every place that enforces it: static validation (publish, `ade run`, submit), activation, and
the worker's claim. Specifiers follow PEP 440 (`packaging.specifiers`); pre-releases of the engine count.
"""

from __future__ import annotations

from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from ade_engine import ENGINE_VERSION

CODE = "engine_unsupported"  # the AdeError / job error code; validation reports `manifest.requires_engine`


def current_engine_version() -> str:
    """The running engine's version (read at call time, so a test can stand in another engine)."""
    return ENGINE_VERSION


def parse(spec: str) -> SpecifierSet | None:
    """The specifier set, or None when `spec` is not a PEP 440 specifier."""
    try:
        return SpecifierSet(spec)
    except InvalidSpecifier:
        return None


def satisfies(spec: str | None, engine_version: str | None = None) -> bool:
    """True when there is no requirement or `engine_version` (default: this engine) meets it.
    An unreadable specifier or engine version never satisfies."""
    if spec is None or not str(spec).strip():
        return True
    parsed = parse(str(spec))
    if parsed is None:
        return False
    try:
        version = Version(engine_version or current_engine_version())
    except InvalidVersion:
        return False
    return parsed.contains(version, prereleases=True)


def requirement_of(manifest: dict[str, Any] | None) -> str | None:
    """`info.requires_engine` of a manifest dict (None when absent or the manifest is not readable)."""
    info = manifest.get("info") if isinstance(manifest, dict) else None
    spec = info.get("requires_engine") if isinstance(info, dict) else None
    return spec if isinstance(spec, str) and spec.strip() else None


def problem(spec: str | None, engine_version: str | None = None) -> str | None:
    """What is wrong (one sentence, no location), or None when `spec` is met."""
    if spec is None or satisfies(spec, engine_version):
        return None
    engine = engine_version or current_engine_version()
    if parse(spec) is None:
        return f"info.requires_engine {spec!r} is not a version specifier (e.g. \">=1.0,<2.0\")"
    return f"info.requires_engine {spec!r} is not satisfied by this engine (ADE engine {engine})"


HINT = ("run it on an ADE engine that satisfies the requirement, or change info.requires_engine in manifest.json "
        "(in a new draft) if the package works on this engine")
