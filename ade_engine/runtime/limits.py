"""What a job that hit one of its resource limits is told (runs inside the job process).

Every message names the limit, its value for this job and the setting that changes it; a file-size message
also names the file that reached the limit, found where it lies (the job dir, or an open descriptor for a
file already unlinked). `runtime` does not read settings: the setting names are written out here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
MEMORY_SETTING = "memory_mb"  # manifest engine.defaults; the operator cap is ADE_WORKER_MEM_MB
MEMORY_CAP_SETTING = "ADE_WORKER_MEM_MB"
CPU_SETTING = "ADE_WORKER_CPU_SECONDS"
FSIZE_SETTING = "ADE_WORKER_FSIZE_MB"
# Folders of the job dir that the job reads but never writes: a big input there is not the file at the limit.
_NOT_WRITTEN = ("inputs", "config", "vendor")
_WALK_MAX_ENTRIES = 5000


def memory_message(limits: Mapping[str, Any]) -> str:
    mb = limits.get("memory_mb")
    size = f"{mb} MiB" if mb else "its"
    return (f"the job process ran out of memory (address-space limit {size}); lower writer.chunk_rows, use "
            f"row_streaming, or raise {MEMORY_SETTING} in the manifest's engine.defaults (the operator's cap "
            f"is {MEMORY_CAP_SETTING})")


def cpu_message(limits: Mapping[str, Any]) -> str:
    seconds = limits.get("cpu_seconds")
    return (f"the job used its CPU-time limit of {seconds} s; look for slow detectors (row detectors run on "
            f"every row) or raise {CPU_SETTING}")


def _describe(rel: str) -> str:
    if rel.startswith("tmp/"):
        return "a scratch file in tmp/ (the output writer keeps the uncompressed sheet there)"
    if rel in ("normalized.xlsx", "normalized.xlsx.partial"):
        return "the output workbook"
    return "a file the job wrote"


def _relative(path: str, job_dir: Path) -> str:
    path = path.removesuffix(" (deleted)")
    try:
        return Path(path).resolve().relative_to(job_dir.resolve()).as_posix()
    except (ValueError, OSError):
        return path


def files_at_limit(job_dir: Path, limit_bytes: int) -> list[str]:
    """Files the job wrote that have reached `limit_bytes`: open descriptors first, then the job dir."""
    found: list[str] = []
    fd_dir = Path("/proc/self/fd")
    try:
        fds = list(os.scandir(fd_dir))
    except OSError:
        fds = []
    for entry in fds:
        try:
            if os.stat(entry.path).st_size >= limit_bytes:
                rel = _relative(os.readlink(entry.path), job_dir)
                if rel not in found and not rel.startswith(_NOT_WRITTEN):
                    found.append(rel)
        except OSError:
            continue
    seen = 0
    for root, dirs, files in os.walk(job_dir):
        if Path(root) == job_dir:
            dirs[:] = [d for d in dirs if d not in _NOT_WRITTEN]
        for name in files:
            seen += 1
            if seen > _WALK_MAX_ENTRIES:
                return found
            path = os.path.join(root, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if st.st_size >= limit_bytes:
                rel = _relative(path, job_dir)
                if rel not in found:
                    found.append(rel)
    return found


def file_size_message(job_dir: Path, limits: Mapping[str, Any], exc: BaseException | None = None) -> str:
    """`file_size_limit`: which file reached which limit, and the setting that raises it."""
    mb = limits.get("fsize_mb")
    names: list[str] = []
    filename = getattr(exc, "filename", None)
    if filename:
        names.append(_relative(os.fspath(filename), job_dir))
    if mb:
        names += [n for n in files_at_limit(job_dir, int(mb) * MIB) if n not in names]
    if names:
        what = f"{names[0]} ({_describe(names[0])})"
    else:
        what = "a file written by the job"
    limit = f"{mb} MiB" if mb else "the file size limit"
    basis = limits.get("fsize_basis")
    why = f" ({basis})" if basis else ""
    return (f"{what} reached this job's file size limit of {limit}{why}; raise {FSIZE_SETTING} above the size "
            f"this job needs, or split the input")
