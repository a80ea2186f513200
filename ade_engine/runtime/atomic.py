"""Atomic JSON files (artifact.json, result.json): write a temp file, fsync, rename.

A module of its own, without pydantic, so that the parent process can finalize a job's files without
loading the artifact models."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def save_json_atomic(path: str | os.PathLike[str], obj: Any, *, pretty: bool = True) -> None:
    """Write `obj` as UTF-8 JSON next to `path` (`<name>.tmp`), fsync, then rename over `path`.

    `pretty=False` writes it on one line: the standard library encodes that in C, several times faster than
    the indented form (pure Python), which is what the job's intermediate artifact saves use."""
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    text = json.dumps(obj, ensure_ascii=False, indent=2 if pretty else None, allow_nan=False)
    data = text.encode("utf-8") + b"\n"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)
    try:  # make the rename itself durable
        dfd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
