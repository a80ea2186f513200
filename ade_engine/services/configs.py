"""Config registry: create, clone, import, export, publish, activate, archive, history, validate.

Every function takes an open `Workspace` and returns pydantic models (`ConfigInfo`, `VersionInfo`, …),
so the CLI and the TUI show the same thing. A version's files live in
`${ADE_DATA_DIR}/configs/<config_id>/<config_version_id>/`; a draft's files are editable (see
`services.drafts`), a published version's files are read-only and their SHA-256 hashes are recorded:
reading one re-hashes it and reports tampering (`config_tampered`).

Version references (`ref`) accepted everywhere:
  `<config_version_id>` (ULID) · `<config_id>@<number>` · `<config_id>@draft` · `<config_id>@active` ·
  `<config_id>@latest` (newest published) · `<config_id>` (meaning depends on the operation: the draft
  for editing and publishing, the newest published version for activation, the newest version otherwise).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import ulid
from pydantic import BaseModel
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ade_engine.errors import AdeError, ConfigInvalid, Conflict, NotFound
from ade_engine.packages import archive, layout
from ade_engine.services.workspace import Workspace, current_actor
from ade_engine.store.models import Config, ConfigVersion, WorkspaceConfigState, utcnow

CONFIG_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
ULID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
Want = Literal["draft", "published", "any"]
Progress = Callable[[str], None]


# --------------------------------------------------------------------------------------- models


class Diagnostic(BaseModel):
    path: str
    level: str
    code: str
    message: str
    hint: str | None = None
    line: int | None = None


class VersionInfo(BaseModel):
    config_version_id: str
    config_id: str
    number: int
    status: str
    title: str | None
    package_version: str | None
    content_hash: str | None
    deps_hash: str | None
    file_hashes: dict[str, str]
    base_version_id: str | None
    source: str | None
    created_at: datetime
    published_at: datetime | None
    archived: bool
    active: bool
    path: str

    @property
    def label(self) -> str:
        return f"{self.config_id}@{self.number}"


class ConfigInfo(BaseModel):
    config_id: str
    title: str
    created_at: datetime
    archived: bool
    active_version_id: str | None
    draft_version_id: str | None
    latest_published_id: str | None
    version_count: int


class ConfigDetail(ConfigInfo):
    versions: list[VersionInfo]


class ActiveState(BaseModel):
    workspace_id: str
    config_id: str
    config_version_id: str
    previous_version_id: str | None
    activated_at: datetime


class ValidationReport(BaseModel):
    target: str
    diagnostics: list[Diagnostic]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.level == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors


class TamperedFile(BaseModel):
    path: str
    problem: Literal["modified", "missing", "unexpected"]
    expected: str | None
    actual: str | None


# --------------------------------------------------------------------------------------- helpers


def version_dir(ws: Workspace, config_id: str, version_id: str) -> Path:
    return ws.settings.configs_dir / config_id / version_id


def _staging_dir(ws: Workspace, config_id: str) -> Path:
    parent = ws.settings.configs_dir / config_id
    parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return parent / f".staging-{ulid.new().str}"


def _version_path(ws: Workspace, row: ConfigVersion) -> Path:
    return version_dir(ws, row.config_id, row.config_version_id)


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")[:64].strip("-_")
    return slug or "config"


def check_config_id(config_id: str) -> str:
    if not CONFIG_ID_RE.match(config_id):
        raise AdeError(
            f"invalid config id {config_id!r}: use 1-64 lower-case letters, digits, '-' or '_', "
            "starting with a letter or digit",
            code="config_id_invalid",
            details={"config_id": config_id},
        )
    return config_id


def _read_manifest_dict(pkg: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((pkg / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _manifest_info(manifest: dict[str, Any] | None) -> tuple[str | None, str | None]:
    info = manifest.get("info") if isinstance(manifest, dict) else None
    if not isinstance(info, dict):
        return None, None
    title, version = info.get("title"), info.get("version")
    return (title if isinstance(title, str) else None, version if isinstance(version, str) else None)


def _active_row(session: Session, ws: Workspace) -> WorkspaceConfigState | None:
    return session.get(WorkspaceConfigState, ws.workspace_id)


def _to_info(ws: Workspace, row: ConfigVersion, config: Config, active_id: str | None) -> VersionInfo:
    title, pkg_version = _manifest_info(row.manifest_json)
    return VersionInfo(
        config_version_id=row.config_version_id,
        config_id=row.config_id,
        number=row.number,
        status=row.status,
        title=title,
        package_version=pkg_version,
        content_hash=row.content_hash,
        deps_hash=row.deps_hash,
        file_hashes=dict(row.file_hashes or {}),
        base_version_id=row.base_version_id,
        source=row.source,
        created_at=row.created_at,
        published_at=row.published_at,
        archived=row.archived_at is not None or config.archived_at is not None,
        active=row.config_version_id == active_id,
        path=str(_version_path(ws, row)),
    )


def _config_row(session: Session, ws: Workspace, config_id: str) -> Config:
    row = session.get(Config, config_id)
    if row is None or row.workspace_id != ws.workspace_id or row.deleted_at is not None:
        raise NotFound(
            f"config {config_id!r} not found in workspace {ws.name!r}; see 'ade config list'",
            details={"config_id": config_id},
        )
    return row


def _live_versions(session: Session, config_id: str) -> list[ConfigVersion]:
    return list(
        session.scalars(
            select(ConfigVersion)
            .where(ConfigVersion.config_id == config_id, ConfigVersion.deleted_at.is_(None))
            .order_by(ConfigVersion.number)
        )
    )


def _resolve(session: Session, ws: Workspace, ref: str, want: Want = "any") -> tuple[ConfigVersion, Config]:
    """Find the version a reference names (see module docstring)."""
    ref = ref.strip()
    if ULID_RE.match(ref):
        row = session.get(ConfigVersion, ref)
        if row is None or row.deleted_at is not None:
            raise NotFound(f"config version {ref} not found; see 'ade config history CONFIG'", details={"ref": ref})
        return row, _config_row(session, ws, row.config_id)
    config_id, _, selector = ref.partition("@")
    config = _config_row(session, ws, config_id)
    versions = _live_versions(session, config_id)
    drafts = [v for v in versions if v.status == "draft"]
    published = [v for v in versions if v.status == "published"]
    row: ConfigVersion | None
    if not selector:
        if want == "draft":
            row = drafts[-1] if drafts else None
        elif want == "published":
            row = published[-1] if published else None
        else:
            row = versions[-1] if versions else None
    elif selector == "draft":
        row = drafts[-1] if drafts else None
    elif selector == "latest":
        row = published[-1] if published else None
    elif selector == "active":
        state = _active_row(session, ws)
        row = next((v for v in versions if state and v.config_version_id == state.config_version_id), None)
    elif selector.isdigit():
        row = next((v for v in versions if v.number == int(selector)), None)
    else:
        raise AdeError(
            f"cannot read version reference {ref!r}: use CONFIG, CONFIG@N, CONFIG@draft, CONFIG@latest, "
            "CONFIG@active or a version id",
            code="ref_invalid",
            details={"ref": ref},
        )
    if row is None:
        what = {"draft": "no draft", "published": "no published version"}.get(want, "no such version")
        hint = "create one with 'ade config clone'" if want == "draft" or selector == "draft" else "see 'ade config history'"
        raise NotFound(f"{ref}: {what}; {hint}", details={"ref": ref})
    return row, config


def _require_status(row: ConfigVersion, want: Want, action: str) -> None:
    if want == "draft" and row.status != "draft":
        raise AdeError(
            f"cannot {action} {row.config_id}@{row.number}: it is published and immutable; "
            f"make a draft with 'ade config clone {row.config_id}@{row.number}'",
            code="version_immutable",
            details={"config_version_id": row.config_version_id},
        )
    if want == "published" and row.status != "published":
        raise AdeError(
            f"cannot {action} {row.config_id}@{row.number}: it is a draft; publish it first "
            f"('ade config publish {row.config_id}')",
            code="version_not_published",
            details={"config_version_id": row.config_version_id},
        )


def _require_writable(config: Config, row: ConfigVersion | None, action: str) -> None:
    if config.archived_at is not None:
        raise AdeError(
            f"cannot {action}: config {config.config_id!r} is archived and read-only; "
            f"'ade config unarchive {config.config_id}' first",
            code="config_archived",
            details={"config_id": config.config_id},
        )
    if row is not None and row.archived_at is not None:
        raise AdeError(
            f"cannot {action}: version {config.config_id}@{row.number} is archived; unarchive it first",
            code="config_archived",
            details={"config_version_id": row.config_version_id},
        )


def _next_number(session: Session, config_id: str) -> int:
    current = session.scalar(select(func.max(ConfigVersion.number)).where(ConfigVersion.config_id == config_id))
    return (current or 0) + 1


def _has_open_draft(session: Session, config_id: str) -> ConfigVersion | None:
    return session.scalars(
        select(ConfigVersion).where(
            ConfigVersion.config_id == config_id,
            ConfigVersion.status == "draft",
            ConfigVersion.deleted_at.is_(None),
        )
    ).first()


def package_hashes(pkg: Path) -> tuple[dict[str, str], str, str | None]:
    """(per-file SHA-256, content_hash, deps_hash) of a package folder."""
    return layout.file_hashes(pkg), layout.content_hash(pkg), layout.deps_hash(pkg)


def _set_tree_mode(root: Path, *, writable: bool) -> None:
    """Published trees are read-only (0444 files, 0555 dirs); drafts are owner-writable."""
    file_mode, dir_mode = (0o644, 0o755) if writable else (0o444, 0o555)
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if not path.is_symlink():
                os.chmod(path, file_mode)
        os.chmod(dirpath, dir_mode)


def _remove_tree(path: Path) -> None:
    if path.exists():
        _set_tree_mode(path, writable=True)
        shutil.rmtree(path)


@contextmanager
def _staged_version(ws: Workspace, config_id: str) -> Iterator[Path]:
    """A staging dir removed unless the caller renamed it into place."""
    staging = _staging_dir(ws, config_id)
    try:
        yield staging
    finally:
        if staging.exists():
            _remove_tree(staging)


def _integrity_error(exc: IntegrityError) -> AdeError:
    text = str(exc.orig) if exc.orig is not None else str(exc)
    if "ade:" in text:
        message = text.split("ade:", 1)[1].strip()
        return Conflict(f"refused by the database: {message}", code="store_constraint", details={"db": text})
    return Conflict(
        f"the workspace database refused the change ({text.splitlines()[0]}); another process may have "
        "changed the same config — retry",
        code="store_conflict",
        details={"db": text},
    )


def _new_version(
    ws: Workspace,
    config_id: str,
    staged: Path,
    *,
    title: str | None,
    source: str,
    base_version_id: str | None,
    new_config: bool,
) -> VersionInfo:
    """Record the staged folder as a new draft of `config_id` (creating the config if asked)."""
    manifest = _read_manifest_dict(staged)
    hashes, chash, dhash = package_hashes(staged)
    version_id = ulid.new().str
    target = version_dir(ws, config_id, version_id)
    with ws.sessions() as session:
        if new_config:
            if session.get(Config, config_id) is not None:
                raise Conflict(
                    f"config {config_id!r} already exists; choose another id (--id NEW_ID)",
                    code="config_exists",
                    details={"config_id": config_id},
                )
            config = Config(
                config_id=config_id,
                workspace_id=ws.workspace_id,
                title=title or _manifest_info(manifest)[0] or config_id,
            )
            session.add(config)
            session.flush()
        else:
            config = _config_row(session, ws, config_id)
            _require_writable(config, None, "add a draft")
            existing = _has_open_draft(session, config_id)
            if existing is not None:
                raise Conflict(
                    f"config {config_id!r} already has a draft ({config_id}@{existing.number}); edit or publish "
                    f"it, or delete it with 'ade config delete {config_id}@draft'",
                    code="draft_exists",
                    details={"config_version_id": existing.config_version_id},
                )
        now = utcnow()
        row = ConfigVersion(
            config_version_id=version_id,
            config_id=config_id,
            number=_next_number(session, config_id),
            status="draft",
            base_version_id=base_version_id,
            manifest_json=manifest,
            file_hashes=hashes,
            content_hash=chash,
            deps_hash=dhash,
            created_at=now,
            updated_at=now,
            created_by=current_actor(),
            source=source,
        )
        session.add(row)
        try:
            session.flush()
        except IntegrityError as exc:
            raise _integrity_error(exc) from None
        # Files go into place last: a failure above leaves no directory; a failed commit removes it.
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.replace(staged, target)
        try:
            session.commit()
        except Exception:
            session.rollback()
            os.replace(target, staged)  # back to staging; the caller's cleanup removes it
            raise
        return _to_info(ws, row, config, None)


# --------------------------------------------------------------------------------------- queries


def list_configs(ws: Workspace, *, include_archived: bool = False) -> list[ConfigInfo]:
    """Configs of the workspace (archived ones only when asked), sorted by id."""
    with ws.sessions() as session:
        state = _active_row(session, ws)
        query = select(Config).where(Config.workspace_id == ws.workspace_id, Config.deleted_at.is_(None))
        if not include_archived:
            query = query.where(Config.archived_at.is_(None))
        out = []
        for config in session.scalars(query.order_by(Config.config_id)):
            out.append(_config_info(session, config, state))
        return out


def _config_info(session: Session, config: Config, state: WorkspaceConfigState | None) -> ConfigInfo:
    versions = _live_versions(session, config.config_id)
    drafts = [v for v in versions if v.status == "draft"]
    published = [v for v in versions if v.status == "published"]
    return ConfigInfo(
        config_id=config.config_id,
        title=config.title,
        created_at=config.created_at,
        archived=config.archived_at is not None,
        active_version_id=state.config_version_id if state and state.config_id == config.config_id else None,
        draft_version_id=drafts[-1].config_version_id if drafts else None,
        latest_published_id=published[-1].config_version_id if published else None,
        version_count=len(versions),
    )


def show_config(ws: Workspace, config_id: str) -> ConfigDetail:
    """A config with every version (oldest first)."""
    config_id = config_id.partition("@")[0]
    with ws.sessions() as session:
        config = _config_row(session, ws, config_id)
        state = _active_row(session, ws)
        info = _config_info(session, config, state)
        active_id = state.config_version_id if state else None
        versions = [_to_info(ws, v, config, active_id) for v in _live_versions(session, config_id)]
        return ConfigDetail(**info.model_dump(), versions=versions)


def history(ws: Workspace, config_id: str) -> list[VersionInfo]:
    """Every version of a config with its hashes, oldest first."""
    return show_config(ws, config_id).versions


def get_version(ws: Workspace, ref: str, *, want: Want = "any") -> VersionInfo:
    with ws.sessions() as session:
        row, config = _resolve(session, ws, ref, want)
        state = _active_row(session, ws)
        return _to_info(ws, row, config, state.config_version_id if state else None)


def active_version(ws: Workspace) -> VersionInfo | None:
    """The workspace's active version, or None."""
    with ws.sessions() as session:
        state = _active_row(session, ws)
        if state is None:
            return None
        row = session.get(ConfigVersion, state.config_version_id)
        config = session.get(Config, state.config_id)
        assert row is not None and config is not None  # foreign keys
        return _to_info(ws, row, config, state.config_version_id)


def verify_version(ws: Workspace, ref: str) -> list[TamperedFile]:
    """Re-hash a published version's files against the recorded hashes; [] when intact (drafts: [])."""
    info = get_version(ws, ref)
    if info.status != "published":
        return []
    return _compare(Path(info.path), info.file_hashes)


def _compare(pkg: Path, recorded: dict[str, str]) -> list[TamperedFile]:
    problems: list[TamperedFile] = []
    try:
        scan = layout.scan_package(pkg)
    except AdeError:
        return [TamperedFile(path=p, problem="missing", expected=h, actual=None) for p, h in sorted(recorded.items())]
    actual = {f.rel_path: layout.sha256_file(f.path) for f in scan.files}
    for rel in scan.symlinks + scan.special:
        actual[rel] = "not-a-regular-file"
    for rel in sorted(set(recorded) | set(actual)):
        want, got = recorded.get(rel), actual.get(rel)
        if want == got:
            continue
        problem = "missing" if got is None else "unexpected" if want is None else "modified"
        problems.append(TamperedFile(path=rel, problem=problem, expected=want, actual=got))
    return problems


def ensure_intact(ws: Workspace, info: VersionInfo) -> None:
    """Raise `config_tampered` when a published version's files differ from their recorded hashes."""
    if info.status != "published":
        return
    problems = _compare(Path(info.path), info.file_hashes)
    if problems:
        first = problems[0]
        raise AdeError(
            f"{info.label} was changed on disk after publishing ({len(problems)} file(s), e.g. {first.path} "
            f"{first.problem}); published versions are immutable — clone a good version into a new draft",
            code="config_tampered",
            details={"config_version_id": info.config_version_id, "files": [p.model_dump() for p in problems]},
        )


def package_dir(ws: Workspace, ref: str, *, want: Want = "any") -> Path:
    """The folder of a version, hash-checked when published (for job staging and readers)."""
    info = get_version(ws, ref, want=want)
    ensure_intact(ws, info)
    return Path(info.path)


# --------------------------------------------------------------------------------------- validation


def _diagnostics(raw: list[Any]) -> list[Diagnostic]:
    out = []
    for d in raw:
        data = d.model_dump() if hasattr(d, "model_dump") else d if isinstance(d, dict) else vars(d)
        out.append(Diagnostic(**{k: data.get(k) for k in Diagnostic.model_fields if k in data}))
    return out


def validate_dir(pkg: Path, *, dynamic: bool = True, vendor_dir: Path | None = None) -> list[Diagnostic]:
    """Static (and dynamic, when static found no errors) validation of a package folder; `vendor_dir` is its
    prepared environment, if any (see `validate_prepared`, which finds or makes it)."""
    from ade_engine.packages import validation

    found = _diagnostics(validation.validate_static(pkg, vendor_dir=vendor_dir))
    if dynamic and not any(d.level == "error" for d in found):
        found += _diagnostics(validation.validate_dynamic(pkg, vendor_dir=vendor_dir))
    return found


def _package_deps_hash(pkg: Path) -> str | None:
    try:
        return layout.deps_hash(pkg)
    except (OSError, UnicodeDecodeError):
        return None  # unreadable requirements.txt: static validation says so


def prepare_package(settings: Any, pkg: Path, *, on_progress: Progress | None = None) -> Path | None:
    """Install the package's `requirements.txt` into `envs/<deps_hash>/vendor` unless that is already done,
    and return that folder (None without requirements). `on_progress(line)` hears pip's progress.
    Raises `prepare_failed` with pip's reason."""
    from ade_engine.jobs.prepare import ensure_prepared

    return ensure_prepared(settings, pkg, _package_deps_hash(pkg), on_progress=on_progress)


def validate_prepared(settings: Any, pkg: Path, *, dynamic: bool = True, on_progress: Progress | None = None,
                      raise_prepare_errors: bool = False, prepare: bool = True) -> list[Diagnostic]:
    """Validation against the package's prepared environment (config-packages.md §1, §6).

    Static checks first (imports resolved against the environment when it is prepared). With `dynamic` and no
    static error, a package with `requirements.txt` is prepared (once per deps_hash; `on_progress` hears it),
    the static checks run again against the installed modules, then the dynamic probes import the scripts
    with that environment on `sys.path`. A failed prepare is an error diagnostic on `requirements.txt`, or
    raised as `prepare_failed` with `raise_prepare_errors`. `prepare=False` (live validation on every save)
    uses the environment only when it is already prepared and never runs pip."""
    from ade_engine.jobs.prepare import prepared_vendor

    deps = _package_deps_hash(pkg)
    vendor = prepared_vendor(settings, deps)
    found = validate_dir(pkg, dynamic=False, vendor_dir=vendor)
    if not dynamic or any(d.level == "error" for d in found):
        return found
    if deps and vendor is None and prepare:
        try:
            vendor = prepare_package(settings, pkg, on_progress=on_progress)
        except AdeError as exc:
            if raise_prepare_errors:
                raise
            return found + [Diagnostic(path="requirements.txt", level="error", code=exc.code, message=exc.message,
                                       hint="fix requirements.txt or make the wheels available (ADE_WHEELHOUSE); "
                                            "the full pip log is named in the message")]
        found = validate_dir(pkg, dynamic=False, vendor_dir=vendor)
        if any(d.level == "error" for d in found):
            return found
    from ade_engine.packages import validation

    return found + _diagnostics(validation.validate_dynamic(pkg, vendor_dir=vendor))


def validate_version(ws: Workspace, ref: str, *, dynamic: bool = True,
                     on_progress: Progress | None = None) -> ValidationReport:
    """Validate a stored version; the dynamic part prepares its requirements first (see `validate_prepared`)."""
    info = get_version(ws, ref)
    ensure_intact(ws, info)
    dynamic = dynamic and not ws.settings.safe_mode
    return ValidationReport(target=info.label, diagnostics=validate_prepared(
        ws.settings, Path(info.path), dynamic=dynamic, on_progress=on_progress))


def _refuse_errors(label: str, diags: list[Diagnostic], action: str) -> None:
    errors = [d for d in diags if d.level == "error"]
    if errors:
        first = errors[0]
        raise ConfigInvalid(
            f"cannot {action} {label}: {len(errors)} validation error(s), first: {first.path}: {first.message}; "
            f"run 'ade config validate {label}' for all",
            details={"diagnostics": [d.model_dump() for d in diags]},
        )


# --------------------------------------------------------------------------------------- creation


def create_config(
    ws: Workspace, config_id: str, *, template: str = "default", title: str | None = None
) -> VersionInfo:
    """A new config whose first draft is a copy of a template package."""
    check_config_id(config_id)
    with ws.sessions() as session:
        if session.get(Config, config_id) is not None:
            raise Conflict(f"config {config_id!r} already exists; choose another id", code="config_exists",
                           details={"config_id": config_id})
    with _staged_version(ws, config_id) as staged:
        init_package(staged, template=template, title=title or config_id)
        return _new_version(ws, config_id, staged, title=title, source=f"template:{template}",
                            base_version_id=None, new_config=True)


def init_package(dest: Path, *, template: str = "default", title: str | None = None) -> Path:
    """Create a package folder from a bundled template (the packages module's `init_package`)."""
    try:
        from ade_engine.packages.templates import init_package as init  # type: ignore[attr-defined]
    except ImportError:
        from ade_engine.packages import init_package as init
    return init(dest, template=template, title=title)


def _patch_title(pkg: Path, title: str) -> None:
    manifest = _read_manifest_dict(pkg)
    if manifest is None or not isinstance(manifest.get("info"), dict):
        return
    manifest["info"]["title"] = title
    (pkg / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def clone(ws: Workspace, source_ref: str, *, new_config_id: str | None = None, title: str | None = None) -> VersionInfo:
    """Copy a version into a new draft: of a new config (`new_config_id`) or of the same config (roll back)."""
    src = get_version(ws, source_ref)
    ensure_intact(ws, src)
    target_id = check_config_id(new_config_id) if new_config_id else src.config_id
    with _staged_version(ws, target_id) as staged:
        archive.copy_folder(Path(src.path), staged)
        if title:
            _patch_title(staged, title)
        return _new_version(
            ws, target_id, staged, title=title, source=f"clone:{src.config_version_id}",
            base_version_id=src.config_version_id, new_config=new_config_id is not None,
        )


def _unique_config_id(ws: Workspace, base: str) -> str:
    base = slugify(base)
    with ws.sessions() as session:
        candidate, n = base, 2
        while session.get(Config, candidate) is not None:
            candidate = f"{base[:60]}-{n}"
            n += 1
        return candidate


def import_package(
    ws: Workspace, source: Path | str, *, config_id: str | None = None, into: str | None = None
) -> VersionInfo:
    """Import a package zip or folder as a draft: of a new config, or of an existing one (`into`).

    Unsafe archives are refused (`archive_unsafe`) before anything is written.
    """
    source = Path(source)
    if into:
        target_id, new_config = into, False
    else:
        stem = source.name[:-4] if source.name.endswith(".zip") else source.name
        target_id = check_config_id(config_id) if config_id else _unique_config_id(ws, stem)
        new_config = True
    with _staged_version(ws, target_id) as staged:
        archive.import_into(source, staged)
        return _new_version(ws, target_id, staged, title=None, source=f"import:{source.name}",
                            base_version_id=None, new_config=new_config)


def export_version(ws: Workspace, ref: str, dest: Path | str | None = None) -> Path:
    """Write a version as a deterministic zip (default `./<config_id>-<number>.zip`); returns the path."""
    info = get_version(ws, ref)
    ensure_intact(ws, info)
    target = Path(dest) if dest is not None else Path.cwd() / f"{info.config_id}-{info.number}.zip"
    if target.is_dir() or str(dest).endswith(("/", os.sep)):
        target = target / f"{info.config_id}-{info.number}.zip"
    return archive.export_zip(Path(info.path), target)


# --------------------------------------------------------------------------------------- lifecycle


def publish(ws: Workspace, ref: str, *, on_progress: Progress | None = None) -> VersionInfo:
    """Freeze a draft: validate (static, prepare its requirements, dynamic), record hashes, make files
    read-only. `on_progress(line)` hears the prepare step; a failed prepare raises `prepare_failed`."""
    from ade_engine.services.drafts import draft_lock

    with ws.sessions() as session:
        row, config = _resolve(session, ws, ref, "draft")
        _require_status(row, "draft", "publish")
        _require_writable(config, row, "publish")
        version_id, config_id = row.config_version_id, row.config_id
        label = f"{row.config_id}@{row.number}"
        pkg = _version_path(ws, row)
    with draft_lock(ws, pkg):
        # ADE_SAFE_MODE: no package code runs, so only the static checks gate publishing.
        _refuse_errors(label, validate_prepared(ws.settings, pkg, dynamic=not ws.settings.safe_mode,
                                                on_progress=on_progress, raise_prepare_errors=True), "publish")
        hashes, chash, dhash = package_hashes(pkg)
        manifest = _read_manifest_dict(pkg)
        from ade_engine.services.secrets import refuse_unset

        refuse_unset(ws, config_id, manifest, label=label, action="publish")  # secrets.unset
        _set_tree_mode(pkg, writable=False)
        try:
            with ws.sessions.begin() as session:
                row = session.get(ConfigVersion, version_id)
                if row is None or row.status != "draft":
                    raise Conflict(f"{label} changed while publishing (now {row.status if row else 'deleted'})",
                                   details={"config_version_id": version_id})
                now = utcnow()
                row.status, row.published_at, row.updated_at = "published", now, now
                row.file_hashes, row.content_hash, row.deps_hash, row.manifest_json = hashes, chash, dhash, manifest
        except BaseException:
            _set_tree_mode(pkg, writable=True)
            raise
    return get_version(ws, version_id)


def activate(ws: Workspace, ref: str) -> ActiveState:
    """Make a published version the workspace's one active version; other versions are not touched."""
    with ws.sessions() as session:
        row, config = _resolve(session, ws, ref, "published")
        _require_status(row, "published", "activate")
        if config.archived_at is not None or row.archived_at is not None:
            raise AdeError(
                f"cannot activate {row.config_id}@{row.number}: it is archived; unarchive it first",
                code="config_archived",
                details={"config_version_id": row.config_version_id},
            )
        version_id, config_id = row.config_version_id, row.config_id
        label, manifest = f"{row.config_id}@{row.number}", row.manifest_json
    _refuse_engine(label, manifest, "activate")
    ensure_intact(ws, get_version(ws, version_id))
    from ade_engine.services.secrets import refuse_unset

    refuse_unset(ws, config_id, manifest, label=label, action="activate")  # secrets.unset
    now = utcnow()
    with ws.sessions.begin() as session:
        previous = _active_row(session, ws)
        previous_id = previous.config_version_id if previous else None
        values = dict(workspace_id=ws.workspace_id, config_id=config_id, config_version_id=version_id,
                      activated_at=now, activated_by=current_actor())
        insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
        stmt = insert(WorkspaceConfigState).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[WorkspaceConfigState.workspace_id],
            set_={k: v for k, v in values.items() if k != "workspace_id"},
        )
        try:
            session.execute(stmt)
        except IntegrityError as exc:
            raise _integrity_error(exc) from None
    return ActiveState(workspace_id=ws.workspace_id, config_id=config_id, config_version_id=version_id,
                       previous_version_id=previous_id, activated_at=now)


def _refuse_engine(label: str, manifest: dict[str, Any] | None, action: str) -> None:
    """`engine_unsupported` when this engine does not satisfy the version's `info.requires_engine`."""
    from ade_engine.packages import engine_requirement

    spec = engine_requirement.requirement_of(manifest)
    why = engine_requirement.problem(spec)
    if why:
        raise AdeError(f"cannot {action} {label}: {why}; {engine_requirement.HINT}", code=engine_requirement.CODE,
                       details={"requires_engine": spec,
                                "engine_version": engine_requirement.current_engine_version()})


def _set_archived(ws: Workspace, ref: str, archived: bool) -> ConfigInfo | VersionInfo:
    action = "archive" if archived else "unarchive"
    with ws.sessions.begin() as session:
        state = _active_row(session, ws)
        if "@" in ref or ULID_RE.match(ref):
            row, config = _resolve(session, ws, ref)
            if archived and state and state.config_version_id == row.config_version_id:
                raise AdeError(
                    f"cannot archive {row.config_id}@{row.number}: it is the active version; activate another first",
                    code="config_active", details={"config_version_id": row.config_version_id},
                )
            row.archived_at = utcnow() if archived else None
            session.flush()
            return _to_info(ws, row, config, state.config_version_id if state else None)
        config = _config_row(session, ws, ref)
        if archived and state and state.config_id == config.config_id:
            raise AdeError(
                f"cannot {action} {config.config_id}: it holds the active version; activate another config first",
                code="config_active", details={"config_id": config.config_id},
            )
        config.archived_at = utcnow() if archived else None
        session.flush()
        return _config_info(session, config, state)


def archive_config(ws: Workspace, ref: str) -> ConfigInfo | VersionInfo:
    """Archive a config (`CONFIG`) or one version (`CONFIG@N`): read-only, cannot be activated."""
    return _set_archived(ws, ref, True)


def unarchive_config(ws: Workspace, ref: str) -> ConfigInfo | VersionInfo:
    return _set_archived(ws, ref, False)


def delete_draft(ws: Workspace, ref: str) -> VersionInfo:
    """Delete a draft: its row and its files. Published versions are never deleted."""
    from ade_engine.services.drafts import draft_lock

    with ws.sessions() as session:
        row, config = _resolve(session, ws, ref, "draft")
        _require_status(row, "draft", "delete")
        info = _to_info(ws, row, config, None)
    pkg = Path(info.path)
    trash = pkg.parent / f".trash-{ulid.new().str}"
    with draft_lock(ws, pkg):
        if pkg.exists():
            os.replace(pkg, trash)
        try:
            with ws.sessions.begin() as session:
                row = session.get(ConfigVersion, info.config_version_id)
                if row is not None:
                    session.delete(row)
                    session.flush()
                # A config whose only version was this draft goes with it (unless something refers to it).
                if not session.scalar(select(func.count()).where(ConfigVersion.config_id == info.config_id)):
                    try:
                        with session.begin_nested():
                            session.execute(delete(Config).where(Config.config_id == info.config_id))
                    except IntegrityError:
                        pass
        except BaseException:
            if trash.exists():
                os.replace(trash, pkg)
            raise
    _remove_tree(trash)
    return info
