"""Retention and cleanup (jobs.md §10, §3a): `collect_garbage(ws)`; `ade gc` and the periodic pass call it.

Never touches `queued` or `running` jobs, nor pinned jobs and documents. In order:
1. Directories of terminal jobs completed more than `ADE_JOB_RETENTION_DAYS` ago are deleted; then, while
   `jobs/` is larger than `ADE_JOB_RETENTION_MAX_GB`, the oldest remaining terminal job directories. The
   rows stay, with `purged_at` set.
2. Documents added more than `ADE_DOCUMENT_RETENTION_DAYS` ago that no queued, running or kept (unpurged)
   job references: `purged_at` set; the stored file goes when no unpurged document has the same bytes.
3. `envs/<deps_hash>` that no (undeleted) config version uses and that was idle for `ENV_IDLE_DAYS`.
4. Leftovers of work that was killed half-way (`STAGING_PATTERNS`: config imports' `.staging-*`, documents'
   `.incoming-*`, dependency preparations' `.prepare-*`, runtime builds' `.build-*`) once nothing in them has
   changed for `STAGING_MIN_AGE`; a live import or preparation keeps writing, so it is never that old.
`dry_run=True` reports the same decisions and changes nothing.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ade_engine.services.workspace import Workspace
from ade_engine.store.models import ConfigVersion, Document, Job

TERMINAL = ("succeeded", "failed", "cancelled")
ACTIVE = ("queued", "running")
ENV_IDLE_DAYS = 30
GIB = 1024 ** 3
# (folder under the data dir, glob) of work areas that a finished operation renames away or deletes itself.
STAGING_PATTERNS = (("configs", "*/.staging-*"), ("documents", ".incoming-*"), ("envs", ".prepare-*"),
                    ("runtime", ".build-*"), ("configs", "*/.gc-*"), ("documents", ".gc-*"), ("envs", ".gc-*"),
                    ("runtime", ".gc-*"))
GC_PREFIX = ".gc-"  # a leftover is renamed to this first: once renamed it is ours, whoever else looks at it
STAGING_MIN_AGE = timedelta(hours=1)


@dataclass
class GcItem:
    id: str
    reason: str  # age | size | unreferenced | unused | staging
    bytes: int = 0
    path: str | None = None


@dataclass
class GcReport:
    dry_run: bool
    jobs: list[GcItem] = field(default_factory=list)
    documents: list[GcItem] = field(default_factory=list)
    envs: list[GcItem] = field(default_factory=list)
    staging: list[GcItem] = field(default_factory=list)
    jobs_bytes_before: int = 0

    @property
    def freed_bytes(self) -> int:
        return sum(i.bytes for i in self.jobs + self.documents + self.envs + self.staging)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "freed_bytes": self.freed_bytes}


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def tree_size(path: Path) -> int:
    """Bytes of the regular files under `path` (links not followed)."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


def _rmtree(path: Path) -> None:
    """Delete a job dir even where it holds read-only files and folders (config/, inputs/), never following a
    link a job may have left in it."""
    from ade_engine.runtime.jobfiles import remove_tree

    remove_tree(path)


def _job_dir(ws: Workspace, row: Job) -> Path:
    return Path(row.job_dir) if row.job_dir else ws.settings.jobs_dir / row.job_id


def collect_garbage(ws: Workspace, *, dry_run: bool = False, now: datetime | None = None) -> GcReport:
    """One retention pass over the workspace (see the module doc); returns what was (or would be) removed."""
    settings = ws.settings
    now = _aware(now) or datetime.now(timezone.utc)
    report = GcReport(dry_run=dry_run)
    job_cutoff = now - timedelta(days=settings.job_retention_days)
    doc_cutoff = now - timedelta(days=settings.document_retention_days)
    env_cutoff = now - timedelta(days=ENV_IDLE_DAYS)

    with ws.sessions.begin() as session:
        # 1. jobs
        rows = session.scalars(select(Job).where(
            Job.workspace_id == ws.workspace_id, Job.status.in_(TERMINAL), Job.pinned.is_(False),
            Job.purged_at.is_(None))).all()
        rows = sorted(rows, key=lambda r: (_aware(r.completed_at or r.queued_at), r.job_id))
        sizes = {r.job_id: tree_size(_job_dir(ws, r)) for r in rows}
        jobs_root = settings.jobs_dir
        total = tree_size(jobs_root) if jobs_root.is_dir() else 0
        report.jobs_bytes_before = total
        doomed: dict[str, str] = {}
        for r in rows:
            if _aware(r.completed_at or r.queued_at) < job_cutoff:
                doomed[r.job_id] = "age"
                total -= sizes[r.job_id]
        limit = settings.job_retention_max_gb * GIB
        for r in rows:  # oldest first
            if total <= limit:
                break
            if r.job_id not in doomed:
                doomed[r.job_id] = "size"
                total -= sizes[r.job_id]
        for r in rows:
            if r.job_id not in doomed:
                continue
            path = _job_dir(ws, r)
            report.jobs.append(GcItem(r.job_id, doomed[r.job_id], sizes[r.job_id], str(path)))
            if not dry_run:
                _rmtree(path)
                r.purged_at = now

        # 2. documents
        purged_jobs = set(doomed)
        kept_refs = {
            doc_id for job_id, doc_id, status, purged in session.execute(select(
                Job.job_id, Job.document_id, Job.status, Job.purged_at).where(Job.document_id.is_not(None)))
            if status in ACTIVE or (purged is None and job_id not in purged_jobs)
        }
        docs = session.scalars(select(Document).where(
            Document.workspace_id == ws.workspace_id, Document.pinned.is_(False),
            Document.purged_at.is_(None))).all()
        purge_docs = [d for d in docs if _aware(d.added_at) < doc_cutoff and d.document_id not in kept_refs]
        purge_ids = {d.document_id for d in purge_docs}
        live_shas = {sha for doc_id, sha in session.execute(select(Document.document_id, Document.sha256).where(
            Document.purged_at.is_(None))) if doc_id not in purge_ids}
        for d in sorted(purge_docs, key=lambda d: (_aware(d.added_at), d.document_id)):
            stored = settings.documents_dir / d.sha256[:2] / d.sha256
            goes = d.sha256 not in live_shas and stored.exists()
            report.documents.append(GcItem(d.document_id, "unreferenced", stored.stat().st_size if goes else 0,
                                           str(stored) if goes else None))
            if not dry_run:
                d.purged_at = now
                if goes:
                    stored.chmod(0o600)
                    stored.unlink(missing_ok=True)

        # 3. envs
        used = {h for (h,) in session.execute(select(ConfigVersion.deps_hash).where(
            ConfigVersion.deps_hash.is_not(None), ConfigVersion.deleted_at.is_(None)))}
    envs = settings.envs_dir
    if envs.is_dir():
        for env in sorted(envs.iterdir()):
            if not env.is_dir() or env.name.startswith(".") or env.name in used:
                continue
            marker = env / "last_used" if (env / "last_used").exists() else env
            idle_since = datetime.fromtimestamp(marker.stat().st_mtime, timezone.utc)
            if idle_since >= env_cutoff:
                continue
            report.envs.append(GcItem(env.name, "unused", tree_size(env), str(env)))
            if not dry_run:
                _rmtree(env)
    report.staging = collect_staging(settings.data_dir, dry_run=dry_run, now=now)
    return report


def _last_change(path: Path) -> float:
    """Newest mtime of `path` and everything under it (links not followed)."""
    newest = os.lstat(path).st_mtime
    if path.is_dir() and not path.is_symlink():
        for dirpath, dirs, files in os.walk(path):
            for name in dirs + files:
                try:
                    newest = max(newest, os.lstat(os.path.join(dirpath, name)).st_mtime)
                except OSError:
                    continue
    return newest


def collect_staging(data_dir: Path, *, dry_run: bool = False, now: datetime | None = None) -> list[GcItem]:
    """Remove work areas left by killed imports, uploads, preparations and builds (`STAGING_PATTERNS`) whose
    newest file is older than `STAGING_MIN_AGE`; younger ones may belong to work in progress and stay."""
    now = _aware(now) or datetime.now(timezone.utc)
    cutoff = (now - STAGING_MIN_AGE).timestamp()
    found = []
    for folder, pattern in STAGING_PATTERNS:
        root = Path(data_dir) / folder
        if not root.is_dir():
            continue
        for path in sorted(root.glob(pattern)):
            try:
                if _last_change(path) >= cutoff:
                    continue
                size = tree_size(path) if path.is_dir() and not path.is_symlink() else os.lstat(path).st_size
            except FileNotFoundError:  # finished (renamed or removed) while we looked
                continue
            if not dry_run:
                # Renamed before it is emptied: were an import or a build to finish right now, its rename of
                # the same folder and ours cannot both succeed, so nothing it put in place is deleted.
                mine = path if path.name.startswith(GC_PREFIX) else path.with_name(GC_PREFIX + path.name)
                try:
                    if mine != path:
                        os.rename(path, mine)
                    _rmtree(mine)
                except FileNotFoundError:
                    continue
            found.append(GcItem(str(path.relative_to(data_dir)), "staging", size, str(path)))
    return found
