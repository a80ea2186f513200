"""Build a job directory (jobs.md §4): `inputs/01_<safe-name>`, `config/`, `tmp/`, `logs/`, `run-request.json`.

Parent-side only. The job process later finds everything it needs inside this folder.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from pathlib import Path
from typing import Any

from ade_engine.errors import AdeError
from ade_engine.runtime.atomic import save_json_atomic

RUN_REQUEST_SCHEMA = "ade.run_request/v1"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
# Keys of the stdin document that must never reach a file.
_SECRET_KEYS = ("secrets",)
_IGNORED_DIRS = {"__pycache__"}
_IGNORED_SUFFIXES = (".pyc",)


def safe_name(original_name: str, index: int = 1) -> str:
    """`01_<name>`: keep `[A-Za-z0-9._-]`, replace the rest with `_`, strip leading dots (jobs.md §4)."""
    base = Path(original_name.replace("\\", "/")).name or "input"
    cleaned = _UNSAFE.sub("_", base).lstrip(".") or "input"
    return f"{index:02d}_{cleaned}"


def _read_only(path: Path) -> None:
    mode = path.stat().st_mode
    path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def stage_input(job_dir: Path, input_path: Path, original_name: str) -> Path:
    """Place a read-only copy of the input in `inputs/` (a hard link where the filesystem allows)."""
    inputs = job_dir / "inputs"
    inputs.mkdir(mode=0o700, exist_ok=True)
    target = inputs / safe_name(original_name)
    if target.exists():
        target.chmod(0o600)
        target.unlink()
    try:
        os.link(input_path, target)
        # A hard link shares the inode: making it read-only would change the user's own file's mode,
        # so a link is kept only when the source is read-only already; otherwise we copy.
        if target.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
            target.unlink()
            raise OSError("source is writable")
    except OSError:
        shutil.copyfile(input_path, target)
        _read_only(target)
    return target


def stage_config(job_dir: Path, config_dir: Path) -> Path:
    """Copy the package into `config/` with read-only files; `__pycache__/` and `*.pyc` are left out."""
    target = job_dir / "config"
    if target.exists():
        _make_writable(target)
        shutil.rmtree(target)

    def ignore(_dir: str, names: list[str]) -> set[str]:
        return {n for n in names if n in _IGNORED_DIRS or n.endswith(_IGNORED_SUFFIXES)}

    shutil.copytree(config_dir, target, ignore=ignore, symlinks=False)
    for root, _dirs, files in os.walk(target):
        for name in files:
            _read_only(Path(root) / name)
    return target


def _make_writable(path: Path) -> None:
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            p = Path(root) / name
            if not p.is_symlink():
                p.chmod(p.stat().st_mode | stat.S_IWUSR)


def stage_job_dir(job_dir: str | Path, *, input_path: str | Path, original_name: str, config_dir: str | Path) -> Path:
    """Create the job directory layout of jobs.md §4 and return the staged input path."""
    job_dir = Path(job_dir)
    input_path = Path(input_path)
    config_dir = Path(config_dir)
    if not input_path.is_file():
        raise AdeError(f"cannot stage {input_path}: not a file", code="input_unreadable")
    if not (config_dir / "manifest.json").is_file():
        raise AdeError(f"cannot stage {config_dir}: no manifest.json there", code="config_invalid")
    job_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    staged = stage_input(job_dir, input_path, original_name)
    stage_config(job_dir, config_dir)
    (job_dir / "tmp").mkdir(mode=0o700, exist_ok=True)
    (job_dir / "logs").mkdir(mode=0o700, exist_ok=True)
    return staged


def write_run_request(job_dir: str | Path, request: dict[str, Any]) -> Path:
    """Write `run-request.json` atomically. Secret values are never written (only `secrets_requested` names)."""
    data = {k: v for k, v in request.items() if k not in _SECRET_KEYS}
    data.setdefault("schema", RUN_REQUEST_SCHEMA)
    path = Path(job_dir) / "run-request.json"
    save_json_atomic(path, data)
    return path
