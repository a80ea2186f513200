"""Package validation (config-packages.md §6): static checks, then sandboxed dynamic probes.

`Diagnostic(path, level, code, message, hint, line)` is the one result shape; `validate_static`
and `validate_dynamic` never raise for a bad package. Codes are listed in docs/validation.md.
"""

from __future__ import annotations

from pathlib import Path

from ade_engine.packages.dynamic_checks import validate_dynamic
from ade_engine.packages.static_checks import Diagnostic, validate_static

__all__ = ["Diagnostic", "validate", "validate_dynamic", "validate_static", "has_errors"]


def has_errors(diagnostics: list[Diagnostic]) -> bool:
    return any(d.level == "error" for d in diagnostics)


def validate(pkg_dir: str | Path, dynamic: bool = True, *, vendor_dir: str | Path | None = None) -> list[Diagnostic]:
    """Static checks, then the dynamic probes only when static found no error."""
    found = validate_static(pkg_dir, vendor_dir=vendor_dir)
    if dynamic and not has_errors(found):
        found += validate_dynamic(pkg_dir, vendor_dir=vendor_dir)
    return found
