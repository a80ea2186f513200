"""Safe import and deterministic export of config packages as zip files (or folders).

Export is reproducible: entries sorted by path, no directory entries, a fixed timestamp (1980-01-01),
fixed permissions (0644), fixed compression — so exporting the same files twice gives the same bytes,
and import → export of an exported zip gives the zip back byte for byte.

Import refuses anything that could escape or exhaust the destination: absolute paths, `..`, backslashes,
drive letters, symlinks (and other special files), duplicate names, encrypted members, members or totals
over the size limits, suspicious compression ratios, too many files. The destination is written only
when every check passed (a temp dir renamed into place by the caller).
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ade_engine.errors import AdeError
from ade_engine.packages import layout
from ade_engine.packages.layout import is_ignored

FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ArchiveLimits:
    """Package limits of config-packages.md §1 plus zip-bomb guards."""

    max_files: int = 500
    max_total_bytes: int = 10 * 1024 * 1024
    max_member_bytes: int = 10 * 1024 * 1024
    max_ratio: float = 100.0  # uncompressed / compressed, per member (only checked above 64 KiB)


DEFAULT_LIMITS = ArchiveLimits()


class UnsafeArchive(AdeError):
    code = "archive_unsafe"


def _unsafe(source: str | Path, member: str, reason: str, hint: str) -> UnsafeArchive:
    return UnsafeArchive(
        f"refused to import {Path(source).name}: {reason} ('{member}'); {hint}",
        details={"source": str(source), "member": member, "reason": reason},
    )


def safe_relpath(name: str) -> str | None:
    """Normalize a member/relative path; None when it is unsafe (absolute, `..`, drive, backslash, empty)."""
    if not name or "\\" in name or "\x00" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        return None
    return "/".join(parts)


# ---------------------------------------------------------------------------------------------- export


def package_entries(pkg_dir: Path) -> list[tuple[str, Path]]:
    """(relative POSIX path, absolute path) of every package file, sorted (layout rules: ignored files out,
    symlinks and special files refused)."""
    return [(f.rel_path, f.path) for f in layout.iter_package_files(pkg_dir)]


def write_zip(entries: Iterable[tuple[str, bytes]], dest: BinaryIO) -> None:
    """Write a deterministic zip of (path, bytes) entries to an open binary file."""
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for rel, data in sorted(entries):
            info = zipfile.ZipInfo(rel, date_time=FIXED_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so external_attr carries the mode
            info.external_attr = (stat.S_IFREG | FILE_MODE) << 16
            zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)


def zip_package_bytes(pkg_dir: Path) -> bytes:
    buf = io.BytesIO()
    write_zip(((rel, path.read_bytes()) for rel, path in package_entries(pkg_dir)), buf)
    return buf.getvalue()


def export_zip(pkg_dir: Path, dest: Path) -> Path:
    """Write `pkg_dir` as a deterministic zip at `dest` (atomically: temp file, then rename)."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(zip_package_bytes(pkg_dir))
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


# ---------------------------------------------------------------------------------------------- import


def _strip_single_root(names: list[str]) -> str:
    """A zip made by zipping a folder has every entry under `<folder>/`; return that prefix (or '')."""
    if "manifest.json" in names:
        return ""
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) == 1 and all("/" in n for n in names):
        top = tops.pop()
        if f"{top}/manifest.json" in names:
            return top + "/"
    return ""


def extract_zip(source: Path, dest: Path, limits: ArchiveLimits = DEFAULT_LIMITS) -> list[str]:
    """Check every member of the zip at `source`, then extract into the empty/new dir `dest`.

    Returns the extracted relative paths. Raises `UnsafeArchive` (code `archive_unsafe`) naming the
    member and the reason, or `AdeError` (`archive_invalid`) when the file is not a zip.
    """
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise AdeError(
            f"cannot read {source}: not a zip archive ({exc}); export packages with 'ade config export'",
            code="archive_invalid",
            details={"source": str(source)},
        ) from None
    with zf:
        plan: list[tuple[zipfile.ZipInfo, str]] = []
        seen: set[str] = set()
        total = 0
        for info in zf.infolist():
            rel = safe_relpath(info.filename.rstrip("/") if info.is_dir() else info.filename)
            if rel is None:
                reason = "absolute path" if info.filename.startswith("/") or info.filename[1:2] == ":" else (
                    "path traversal" if ".." in info.filename.replace("\\", "/").split("/") else "unsafe path"
                )
                raise _unsafe(source, info.filename, reason, "members must be relative paths inside the package")
            mode = info.external_attr >> 16
            if info.create_system == 3 and mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
                kind = "symlink" if stat.S_ISLNK(mode) else "special file"
                raise _unsafe(source, info.filename, kind, "packages may contain regular files only")
            if info.flag_bits & 0x1:
                raise _unsafe(source, info.filename, "encrypted member", "export the package without a password")
            if info.is_dir():
                continue
            if is_ignored(rel):
                continue
            key = rel.casefold()
            if key in seen:
                raise _unsafe(source, info.filename, "duplicate member", "each path may appear once")
            seen.add(key)
            if info.file_size > limits.max_member_bytes:
                raise _unsafe(
                    source, info.filename, f"member too large ({info.file_size} bytes, limit {limits.max_member_bytes})",
                    "packages hold small scripts; keep data files out",
                )
            if info.file_size > 65536 and info.file_size > limits.max_ratio * max(info.compress_size, 1):
                raise _unsafe(
                    source, info.filename,
                    f"over-compressed member (ratio {info.file_size / max(info.compress_size, 1):.0f}, "
                    f"limit {limits.max_ratio:.0f})",
                    "this looks like a zip bomb",
                )
            total += info.file_size
            if total > limits.max_total_bytes:
                raise _unsafe(
                    source, info.filename, f"package too large (over {limits.max_total_bytes} bytes)",
                    "packages are limited to 10 MiB",
                )
            plan.append((info, rel))
            if len(plan) > limits.max_files:
                raise _unsafe(
                    source, info.filename, f"too many files (limit {limits.max_files})",
                    "packages are limited to 500 files",
                )
        prefix = _strip_single_root([rel for _, rel in plan])
        dest.mkdir(parents=True, exist_ok=True)
        written: list[str] = []
        for info, rel in plan:
            if prefix:
                rel = rel[len(prefix):]
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            size = 0
            # Never trust the header: count real bytes while inflating.
            try:
                with zf.open(info) as src, open(target, "xb") as out:
                    while chunk := src.read(_CHUNK):
                        size += len(chunk)
                        if size > info.file_size or size > limits.max_member_bytes:
                            raise _unsafe(source, info.filename, "member larger than declared",
                                          "the archive is corrupt or crafted")
                        out.write(chunk)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
                raise AdeError(
                    f"cannot import {Path(source).name}: member '{info.filename}' is corrupt or uses an unsupported "
                    f"compression ({exc}); re-create the zip",
                    code="archive_invalid",
                    details={"source": str(source), "member": info.filename},
                ) from None
            os.chmod(target, FILE_MODE)
            written.append(rel)
        return sorted(written)


def copy_folder(source: Path, dest: Path, limits: ArchiveLimits = DEFAULT_LIMITS) -> list[str]:
    """Copy a package folder into `dest` with the same refusals as a zip import (symlinks, limits)."""
    if not source.is_dir():
        raise AdeError(f"{source} is not a folder", code="not_found", details={"source": str(source)})
    scan = layout.scan_package(source)
    if scan.symlinks or scan.special:
        member = (scan.symlinks + scan.special)[0]
        kind = "symlink" if scan.symlinks else "special file"
        raise _unsafe(source, member, kind, "packages may contain regular files only")
    files = [(f.rel_path, f.path) for f in scan.files]
    if len(files) > limits.max_files:
        raise _unsafe(source, files[limits.max_files][0], f"too many files (limit {limits.max_files})",
                      "packages are limited to 500 files")
    total = 0
    for rel, path in files:
        size = path.stat().st_size
        if size > limits.max_member_bytes:
            raise _unsafe(source, rel, f"file too large ({size} bytes)", "keep data files out of packages")
        total += size
        if total > limits.max_total_bytes:
            raise _unsafe(source, rel, f"package too large (over {limits.max_total_bytes} bytes)",
                          "packages are limited to 10 MiB")
    dest.mkdir(parents=True, exist_ok=True)
    for rel, path in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        os.chmod(target, FILE_MODE)
    return [rel for rel, _ in files]


def import_into(source: Path, dest: Path, limits: ArchiveLimits = DEFAULT_LIMITS) -> list[str]:
    """Import a zip file or a folder into the new directory `dest`."""
    source = Path(source)
    if source.is_dir():
        return copy_folder(source, dest, limits)
    if not source.exists():
        raise AdeError(f"{source} does not exist; give a package folder or a .zip", code="not_found",
                       details={"source": str(source)})
    return extract_zip(source, dest, limits)
