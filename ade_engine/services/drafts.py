"""Draft authoring: file tree, read, write with optimistic locking, create/rename/delete, manifest patch, diff.

Optimistic locking: a caller reads a file (getting its SHA-256) and passes that hash back when
writing. If the file changed in between, the write is refused with `conflict` naming both hashes.
`expected_hash=None` means "the file must not exist yet"; `ANY` overwrites unconditionally.
The check and the write happen under an exclusive lock on the draft (a lock file next to the draft
folder), so two writers in different processes cannot both win.

Static validation runs after every save; its diagnostics come back with the save result.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from ade_engine.errors import AdeError, Conflict, NotFound
from ade_engine.packages import layout
from ade_engine.packages.archive import safe_relpath
from ade_engine.services import configs
from ade_engine.services.configs import Diagnostic, VersionInfo
from ade_engine.services.workspace import Workspace
from ade_engine.store.models import ConfigVersion, utcnow

ANY = "*"
MAX_FILE_BYTES = 1024 * 1024  # a script or manifest; packages are ≤ 10 MiB in total


class FileEntry(BaseModel):
    path: str
    size: int
    sha256: str


class FileContent(BaseModel):
    path: str
    sha256: str
    size: int
    text: str | None  # None when the file is not UTF-8 text
    data: bytes


class SaveResult(BaseModel):
    path: str
    sha256: str
    previous_sha256: str | None
    content_hash: str
    diagnostics: list[Diagnostic]


class FileChange(BaseModel):
    path: str
    change: Literal["added", "removed", "modified"]
    old_sha256: str | None
    new_sha256: str | None
    diff: str | None  # unified diff for UTF-8 text files


class DraftDiff(BaseModel):
    draft: str
    base: str | None
    changes: list[FileChange]


# --------------------------------------------------------------------------------------- locking


@contextmanager
def draft_lock(ws: Workspace, pkg: Path) -> Iterator[None]:
    """Exclusive, cross-process lock on one version folder (a `.lock` file beside it, outside the package)."""
    lock_path = pkg.parent / f".{pkg.name}.lock"
    lock_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(lock_path, "a+b") as fh:
        try:
            import fcntl
        except ImportError:  # Windows: single-user desktop, writes are still atomic renames
            yield
            return
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


# --------------------------------------------------------------------------------------- helpers


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _draft(ws: Workspace, ref: str, action: str) -> VersionInfo:
    with ws.sessions() as session:
        row, config = configs._resolve(session, ws, ref, "draft")
        configs._require_status(row, "draft", action)
        configs._require_writable(config, row, action)
        state = configs._active_row(session, ws)
        return configs._to_info(ws, row, config, state.config_version_id if state else None)


def _readable(ws: Workspace, ref: str) -> VersionInfo:
    info = configs.get_version(ws, ref)
    configs.ensure_intact(ws, info)
    return info


def _file_path(pkg: Path, rel: str) -> tuple[str, Path]:
    norm = safe_relpath(rel.strip())
    if norm is None or layout.is_ignored(norm):
        raise AdeError(
            f"invalid package path {rel!r}: use a relative path inside the package like 'columns/sku.py'",
            code="path_invalid",
            details={"path": rel},
        )
    target = pkg / norm
    # Refuse to go through symlinks, even ones planted after the fact.
    probe = pkg
    for part in norm.split("/"):
        probe = probe / part
        if probe.is_symlink():
            raise AdeError(f"refused: {norm} goes through a symlink", code="path_invalid", details={"path": norm})
    return norm, target


def _current_hash(target: Path) -> str | None:
    if not target.exists():
        return None
    if not target.is_file():
        raise AdeError(f"{target.name} is a folder, not a file", code="path_invalid", details={"path": str(target)})
    return layout.sha256_file(target)


def _check_expected(norm: str, expected: str | None, actual: str | None) -> None:
    if expected == ANY:
        return
    if expected is None and actual is not None:
        raise Conflict(
            f"{norm} already exists (sha256 {actual[:12]}); read it first and pass its hash to overwrite",
            details={"path": norm, "expected": None, "actual": actual},
        )
    if expected is not None and expected != actual:
        now = actual[:12] if actual else "deleted"
        raise Conflict(
            f"{norm} changed since you read it: you read sha256 {expected[:12]}, it is now {now}; "
            "re-read the file and apply your change again",
            details={"path": norm, "expected": expected, "actual": actual},
        )


def _atomic_write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _prune_empty_dirs(pkg: Path, start: Path) -> None:
    current = start
    while current != pkg and current.is_dir() and not any(current.iterdir()):
        current.rmdir()
        current = current.parent


def _refresh(ws: Workspace, info: VersionInfo) -> tuple[str, list[Diagnostic]]:
    """Re-hash the draft, store hashes and manifest on its row, run static validation."""
    pkg = Path(info.path)
    hashes, chash, dhash = configs.package_hashes(pkg)
    with ws.sessions.begin() as session:
        row = session.get(ConfigVersion, info.config_version_id)
        if row is None or row.status != "draft":
            raise Conflict(f"{info.label} is no longer a draft", details={"config_version_id": info.config_version_id})
        row.file_hashes, row.content_hash, row.deps_hash = hashes, chash, dhash
        row.manifest_json = configs._read_manifest_dict(pkg)
        row.updated_at = utcnow()
    return chash, configs.validate_dir(pkg, dynamic=False)


# --------------------------------------------------------------------------------------- reading


def list_files(ws: Workspace, ref: str) -> list[FileEntry]:
    """The file tree of any version (sorted; ignored files left out)."""
    info = configs.get_version(ws, ref)
    return [
        FileEntry(path=f.rel_path, size=f.size, sha256=layout.sha256_file(f.path))
        for f in layout.iter_package_files(info.path)
    ]


def read_file(ws: Workspace, ref: str, path: str) -> FileContent:
    """One file of a version with its SHA-256 (pass it back to `write_file`). Published: hash-checked."""
    info = _readable(ws, ref)
    norm, target = _file_path(Path(info.path), path)
    if not target.is_file():
        raise NotFound(f"{info.label} has no file {norm}; see 'ade config files {info.label}'",
                       details={"path": norm})
    data = target.read_bytes()
    try:
        text: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return FileContent(path=norm, sha256=_sha(data), size=len(data), text=text, data=data)


# --------------------------------------------------------------------------------------- writing


def write_file(ws: Workspace, ref: str, path: str, content: bytes | str, *, expected_hash: str | None) -> SaveResult:
    """Write one draft file if it still has `expected_hash` (None = must not exist, `ANY` = overwrite)."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    if len(data) > MAX_FILE_BYTES:
        raise AdeError(f"{path} is {len(data)} bytes; package files are limited to {MAX_FILE_BYTES}",
                       code="file_too_large", details={"path": path})
    info = _draft(ws, ref, "edit")
    pkg = Path(info.path)
    norm, target = _file_path(pkg, path)
    with draft_lock(ws, pkg):
        actual = _current_hash(target)
        _check_expected(norm, expected_hash, actual)
        _atomic_write(target, data)
        chash, diags = _refresh(ws, info)
    return SaveResult(path=norm, sha256=_sha(data), previous_sha256=actual, content_hash=chash, diagnostics=diags)


def create_file(ws: Workspace, ref: str, path: str, content: bytes | str = b"") -> SaveResult:
    """Create a new draft file; refused (`conflict`) when it exists."""
    return write_file(ws, ref, path, content, expected_hash=None)


def delete_file(ws: Workspace, ref: str, path: str, *, expected_hash: str = ANY) -> list[Diagnostic]:
    info = _draft(ws, ref, "edit")
    pkg = Path(info.path)
    norm, target = _file_path(pkg, path)
    with draft_lock(ws, pkg):
        actual = _current_hash(target)
        if actual is None:
            raise NotFound(f"{info.label} has no file {norm}", details={"path": norm})
        _check_expected(norm, expected_hash, actual)
        target.unlink()
        _prune_empty_dirs(pkg, target.parent)
        return _refresh(ws, info)[1]


def rename_file(ws: Workspace, ref: str, src: str, dst: str, *, expected_hash: str = ANY) -> list[Diagnostic]:
    """Rename a draft file; refused when the destination exists or the source changed."""
    info = _draft(ws, ref, "edit")
    pkg = Path(info.path)
    src_norm, src_path = _file_path(pkg, src)
    dst_norm, dst_path = _file_path(pkg, dst)
    with draft_lock(ws, pkg):
        actual = _current_hash(src_path)
        if actual is None:
            raise NotFound(f"{info.label} has no file {src_norm}", details={"path": src_norm})
        _check_expected(src_norm, expected_hash, actual)
        if dst_path.exists():
            raise Conflict(f"cannot rename {src_norm} to {dst_norm}: {dst_norm} exists",
                           details={"path": dst_norm, "expected": None, "actual": _current_hash(dst_path)})
        dst_path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src_path, dst_path)
        _prune_empty_dirs(pkg, src_path.parent)
        return _refresh(ws, info)[1]


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def patch_manifest(
    ws: Workspace, ref: str, patch: dict[str, Any], *, expected_hash: str = ANY
) -> SaveResult:
    """Apply a JSON merge patch (e.g. `{"info": {"title": "New"}}`) to the draft's manifest.json."""
    current = read_file(ws, ref, "manifest.json")
    try:
        manifest = json.loads(current.text or "")
    except ValueError as exc:
        raise AdeError(f"manifest.json is not valid JSON ({exc}); fix it with 'ade config write'",
                       code="config_invalid") from None
    if expected_hash != ANY and expected_hash != current.sha256:
        _check_expected("manifest.json", expected_hash, current.sha256)
    updated = _merge_patch(manifest, patch)
    text = json.dumps(updated, indent=2, ensure_ascii=False) + "\n"
    return write_file(ws, ref, "manifest.json", text, expected_hash=current.sha256)


# --------------------------------------------------------------------------------------- diff


def _files(pkg: Path) -> dict[str, Path]:
    return {f.rel_path: f.path for f in layout.iter_package_files(pkg)}


def diff(ws: Workspace, ref: str, against: str | None = None) -> DraftDiff:
    """Changes of a version (normally a draft) against `against`, else its base, else the newest
    published version before it; everything is 'added' when there is nothing to compare with."""
    try:
        info = configs.get_version(ws, ref, want="draft")
    except NotFound:
        if "@" in ref:
            raise
        info = configs.get_version(ws, ref)
    base: VersionInfo | None = None
    if against:
        base = _readable(ws, against)
    elif info.base_version_id:
        base = _readable(ws, info.base_version_id)
    else:
        earlier = [v for v in configs.history(ws, info.config_id) if v.status == "published" and v.number < info.number]
        base = earlier[-1] if earlier else None
    new_files = _files(Path(info.path))
    old_files = _files(Path(base.path)) if base else {}
    changes: list[FileChange] = []
    for rel in sorted(set(new_files) | set(old_files)):
        old = old_files[rel].read_bytes() if rel in old_files else None
        new = new_files[rel].read_bytes() if rel in new_files else None
        if old == new:
            continue
        change = "added" if old is None else "removed" if new is None else "modified"
        changes.append(FileChange(
            path=rel, change=change,
            old_sha256=_sha(old) if old is not None else None,
            new_sha256=_sha(new) if new is not None else None,
            diff=_unified(rel, old, new, base.label if base else None, info.label),
        ))
    return DraftDiff(draft=info.label, base=base.label if base else None, changes=changes)


def _unified(rel: str, old: bytes | None, new: bytes | None, old_label: str | None, new_label: str) -> str | None:
    try:
        old_lines = old.decode("utf-8").splitlines(keepends=True) if old is not None else []
        new_lines = new.decode("utf-8").splitlines(keepends=True) if new is not None else []
    except UnicodeDecodeError:
        return None
    return "".join(difflib.unified_diff(
        old_lines, new_lines,
        fromfile=f"{old_label}/{rel}" if old is not None and old_label else "/dev/null",
        tofile=f"{new_label}/{rel}" if new is not None else "/dev/null",
    ))
