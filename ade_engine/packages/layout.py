"""Walk a config package folder and compute its identity (config-packages.md §1).

`__pycache__/` directories and `*.pyc` files are ignored everywhere. Paths are POSIX-style and
relative to the package root, so hashes are the same on every platform.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ade_engine import ENGINE_VERSION
from ade_engine.errors import ConfigInvalid

ALLOWED_ROOT_ENTRIES = ("manifest.json", "columns", "row_types", "hooks", "requirements.txt", "README.md")
MAX_FILES = 500
MAX_TOTAL_BYTES = 10 * 1024 * 1024
MODULE_VERSION_LENGTH = 12


def is_ignored(rel_path: str) -> bool:
    """True for byte-code caches, which never count as package content."""
    parts = rel_path.split("/")
    return "__pycache__" in parts or rel_path.endswith(".pyc")


@dataclass(frozen=True)
class PackageFile:
    rel_path: str  # POSIX, relative to the package root
    path: Path
    size: int


@dataclass
class PackageScan:
    """Everything found under a package root (ignored entries left out)."""

    root: Path
    files: list[PackageFile] = field(default_factory=list)
    symlinks: list[str] = field(default_factory=list)
    special: list[str] = field(default_factory=list)  # sockets, FIFOs, devices

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def scan_package(pkg_dir: str | Path) -> PackageScan:
    """List regular files, symlinks and special files under `pkg_dir` without following links."""
    root = Path(pkg_dir)
    if not root.is_dir():
        raise ConfigInvalid(f"{root} is not a folder; a config package is a folder", code="package.missing")
    scan = PackageScan(root=root)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        rel_base = base.relative_to(root).as_posix()
        prefix = "" if rel_base == "." else rel_base + "/"
        dirnames.sort()
        for name in list(dirnames):
            rel = prefix + name
            if name == "__pycache__":
                dirnames.remove(name)
            elif (base / name).is_symlink():
                scan.symlinks.append(rel)
                dirnames.remove(name)
        for name in sorted(filenames):
            rel = prefix + name
            if is_ignored(rel):
                continue
            full = base / name
            st = full.lstat()
            if stat.S_ISLNK(st.st_mode):
                scan.symlinks.append(rel)
            elif stat.S_ISREG(st.st_mode):
                scan.files.append(PackageFile(rel, full, st.st_size))
            else:
                scan.special.append(rel)
    scan.files.sort(key=lambda f: f.rel_path)
    return scan


def iter_package_files(pkg_dir: str | Path) -> Iterator[PackageFile]:
    """Regular package files in sorted order; raises `ConfigInvalid` on symlinks or special files."""
    scan = scan_package(pkg_dir)
    bad = scan.symlinks + scan.special
    if bad:
        raise ConfigInvalid(
            f"package {scan.root} contains {bad[0]!r}, which is not a regular file; "
            "replace symlinks and special files with real files",
            code="package.symlink",
        )
    yield from scan.files


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def file_hashes(pkg_dir: str | Path) -> dict[str, str]:
    """{relative path: sha256 hex} for every package file."""
    return {f.rel_path: sha256_file(f.path) for f in iter_package_files(pkg_dir)}


def module_version(path: str | Path) -> str:
    """The 12-hex version of a script: first 12 hex digits of the SHA-256 of its bytes."""
    return sha256_file(path)[:MODULE_VERSION_LENGTH]


def content_hash(pkg_dir: str | Path) -> str:
    """SHA-256 over the sorted package files, each fed as `relative_path + "\\0" + bytes`."""
    digest = hashlib.sha256()
    for f in iter_package_files(pkg_dir):
        digest.update(f.rel_path.encode("utf-8"))
        digest.update(b"\0")
        with open(f.path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 16), b""):
                digest.update(block)
    return digest.hexdigest()


def normalized_requirements(text: str) -> list[str]:
    """Requirement lines without comments, blank lines or redundant whitespace, sorted."""
    lines = []
    for raw in text.replace("\\\n", " ").splitlines():
        line = raw.split(" #", 1)[0].split("\t#", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        lines.append(" ".join(line.split()))
    return sorted(lines)


def deps_hash(
    pkg_dir: str | Path, *, python_version: str | None = None, engine_version: str = ENGINE_VERSION
) -> str | None:
    """SHA-256 of normalized requirements + Python minor version + engine version; None if nothing to install."""
    req = Path(pkg_dir) / "requirements.txt"
    if not req.is_file():
        return None
    lines = normalized_requirements(req.read_text(encoding="utf-8-sig"))
    if not lines:
        return None
    py = python_version or f"{sys.version_info.major}.{sys.version_info.minor}"
    payload = "\n".join(lines) + f"\0python={py}\0engine={engine_version}"
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
