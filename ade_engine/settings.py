"""The one settings object (pydantic-settings, prefix `ADE_`); the only module that reads `os.environ`.

Build it once with `load_settings()` and pass it down. Tests use `isolated_settings(tmp_path)`, which
ignores the process environment so a developer's own `ADE_*` variables cannot leak into a test.

An `ADE_*` variable that nothing reads (a misspelt name) is reported once per process on stderr with the
closest known name; with `ADE_STRICT_SETTINGS=1` it is a `settings_invalid` error instead. Checks that look
at the machine (does `ADE_JOB_USER` exist…) are in `services.startup.check_startup`.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ade_engine.errors import AdeError

ENV_PREFIX = "ADE_"
SandboxLevel = Literal["auto", "strict", "standard", "basic", "reduced"]
_KEY_ID = re.compile(r"^[a-z0-9-]{1,32}$")
# Fields whose raw value must never be echoed back in an error message.
_SENSITIVE = {"secrets_key", "database_url"}
# `ADE_*` names that other parts read legitimately, so they are not "unknown": the job process's own
# environment (set by jobs/launcher.build_child_env) and the workstation's settings (ade_tui/settings.py,
# which checks its own names).
_OTHER_NAMES = frozenset({"ADE_JOB_ID", "ADE_JOB_DIR", "ADE_TRACE_ID", "ADE_NETWORK"})
_OTHER_PREFIXES = ("ADE_TUI_",)


def default_data_dir() -> Path:
    """The platform's per-user data directory (e.g. `~/.local/share/ade`)."""
    return Path(platformdirs.user_data_dir("ade", appauthor=False))


class Settings(BaseSettings):
    """Operator settings of jobs.md §11 plus paths. Every value is validated at start-up."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, case_sensitive=False, extra="ignore", validate_default=True, frozen=True
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    # Not in jobs.md §11: how long a SQLite write waits for another process's lock before `database_busy`.
    database_busy_timeout_seconds: float = Field(10.0, ge=0.1, le=3600)
    worker_lease_seconds: int = Field(30, ge=2, le=3600)
    max_concurrency: int = Field(2, ge=1, le=64)
    embedded_worker: bool = True
    queue_size: int = Field(1000, ge=1, le=1_000_000)
    # 600, not jobs.md §11's 300: a 1M-row x 20-column workbook takes ~200 CPU-seconds (docs/sandbox.md, Limits).
    job_timeout_seconds: int = Field(600, ge=1, le=7 * 24 * 3600)
    worker_mem_mb: int = Field(512, ge=64, le=1_048_576)
    worker_fsize_mb: int = Field(100, ge=1, le=1_048_576)
    # Not in jobs.md §11: the job's CPU-time limit (RLIMIT_CPU) in seconds; 0 = the wall-clock limit + 5 s.
    worker_cpu_seconds: int = Field(0, ge=0, le=7 * 24 * 3600)
    worker_nofile: int = Field(256, ge=32, le=65_536)
    worker_log_mb: int = Field(10, ge=1, le=10_240)
    runtime_network_allowed: bool = False
    cancel_grace_seconds: float = Field(5, ge=0, le=600)
    sandbox: SandboxLevel = "auto"
    job_user: str | None = None
    # Not in jobs.md §11: interpreter for job processes (default: this one). Needed when ADE_JOB_USER cannot
    # run this interpreter (e.g. a venv under a 0700 /root); same minor version, the runtime holds cp3XY wheels.
    job_python: Path | None = None
    safe_mode: bool = False
    wheelhouse: Path | None = None
    pip_cache_dir: Path | None = None
    # Not in jobs.md §11: let prepare build source distributions (runs their build code, sandboxed). Unsafe.
    prepare_allow_sdist: bool = False
    secrets_keyring: Path | None = None
    secrets_key: SecretStr | None = None
    job_retention_days: int = Field(30, ge=0, le=36_500)
    job_retention_max_gb: float = Field(10, ge=0)
    document_retention_days: int = Field(30, ge=0, le=36_500)
    job_auto_retry: int = Field(0, ge=0, le=10)
    input_max_uncompressed_mb: int = Field(1024, ge=1, le=1_048_576)
    input_max_ratio: int = Field(200, ge=1, le=100_000)
    reader_inmemory_max_mb: int = Field(64, ge=1, le=1_048_576)
    # Not in jobs.md §11: where first start finds the packages it imports (empty = none).
    sample_configs_dir: Path | None = None
    # Not in jobs.md §11: an ADE_* variable that nothing reads is an error instead of a warning.
    strict_settings: bool = False

    @field_validator("data_dir", "wheelhouse", "pip_cache_dir", "secrets_keyring", "sample_configs_dir", "job_python",
                     mode="before")
    @classmethod
    def _expand_path(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return Path(value).expanduser()

    @field_validator("data_dir")
    @classmethod
    def _data_dir_usable(cls, value: Path | None) -> Path:
        if value is None:
            return default_data_dir()
        if value.exists() and not value.is_dir():
            raise ValueError("exists but is not a directory; point it at a directory")
        return value.absolute()

    @field_validator("database_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value.strip())
        except ArgumentError:
            raise ValueError("is not a SQLAlchemy URL; use sqlite:///PATH or postgresql://USER@HOST/DB") from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(f"uses '{url.get_backend_name()}'; only sqlite and postgresql are supported")
        return value.strip()

    @field_validator("job_user")
    @classmethod
    def _job_user(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("secrets_key")
    @classmethod
    def _secrets_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        key_id, sep, b64 = value.get_secret_value().strip().partition(":")
        if not sep or not _KEY_ID.match(key_id):
            raise ValueError("must be '<key_id>:<base64 key>' with key_id matching [a-z0-9-]{1,32}")
        try:
            raw = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("key part is not valid base64") from None
        if len(raw) != 32:
            raise ValueError(f"key must decode to 32 bytes (got {len(raw)})")
        return value

    @model_validator(mode="after")
    def _derived(self) -> Settings:
        if self.pip_cache_dir is None:
            object.__setattr__(self, "pip_cache_dir", self.data_dir / "cache" / "pip")
        return self

    # Derived values -----------------------------------------------------------------------------
    @property
    def db_url(self) -> str:
        """The effective database URL (SQLite in the data dir unless `ADE_DATABASE_URL` is set)."""
        return self.database_url or f"sqlite:///{self.data_dir / 'ade.sqlite'}"

    @property
    def configs_dir(self) -> Path:
        return self.data_dir / "configs"

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"

    @property
    def documents_dir(self) -> Path:
        return self.data_dir / "documents"

    @property
    def envs_dir(self) -> Path:
        return self.data_dir / "envs"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def runtime_dir(self) -> Path:
        return self.data_dir / "runtime"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"


class _IsolatedSettings(Settings):
    """Settings built only from explicit arguments: no environment, no dotenv."""

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource, *_: Any, **__: Any
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def _describe(exc: ValidationError, *, from_env: bool) -> AdeError:
    problems = []
    for err in exc.errors(include_url=False):
        field = str(err["loc"][0]) if err["loc"] else "settings"
        name = f"{ENV_PREFIX}{field.upper()}" if from_env else field
        msg = err["msg"].removeprefix("Value error, ")
        if field in _SENSITIVE or err["type"] == "missing":
            problems.append(f"{name}: {msg}")
        else:
            problems.append(f"{name}={err.get('input')!r}: {msg}")
    message = "invalid settings: " + "; ".join(problems) + " (fix or unset these variables)"
    return AdeError(message, code="settings_invalid", details={"problems": problems})


def known_names() -> list[str]:
    """Every `ADE_*` environment variable some part of ADE reads (the `ADE_TUI_*` family aside)."""
    return sorted({ENV_PREFIX + name.upper() for name in Settings.model_fields} | _OTHER_NAMES)


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """One sentence for each `ADE_*` variable of `environ` (default: the process environment) that nothing
    reads, naming the closest known name when there is one."""
    env = os.environ if environ is None else environ
    known = known_names()
    out = []
    for raw in sorted(env):
        name = raw.upper()
        if not name.startswith(ENV_PREFIX) or name in known or name.startswith(_OTHER_PREFIXES):
            continue
        # Compared without the shared prefix, which would make every name look alike.
        close = difflib.get_close_matches(name[len(ENV_PREFIX):], [k[len(ENV_PREFIX):] for k in known], n=1,
                                          cutoff=0.6)
        hint = f"did you mean {ENV_PREFIX}{close[0]}?" if close else "no ADE setting has a similar name"
        out.append(f"{raw} is not an ADE setting and is ignored; {hint}")
    return out


_warned: set[str] = set()


def _stderr_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        print(f"warning: {message} (ADE_STRICT_SETTINGS=1 makes this an error)", file=sys.stderr, flush=True)


def load_settings(*, warn: Callable[[str], None] | None = _stderr_once, **overrides: Any) -> Settings:
    """Read `ADE_*` from the environment (explicit overrides win); bad values raise `settings_invalid`.

    Unknown `ADE_*` names go to `warn` (default: stderr, once per process; None: say nothing), or raise
    `settings_invalid` when `ADE_STRICT_SETTINGS` is on."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise _describe(exc, from_env=True) from None
    unknown = unknown_variables()
    if unknown and settings.strict_settings:
        raise AdeError("unknown settings (ADE_STRICT_SETTINGS is on): " + "; ".join(unknown)
                       + " (rename or unset these variables)", code="settings_invalid",
                       details={"problems": unknown})
    if warn is not None:
        for message in unknown:
            warn(message)
    return settings


def isolated_settings(data_dir: Path | str, **overrides: Any) -> Settings:
    """Settings pointing everything at `data_dir`, ignoring the environment (for tests and embedding)."""
    try:
        return _IsolatedSettings(data_dir=data_dir, **overrides)
    except ValidationError as exc:
        raise _describe(exc, from_env=False) from None
