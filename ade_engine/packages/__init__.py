"""Config packages: layout and identity (`layout`), validation (`validation`), templates (`init_package`)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from ade_engine.errors import ConfigInvalid, Conflict, NotFound

TEMPLATES_DIR = Path(__file__).with_name("templates")
DEFAULT_TEMPLATE = "default"

__all__ = ["DEFAULT_TEMPLATE", "TEMPLATES_DIR", "init_package", "list_templates"]


def list_templates() -> list[str]:
    """Names of the bundled template packages."""
    return sorted(p.name for p in TEMPLATES_DIR.iterdir() if (p / "manifest.json").is_file())


def init_package(dest: str | Path, template: str = DEFAULT_TEMPLATE, title: str | None = None) -> Path:
    """Create a new config package at `dest` from a bundled template; `dest` must be absent or empty.

    Raises `NotFound` for an unknown template, `Conflict` when `dest` is not empty. The package
    appears all at once (built in a sibling temp folder, then renamed into place).
    """
    dest = Path(dest)
    available = list_templates()
    if template not in available:
        raise NotFound(
            f"unknown template {template!r}; available templates: {', '.join(available)}",
            code="template.unknown",
            details={"available": available},
        )
    if title is not None and not 1 <= len(title.strip()) <= 255:
        raise ConfigInvalid("the package title must be 1 to 255 characters", code="manifest.schema")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise Conflict(
            f"{dest} already exists and is not an empty folder; choose a new folder for the package",
            code="package.dest_not_empty",
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        shutil.copytree(TEMPLATES_DIR / template, staging, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        manifest_path = staging / "manifest.json"
        data = json.loads(manifest_path.read_text(encoding="utf-8"))
        data["info"]["title"] = title.strip() if title else dest.name or data["info"]["title"]
        manifest_path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.chmod(staging, 0o755)
        os.replace(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dest
