"""Documents: job inputs registered once per workspace (jobs.md §3a).

Adding a file streams it into content-addressed storage (`documents/<sha[:2]>/<sha>`) through a temp
file while hashing it, sniffs it with the input gate (unsupported or unreadable files are refused and
nothing is stored), and reuses the live document that has the same bytes. Stored files are read-only,
so a job's `inputs/01_<name>` can be a hard link to them.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from datetime import datetime
from pathlib import Path

import ulid
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ade_engine.errors import AdeError, Conflict, InputError, NotFound
from ade_engine.services.workspace import Workspace, current_actor
from ade_engine.store.models import Document, Job, utcnow

CHUNK = 1024 * 1024
ACTIVE_JOB_STATES = ("queued", "running")


class DocumentInfo(BaseModel):
    document_id: str
    original_name: str
    sha256: str
    size_bytes: int
    detected_type: str
    added_at: datetime
    added_by: str | None
    source_path: str | None
    pinned: bool
    purged_at: datetime | None
    path: str
    jobs: int = 0
    reused: bool = False  # add_document found the same bytes already registered


def storage_path(ws: Workspace, sha256: str) -> Path:
    """Where the bytes of a document live: `${ADE_DATA_DIR}/documents/<sha[:2]>/<sha>`."""
    return ws.settings.documents_dir / sha256[:2] / sha256


def _info(ws: Workspace, row: Document, jobs: int = 0, reused: bool = False) -> DocumentInfo:
    return DocumentInfo(
        document_id=row.document_id, original_name=row.original_name, sha256=row.sha256,
        size_bytes=row.size_bytes, detected_type=row.detected_type, added_at=row.added_at,
        added_by=row.added_by, source_path=row.source_path, pinned=bool(row.pinned), purged_at=row.purged_at,
        path=str(storage_path(ws, row.sha256)), jobs=jobs, reused=reused,
    )


def _stream_to_temp(ws: Workspace, src: Path) -> tuple[Path, str, int]:
    """Copy `src` into a temp file in the documents folder, hashing as it goes."""
    root = ws.settings.documents_dir
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    h = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(prefix=".incoming-", dir=root)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as fh:
            for chunk in iter(lambda: fh.read(CHUNK), b""):
                h.update(chunk)
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, h.hexdigest(), size


def _describe_missing(src: Path) -> InputError:
    what = "is a directory" if src.is_dir() else "does not exist"
    return InputError(f"{src} {what}; give the path of an .xlsx, .xlsm or .csv file", code="input_unreadable",
                      details={"path": str(src)})


def add_document(ws: Workspace, path: str | os.PathLike[str], *, original_name: str | None = None) -> DocumentInfo:
    """Register a file (or reuse the live document with the same bytes). Refuses unsupported/unreadable files."""
    from ade_engine.runtime.gate import inspect_input

    src = Path(path).expanduser()
    if not src.is_file():
        raise _describe_missing(src)
    name = original_name or src.name
    try:
        tmp, sha, size = _stream_to_temp(ws, src)
    except OSError as exc:
        raise InputError(f"{name}: cannot read the file ({exc.strerror or exc})", code="input_unreadable",
                         details={"path": str(src)}) from None
    try:
        s = ws.settings
        # Registering needs the type only; a text file's encoding is the job's to find (with its options).
        info = inspect_input(tmp, name, max_uncompressed_mb=s.input_max_uncompressed_mb, max_ratio=s.input_max_ratio,
                             sniff_text=False)
        with ws.sessions() as session:
            existing = session.scalars(select(Document).where(
                Document.workspace_id == ws.workspace_id, Document.sha256 == sha, Document.purged_at.is_(None))).first()
            if existing is not None:
                _place(ws, tmp, sha)  # heals a stored file lost from disk
                return _info(ws, existing, jobs=_job_count(session, existing.document_id), reused=True)
        _place(ws, tmp, sha)
        row = Document(
            document_id=ulid.new().str, workspace_id=ws.workspace_id, original_name=name, sha256=sha,
            size_bytes=size, detected_type=info.format, added_at=utcnow(), added_by=current_actor(),
            source_path=str(src.resolve()), pinned=False,
        )
        try:
            with ws.sessions.begin() as session:
                session.add(row)
        except IntegrityError:  # someone else registered the same bytes a moment ago
            with ws.sessions() as session:
                existing = session.scalars(select(Document).where(
                    Document.workspace_id == ws.workspace_id, Document.sha256 == sha,
                    Document.purged_at.is_(None))).one()
                return _info(ws, existing, jobs=_job_count(session, existing.document_id), reused=True)
        return _info(ws, row)
    finally:
        tmp.unlink(missing_ok=True)


def _place(ws: Workspace, tmp: Path, sha: str) -> None:
    """Move the temp file to its content address (read-only) unless the bytes are already there."""
    target = storage_path(ws, sha)
    if target.is_file():
        return
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp.chmod(stat.S_IRUSR)
    os.replace(tmp, target)


def _row(session, ws: Workspace, document_id: str) -> Document:
    row = session.get(Document, document_id.strip())
    if row is None or row.workspace_id != ws.workspace_id:
        raise NotFound(f"document {document_id} not found in this workspace; see 'ade doc list'",
                       code="document_unavailable", details={"document_id": document_id})
    return row


def _job_count(session, document_id: str, states: tuple[str, ...] | None = None) -> int:
    q = select(func.count()).select_from(Job).where(Job.document_id == document_id)
    if states:
        q = q.where(Job.status.in_(states))
    return int(session.scalar(q) or 0)


def get_document(ws: Workspace, document_id: str) -> DocumentInfo:
    with ws.sessions() as session:
        row = _row(session, ws, document_id)
        return _info(ws, row, jobs=_job_count(session, row.document_id))


def usable_document(ws: Workspace, document_id: str) -> DocumentInfo:
    """A document a job can read: live, in this workspace, bytes present (else `document_unavailable`)."""
    doc = get_document(ws, document_id)
    if doc.purged_at is not None:
        raise AdeError(f"document {doc.document_id} ({doc.original_name}) was purged; add the file again "
                       "with 'ade doc add FILE'", code="document_unavailable", details={"document_id": doc.document_id})
    if not Path(doc.path).is_file():
        raise AdeError(f"the stored bytes of document {doc.document_id} ({doc.original_name}) are missing from "
                       f"{doc.path}; add the file again", code="document_unavailable",
                       details={"document_id": doc.document_id})
    return doc


def list_documents(ws: Workspace, *, include_purged: bool = False) -> list[DocumentInfo]:
    with ws.sessions() as session:
        q = select(Document).where(Document.workspace_id == ws.workspace_id)
        if not include_purged:
            q = q.where(Document.purged_at.is_(None))
        rows = list(session.scalars(q.order_by(Document.added_at.desc(), Document.document_id.desc())))
        counts = dict(session.execute(
            select(Job.document_id, func.count()).where(Job.document_id.in_([r.document_id for r in rows]))
            .group_by(Job.document_id)).all()) if rows else {}
        return [_info(ws, r, jobs=int(counts.get(r.document_id, 0))) for r in rows]


def pin_document(ws: Workspace, document_id: str, pinned: bool = True) -> DocumentInfo:
    """Pinned documents are never purged by retention."""
    with ws.sessions.begin() as session:
        row = _row(session, ws, document_id)
        row.pinned = pinned
    return get_document(ws, document_id)


def remove_document(ws: Workspace, document_id: str) -> DocumentInfo:
    """Purge a document now: the row stays with `purged_at`; the bytes go when no live document uses them.

    Refused while a queued or running job uses it (`document_in_use`).
    """
    with ws.sessions.begin() as session:
        row = _row(session, ws, document_id)
        if row.purged_at is not None:
            return _info(ws, row)
        active = _job_count(session, row.document_id, ACTIVE_JOB_STATES)
        if active:
            raise Conflict(f"document {row.document_id} ({row.original_name}) is used by {active} queued or running "
                           "job(s); cancel them or wait, then remove it", code="document_in_use",
                           details={"document_id": row.document_id, "active_jobs": active})
        row.purged_at = utcnow()
        sha = row.sha256
        others = session.scalar(select(func.count()).select_from(Document).where(
            Document.sha256 == sha, Document.purged_at.is_(None), Document.document_id != row.document_id))
    if not others:
        target = storage_path(ws, sha)
        target.unlink(missing_ok=True)
    return get_document(ws, document_id)
