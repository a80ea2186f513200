"""Secrets service: set, list, delete, audit, rotate the master key, and decrypt for one job (secrets.md).

The store is the `secrets` table (one row per version of a value) plus the append-only `secret_audit` table.
Encryption, key sources and rotation live in `ade_engine.secrets` (redaction in `runtime.redact`); this module is the only place
that connects them to the database. Plaintext enters through `set_secret` and leaves only through
`secrets_for_job` (for the parent of a job, which sends it over the child's stdin). No function returns,
logs or stores a value otherwise, and no model below has a field that could hold one.

Locking: `set_secret` holds a shared lock and `rotate_key` an exclusive one (`runtime/secrets.lock`), so a
value encrypted with the old primary key cannot land in the table after rotation decided which keys are
still referenced.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ade_engine.errors import AdeError, ConfigInvalid, NotFound
from ade_engine.secrets.envelope import make_aad, validate_name, validate_value
from ade_engine.secrets.errors import SecretsError
from ade_engine.secrets.keys import FileKeyStore, KeyRing, KeyStore, OsKeyringStore, describe_source, open_key_store
from ade_engine.secrets.rotation import RotationResult, SecretRecord, rotate
from ade_engine.services.workspace import Workspace, current_actor
from ade_engine.settings import Settings
from ade_engine.store.models import Config, ConfigVersion, Secret, SecretAudit, utcnow

WORKSPACE_SCOPE = "workspace"
# "ok": the value's envelope is intact under a key this installation has (checked without decrypting it).
Status = Literal["ok", "unset", "secrets.unknown_key", "secrets.key_source", "secrets.decrypt_failed",
                 "secrets.envelope_malformed"]


# --------------------------------------------------------------------------------------- models


class SecretInfo(BaseModel):
    """What listing shows about one secret (its newest live version). Never the value."""

    name: str
    scope: str  # "workspace" or the config id
    config_id: str | None
    version: int | None  # None: requested by a config but never set (status "unset")
    key_id: str | None
    created_by: str | None
    created_at: datetime | None
    last_used_at: datetime | None
    last_used_job_id: str | None
    requested_by: list[str]
    status: Status = "ok"
    problem: str | None = None


class AuditEntry(BaseModel):
    ts: datetime
    actor: str | None
    action: str
    workspace_id: str | None
    config_id: str | None
    name: str | None
    version: int | None
    key_id: str | None
    job_id: str | None


class RotationReport(BaseModel):
    new_key_id: str
    previous_primary: str
    reencrypted: int
    erased: int
    retired: list[str]
    kept: list[str]
    failed: list[str]  # "NAME (scope) v3: message" — names only
    source: str


class SecretsCheck(BaseModel):
    """For `ade doctor` and the TUI: where the master keys come from and what cannot be decrypted."""

    status: Literal["ok", "warn", "fail"]
    source: str
    summary: str
    fix: str | None = None
    problems: list[str] = []


# --------------------------------------------------------------------------------------- keys


def _key_store(settings: Settings, *, create: bool = True) -> KeyStore:
    env_key = settings.secrets_key.get_secret_value() if settings.secrets_key is not None else None
    return open_key_store(data_dir=settings.data_dir, env_key=env_key, keyring_file=settings.secrets_keyring,
                          create=create)


def key_source(settings: Settings) -> str:
    """Which master-key source is in use (or why none is usable), without creating keys."""
    env_key = settings.secrets_key.get_secret_value() if settings.secrets_key is not None else None
    return describe_source(data_dir=settings.data_dir, env_key=env_key, keyring_file=settings.secrets_keyring)


def _load_keys(ws: Workspace) -> tuple[KeyRing, str]:
    store = _key_store(ws.settings, create=True)
    return store.load(), store.describe_source()


_thread_lock = threading.RLock()


@contextlib.contextmanager
def _secrets_lock(ws: Workspace, *, exclusive: bool) -> Iterator[None]:
    """Inter-process lock between writers and rotation (shared for set/delete, exclusive for rotation)."""
    path = ws.settings.runtime_dir / "secrets.lock"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _thread_lock:
        try:
            import fcntl
        except ImportError:  # Windows: one process at a time is the supported mode
            yield
            return
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # releases the lock


# --------------------------------------------------------------------------------------- helpers


def _scope_label(config_id: str | None) -> str:
    return config_id or WORKSPACE_SCOPE


def _check_config(session: Session, ws: Workspace, config_id: str | None) -> None:
    if config_id is None:
        return
    row = session.get(Config, config_id)
    if row is None or row.workspace_id != ws.workspace_id or row.deleted_at is not None:
        raise NotFound(f"config {config_id!r} not found in workspace {ws.name!r}; see 'ade config list'",
                       details={"config_id": config_id})


def _scope_filter(query: Any, ws_id: str, config_id: str | None, name: str | None = None) -> Any:
    query = query.where(Secret.workspace_id == ws_id)
    query = query.where(Secret.config_id.is_(None) if config_id is None else Secret.config_id == config_id)
    if name is not None:
        query = query.where(Secret.name == name)
    return query


def _live_row(session: Session, ws_id: str, config_id: str | None, name: str) -> Secret | None:
    """The newest version holding a value, unless the secret is deleted."""
    return session.scalars(
        _scope_filter(select(Secret), ws_id, config_id, name)
        .where(Secret.deleted_at.is_(None), Secret.ciphertext.is_not(None))
        .order_by(Secret.version.desc())
        .limit(1)
    ).first()


def _audit(session: Session, action: str, *, actor: str | None, workspace_id: str | None, config_id: str | None = None,
           name: str | None = None, version: int | None = None, key_id: str | None = None,
           job_id: str | None = None) -> None:
    session.add(SecretAudit(ts=utcnow(), actor=actor, action=action, workspace_id=workspace_id, config_id=config_id,
                            name=name, version=version, key_id=key_id, job_id=job_id))


def _as_manifest(manifest: Any) -> Any:
    if manifest is None or hasattr(manifest, "requested_secrets"):
        return manifest
    from ade_engine.manifest.models import manifest_from_data

    return manifest_from_data(manifest)


def _requested(manifest: Any) -> set[str]:
    manifest = _as_manifest(manifest)
    return set(manifest.requested_secrets()) if manifest is not None else set()


def _begin_write(session: Session) -> None:
    # SQLite: take the write lock up front so two writers cannot pick the same next version number.
    if session.bind is not None and session.bind.dialect.name == "sqlite":
        session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})


# --------------------------------------------------------------------------------------- set / rm


def set_secret(ws: Workspace, name: str, value: str, *, config_id: str | None = None,
               actor: str | None = None) -> SecretInfo:
    """Encrypt `value` as a new version of `name` (workspace scope, or `config_id` scope) and audit it.

    The value is checked (8–4096 characters of UTF-8 text) before any key is touched; it is not kept.
    """
    validate_name(name)
    validate_value(value, name=name)
    actor = actor or current_actor()
    with _secrets_lock(ws, exclusive=False):
        ring, _source = _load_keys(ws)
        for attempt in range(3):
            try:
                with ws.sessions.begin() as session:
                    _begin_write(session)
                    _check_config(session, ws, config_id)
                    newest = session.scalar(
                        _scope_filter(select(func.max(Secret.version)), ws.workspace_id, config_id, name))
                    version = (newest or 0) + 1
                    envelope = ring.encrypt(value, make_aad(ws.workspace_id, config_id, name, version))
                    row = Secret(workspace_id=ws.workspace_id, config_id=config_id, name=name, version=version,
                                 key_id=ring.primary, ciphertext=envelope, created_by=actor, created_at=utcnow())
                    session.add(row)
                    _audit(session, "set", actor=actor, workspace_id=ws.workspace_id, config_id=config_id, name=name,
                           version=version, key_id=ring.primary)
                    session.flush()
                break
            except IntegrityError:
                if attempt == 2:
                    raise AdeError(f"secret {name} is being set by another process at the same time; try again",
                                   code="secrets.conflict", details={"name": name}) from None
    del value
    return _info_for(ws, name, config_id)


def remove_secret(ws: Workspace, name: str, *, config_id: str | None = None, actor: str | None = None) -> int:
    """Delete a secret: erase the ciphertext of every version (rows stay for audit). Returns the version count."""
    validate_name(name)
    actor = actor or current_actor()
    with _secrets_lock(ws, exclusive=False), ws.sessions.begin() as session:
        _begin_write(session)
        _check_config(session, ws, config_id)
        rows = list(session.scalars(_scope_filter(select(Secret), ws.workspace_id, config_id, name)))
        live = [r for r in rows if r.deleted_at is None]
        if not live:
            where = f"config {config_id}" if config_id else "the workspace"
            raise NotFound(f"secret {name} is not set for {where}; see 'ade secret list'",
                           code="secrets.not_found", details={"name": name, "config_id": config_id})
        now = utcnow()
        for row in rows:
            row.ciphertext = None
            if row.deleted_at is None:
                row.deleted_at = now
        newest = max(live, key=lambda r: r.version)
        _audit(session, "delete", actor=actor, workspace_id=ws.workspace_id, config_id=config_id, name=name,
               version=newest.version)
        return len(rows)


# --------------------------------------------------------------------------------------- listing


def _config_requests(session: Session, ws: Workspace) -> dict[str, set[str]]:
    """config_id -> names requested by its newest live version (published or draft) with a valid manifest."""
    out: dict[str, set[str]] = {}
    configs = session.scalars(select(Config).where(Config.workspace_id == ws.workspace_id,
                                                   Config.deleted_at.is_(None)))
    for config in configs:
        versions = session.scalars(
            select(ConfigVersion).where(ConfigVersion.config_id == config.config_id,
                                        ConfigVersion.deleted_at.is_(None))
            .order_by(ConfigVersion.number.desc()))
        for version in versions:
            if version.manifest_json is None:
                continue
            try:
                out[config.config_id] = _requested(version.manifest_json)
            except AdeError:
                out[config.config_id] = set()
            break
    return out


def _row_problem(row: Secret, ring: KeyRing | None, ring_error: str | None) -> tuple[Status, str | None]:
    if ring is None:
        return "secrets.key_source", ring_error
    if ring.key_for(row.key_id) is None:
        return "secrets.unknown_key", (f"secret {row.name} was encrypted with key '{row.key_id}', which this "
                                       "installation does not have; set it again")
    try:  # the tag is recomputed, the value is not decrypted (values are decrypted only for jobs)
        ring.verify(row.ciphertext or "", make_aad(row.workspace_id, row.config_id, row.name, row.version))
    except SecretsError as exc:
        code = exc.code if exc.code in ("secrets.decrypt_failed", "secrets.envelope_malformed",
                                        "secrets.unknown_key") else "secrets.decrypt_failed"
        return code, exc.message  # type: ignore[return-value]
    return "ok", None


def _try_ring(ws: Workspace) -> tuple[KeyRing | None, str | None]:
    try:
        return _key_store(ws.settings, create=False).load(), None
    except SecretsError as exc:
        return None, exc.message


def list_secrets(ws: Workspace, *, config_id: str | None = None, include_unset: bool = True) -> list[SecretInfo]:
    """Every live secret (newest version per scope and name), plus requested names that have no value.

    With `config_id`, only what that config can see (its own scope and the workspace scope).
    Rows whose key is missing carry status `secrets.unknown_key`, rows whose ciphertext was altered
    `secrets.decrypt_failed` (or `secrets.envelope_malformed`); nothing is decrypted (`KeyRing.verify`).
    """
    ring, ring_error = _try_ring(ws)
    with ws.sessions() as session:
        if config_id is not None:
            _check_config(session, ws, config_id)
        requests = _config_requests(session, ws)
        rows = list(session.scalars(
            select(Secret).where(Secret.workspace_id == ws.workspace_id, Secret.deleted_at.is_(None),
                                 Secret.ciphertext.is_not(None))
            .order_by(Secret.name, Secret.config_id, Secret.version.desc())))
    newest: dict[tuple[str | None, str], Secret] = {}
    for row in rows:
        newest.setdefault((row.config_id, row.name), row)
    out: list[SecretInfo] = []
    for (scope, name), row in newest.items():
        if config_id is not None and scope not in (None, config_id):
            continue
        requested_by = sorted(c for c, names in requests.items()
                              if name in names and (scope is None or scope == c))
        status, problem = _row_problem(row, ring, ring_error)
        out.append(_to_info(row, requested_by, status, problem))
    if include_unset:
        for cid, names in sorted(requests.items()):
            if config_id is not None and cid != config_id:
                continue
            for name in sorted(names):
                if (cid, name) in newest or (None, name) in newest:
                    continue
                existing = next((i for i in out if i.status == "unset" and i.name == name), None)
                if existing is not None:
                    existing.requested_by.append(cid)
                    continue
                out.append(SecretInfo(name=name, scope=WORKSPACE_SCOPE, config_id=None, version=None, key_id=None,
                                      created_by=None, created_at=None, last_used_at=None, last_used_job_id=None,
                                      requested_by=[cid], status="unset",
                                      problem=f"secrets.{name} has no value; set it with 'ade secret set {name}'"))
    out.sort(key=lambda i: (i.name, i.config_id or ""))
    return out


def _to_info(row: Secret, requested_by: list[str], status: Status = "ok", problem: str | None = None) -> SecretInfo:
    return SecretInfo(name=row.name, scope=_scope_label(row.config_id), config_id=row.config_id, version=row.version,
                      key_id=row.key_id, created_by=row.created_by, created_at=row.created_at,
                      last_used_at=row.last_used_at, last_used_job_id=row.last_used_job_id,
                      requested_by=requested_by, status=status, problem=problem)


def _info_for(ws: Workspace, name: str, config_id: str | None) -> SecretInfo:
    for info in list_secrets(ws, include_unset=False):
        if info.name == name and info.config_id == config_id:
            return info
    raise NotFound(f"secret {name} is not set", code="secrets.not_found")


def audit_log(ws: Workspace, *, name: str | None = None, config_id: str | None = None,
              limit: int = 200) -> list[AuditEntry]:
    """The newest `limit` audit entries of this workspace (optionally for one name/config), newest first.

    A `config_id` this workspace never had (no config row, deleted ones included, and no audit entry) is
    `not_found`, so a typo is not mistaken for "nothing happened"."""
    with ws.sessions() as session:
        if config_id is not None:
            known = session.get(Config, config_id)
            if (known is None or known.workspace_id != ws.workspace_id) and session.scalar(
                    select(func.count()).select_from(SecretAudit).where(
                        SecretAudit.workspace_id == ws.workspace_id, SecretAudit.config_id == config_id)) == 0:
                raise NotFound(f"config {config_id!r} not found in workspace {ws.name!r}; see 'ade config list'",
                               details={"config_id": config_id})
        query = select(SecretAudit).where(
            (SecretAudit.workspace_id == ws.workspace_id) | SecretAudit.workspace_id.is_(None))
        if name is not None:
            query = query.where(SecretAudit.name == name)
        if config_id is not None:
            query = query.where(SecretAudit.config_id == config_id)
        rows = session.scalars(query.order_by(SecretAudit.id.desc()).limit(max(1, limit)))
        return [AuditEntry(ts=r.ts, actor=r.actor, action=r.action, workspace_id=r.workspace_id,
                           config_id=r.config_id, name=r.name, version=r.version, key_id=r.key_id, job_id=r.job_id)
                for r in rows]


# --------------------------------------------------------------------------------------- publish / activate


def unset_requested(ws: Workspace, config_id: str, manifest: Any) -> list[str]:
    """Names the manifest's enabled scripts request that have no value for `config_id` (sorted). Decrypts nothing."""
    names = _requested(manifest)
    if not names:
        return []
    with ws.sessions() as session:
        return sorted(n for n in names
                      if _live_row(session, ws.workspace_id, config_id, n) is None
                      and _live_row(session, ws.workspace_id, None, n) is None)


def refuse_unset(ws: Workspace, config_id: str, manifest: Any, *, label: str, action: str) -> None:
    """Raise `secrets.unset` when requested names have no value (publish and activate call this)."""
    try:
        missing = unset_requested(ws, config_id, manifest)
    except ConfigInvalid:
        return  # an invalid manifest is refused by validation, with a better message than ours
    if missing:
        first = missing[0]
        raise ConfigInvalid(
            f"cannot {action} {label}: secrets.{first} has no value"
            + (f" (nor {', '.join(missing[1:])})" if missing[1:] else "")
            + f"; set it before you {action}: ade secret set {first} [--config {config_id}]",
            code="secrets.unset",
            details={"names": missing, "config_id": config_id},
        )


# --------------------------------------------------------------------------------------- job injection


def secrets_for_job(ws: Workspace, *, config_id: str, manifest: Any, job_id: str | None) -> dict[str, str]:
    """Decrypt exactly the names the job's enabled scripts request (config scope first, then workspace).

    Returns {} without touching any key when nothing is requested. Any missing or undecryptable name fails
    the whole job with `secrets_unavailable` (audit `decrypt_failed`); on success `last_used_*` is updated and
    one `inject` audit row per name is written. The caller sends the result over the child's stdin only.
    """
    names = sorted(_requested(manifest))
    if not names:
        return {}
    actor = current_actor()
    failures: dict[str, str] = {}
    chosen: dict[str, Secret] = {}
    with ws.sessions() as session:
        for name in names:
            row = (_live_row(session, ws.workspace_id, config_id, name)
                   or _live_row(session, ws.workspace_id, None, name))
            if row is None:
                failures[name] = f"{name} has no value (set it with 'ade secret set {name}')"
            else:
                chosen[name] = row
    values: dict[str, str] = {}
    if chosen:
        try:
            ring, _source = _load_keys(ws)
        except SecretsError as exc:
            ring = None
            for name in chosen:
                failures.setdefault(name, f"{name}: no master key ({exc.message})")
        if ring is not None:
            for name, row in chosen.items():
                if name in failures:
                    continue
                try:
                    values[name] = ring.decrypt(row.ciphertext or "",
                                                make_aad(row.workspace_id, row.config_id, row.name, row.version))
                except SecretsError as exc:
                    failures[name] = exc.message
    if failures:
        values.clear()
        with ws.sessions.begin() as session:
            for name in sorted(failures):
                row = chosen.get(name)
                _audit(session, "decrypt_failed", actor=actor, workspace_id=ws.workspace_id,
                       config_id=row.config_id if row else config_id, name=name,
                       version=row.version if row else None, key_id=row.key_id if row else None, job_id=job_id)
        raise AdeError(
            f"secrets unavailable for this job: {'; '.join(failures[n] for n in sorted(failures))}",
            code="secrets_unavailable",
            details={"names": sorted(failures)},
        )
    now = utcnow()
    with ws.sessions.begin() as session:
        for name, row in chosen.items():
            session.execute(update(Secret).where(Secret.id == row.id)
                            .values(last_used_at=now, last_used_job_id=job_id))
            _audit(session, "inject", actor=actor, workspace_id=ws.workspace_id, config_id=row.config_id, name=name,
                   version=row.version, key_id=row.key_id, job_id=job_id)
    return values


# --------------------------------------------------------------------------------------- rotation


class _TableRecords:
    """`RotationRecords` over the `secrets` table: every workspace of the database shares the key ring."""

    def __init__(self, ws: Workspace):
        self.ws = ws

    def _current_rows(self, session: Session) -> list[Secret]:
        rows = session.scalars(select(Secret).where(Secret.deleted_at.is_(None), Secret.ciphertext.is_not(None))
                               .order_by(Secret.workspace_id, Secret.config_id, Secret.name, Secret.version.desc()))
        seen: set[tuple[str, str | None, str]] = set()
        out = []
        for row in rows:
            key = (row.workspace_id, row.config_id, row.name)
            if key not in seen:
                seen.add(key)
                out.append(row)
        return out

    def current(self) -> Iterable[SecretRecord]:
        with self.ws.sessions() as session:
            rows = self._current_rows(session)
            return [SecretRecord(id=r.id, aad=make_aad(r.workspace_id, r.config_id, r.name, r.version),
                                 envelope=r.ciphertext or "") for r in rows]

    def replace(self, record: SecretRecord, new_envelope: str, key_id: str) -> None:
        with self.ws.sessions.begin() as session:
            session.execute(update(Secret).where(Secret.id == record.id, Secret.ciphertext == record.envelope)
                            .values(ciphertext=new_envelope, key_id=key_id))

    def erase_superseded(self) -> int:
        with self.ws.sessions.begin() as session:
            keep = {r.id for r in self._current_rows(session)}
            rows = session.scalars(select(Secret).where(Secret.ciphertext.is_not(None)))
            erased = 0
            for row in rows:
                if row.id not in keep:
                    row.ciphertext = None
                    erased += 1
            return erased

    def referenced_key_ids(self) -> set[str]:
        with self.ws.sessions() as session:
            return set(session.scalars(select(Secret.key_id).where(Secret.ciphertext.is_not(None)).distinct()))


def rotate_key(ws: Workspace, *, actor: str | None = None) -> RotationReport:
    """Create a new primary master key and re-encrypt every current secret version with it (crash-safe:
    running it again after an interruption finishes the job). Not available with ADE_SECRETS_KEY."""
    actor = actor or current_actor()
    store = _key_store(ws.settings, create=True)
    with _secrets_lock(ws, exclusive=True):
        with ws.sessions() as session:
            names = {r.id: (r.workspace_id, r.config_id, r.name, r.version)
                     for r in session.scalars(select(Secret).where(Secret.ciphertext.is_not(None)))}
        result: RotationResult = rotate(store, _TableRecords(ws))
        with ws.sessions.begin() as session:
            _audit(session, "rotate_key", actor=actor, workspace_id=ws.workspace_id, key_id=result.new_key_id)
            for failure in result.failed:
                wid, cid, name, version = names.get(failure.record_id, (ws.workspace_id, None, None, None))
                _audit(session, "decrypt_failed", actor=actor, workspace_id=wid, config_id=cid, name=name,
                       version=version)
    failed = []
    for failure in result.failed:
        _wid, cid, name, version = names.get(failure.record_id, (None, None, "?", None))
        failed.append(f"{name} ({_scope_label(cid)}) v{version}: {failure.message}")
    return RotationReport(new_key_id=result.new_key_id, previous_primary=result.previous_primary,
                          reencrypted=result.reencrypted, erased=result.erased, retired=list(result.retired),
                          kept=list(result.kept), failed=failed, source=store.describe_source())


# --------------------------------------------------------------------------------------- doctor


def check(settings: Settings, ws: Workspace | None = None) -> SecretsCheck:
    """Key source in use, and (given a workspace) secrets whose key is missing (`secrets.unknown_key`).

    Creates nothing: `ade doctor` must not generate keys.
    """
    source = key_source(settings)
    if source.startswith("unusable: "):
        return SecretsCheck(status="fail", source=source, summary=f"master keys: {source}",
                            fix=source.removeprefix("unusable: "))
    try:
        store = _key_store(settings, create=False)
        created = store.exists() if isinstance(store, FileKeyStore) else (
            store.has_keys() if isinstance(store, OsKeyringStore) else True)
        if created:
            store.load()  # permissions, owner, format
    except SecretsError as exc:
        return SecretsCheck(status="fail", source=source, summary=f"master keys from {source} are unusable",
                            fix=exc.message)
    problems: list[str] = []
    if ws is not None:
        problems = [f"{i.name} ({i.scope}): {i.problem}" for i in list_secrets(ws, include_unset=False)
                    if i.status != "ok" and i.problem]
    if problems:
        return SecretsCheck(status="warn", source=source, summary=f"master keys from {source}; "
                            f"{len(problems)} secret(s) cannot be decrypted",
                            fix="set them again with 'ade secret set NAME'", problems=problems)
    return SecretsCheck(status="ok", source=source, summary=f"master keys from {source}")


def doctor_check(settings: Settings) -> SecretsCheck:
    """`check` with the workspace opened when its database already exists (doctor never creates one)."""
    db_file = Path(settings.data_dir) / "ade.sqlite"
    if settings.database_url is None and not db_file.exists():
        return check(settings)
    from ade_engine.services.workspace import open_workspace

    try:
        with open_workspace(settings, import_samples=False) as ws:
            return check(settings, ws)
    except AdeError as exc:
        result = check(settings)
        result.problems.append(f"workspace not readable: {exc.message}")
        return result

