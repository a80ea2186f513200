"""Master keys: the key ring and where it lives (secrets.md §3 and §9).

Sources, first that is set or usable wins:
1. ``ADE_SECRETS_KEY`` (``<key_id>:<base64 32 bytes>``): the only key; rotation unavailable.
2. The file named by ``ADE_SECRETS_KEYRING`` (must exist; e.g. a mounted container secret).
3. The OS keyring (``keyring`` package, service ``ade``) when its backend is a real one.
4. ``${data_dir}/keys/keyring.json``: 0600 file in a 0700 directory, created on first use.

Between 3 and 4 we never orphan keys: an OS keyring that holds no ADE keys does not win over an existing
key file, and once keys were created in the OS keyring (a marker file records it, without key material) an
unusable keyring is an error instead of a silent switch to a fresh key file.

Key material never appears in messages, reprs or logs.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ade_engine.secrets.envelope import KEY_BYTES, KEY_ID_RE, decrypt, encrypt, validate_key_id
from ade_engine.secrets.errors import KeySourceError, SecretsError

KEYRING_SERVICE = "ade"
KEYRING_USERNAME = "master-keys"
KEY_FILE_NAME = "keyring.json"
MARKER_FILE_NAME = "os-keyring.json"


# --------------------------------------------------------------------------------------------- key ring


@dataclass(frozen=True)
class KeyRing:
    """A primary key id plus every key this installation can decrypt with. Immutable; `with_*` return copies."""

    primary: str
    keys: Mapping[str, bytes] = field(repr=False)

    def __post_init__(self) -> None:
        keys = dict(self.keys)
        for key_id, key in keys.items():
            validate_key_id(key_id)
            if not isinstance(key, bytes) or len(key) != KEY_BYTES:
                raise SecretsError(f"master key {key_id!r} must be {KEY_BYTES} bytes", code="secrets.key_length")
        if self.primary not in keys:
            raise SecretsError(
                f"primary master key {self.primary!r} is not among the keys ({', '.join(sorted(keys)) or 'none'})",
                code="secrets.key_source",
            )
        object.__setattr__(self, "keys", MappingProxyType(keys))

    def __repr__(self) -> str:
        return f"KeyRing(primary={self.primary!r}, key_ids={sorted(self.keys)!r})"

    @property
    def key_ids(self) -> list[str]:
        return sorted(self.keys)

    def key_for(self, key_id: str) -> bytes | None:
        return self.keys.get(key_id)

    def encrypt(self, plaintext: str, aad: str) -> str:
        """Encrypt with the primary key."""
        return encrypt(self.keys[self.primary], self.primary, plaintext, aad)

    def decrypt(self, envelope: str, aad: str) -> str:
        return decrypt(self, envelope, aad)

    def verify(self, envelope: str, aad: str) -> None:
        """Raise what `decrypt` would raise for a bad envelope, without decrypting (see `integrity`)."""
        from ade_engine.secrets.integrity import verify

        verify(self, envelope, aad)

    def with_key(self, key_id: str, key: bytes) -> KeyRing:
        """A copy with one more (non-primary) key."""
        if key_id in self.keys:
            raise SecretsError(f"master key id {key_id!r} already exists", code="secrets.key_id")
        return KeyRing(self.primary, {**self.keys, key_id: key})

    def with_primary(self, key_id: str) -> KeyRing:
        return KeyRing(key_id, self.keys)

    def without(self, key_ids: Iterable[str]) -> KeyRing:
        drop = set(key_ids)
        if self.primary in drop:
            raise SecretsError("the primary master key cannot be retired", code="secrets.key_source")
        return KeyRing(self.primary, {k: v for k, v in self.keys.items() if k not in drop})

    def to_json(self) -> str:
        doc = {"primary": self.primary, "keys": {k: base64.b64encode(v).decode("ascii") for k, v in self.keys.items()}}
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, *, where: str) -> KeyRing:
        """Parse the `{"primary": id, "keys": {id: base64}}` document; `where` names the source in errors."""
        try:
            doc = json.loads(text)
        except (ValueError, TypeError):
            raise KeySourceError(
                f"{where} is not valid JSON; expected {{\"primary\": \"<key_id>\", \"keys\": {{\"<key_id>\": \"<base64 32 bytes>\"}}}}"
            ) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("primary"), str) or not isinstance(doc.get("keys"), dict):
            raise KeySourceError(f"{where} must hold an object with \"primary\" (a key id) and \"keys\" (key id → base64 key)")
        keys = {}
        for key_id, text_key in doc["keys"].items():
            if not KEY_ID_RE.match(key_id):
                raise KeySourceError(f"{where}: key id {key_id!r} must match ^[a-z0-9-]{{1,32}}$")
            keys[key_id] = _decode_key(text_key, where=f"{where}: key {key_id!r}")
        if doc["primary"] not in keys:
            raise KeySourceError(f"{where}: primary key {doc['primary']!r} is not listed under \"keys\"")
        return cls(doc["primary"], keys)


def _decode_key(text: Any, *, where: str) -> bytes:
    if isinstance(text, str):
        try:
            raw = base64.b64decode(text.strip().replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) == KEY_BYTES:
            return raw
    raise KeySourceError(f"{where} must be {KEY_BYTES} random bytes in base64 (e.g. from `openssl rand -base64 32`)")


def generate_key() -> bytes:
    return os.urandom(KEY_BYTES)


def new_key_id(existing: Iterable[str] = ()) -> str:
    """A fresh key id like `k-20250101-3fa9c2` (date for humans, random suffix for uniqueness)."""
    taken = set(existing)
    while True:
        key_id = f"k-{datetime.now(UTC):%Y%m%d}-{os.urandom(3).hex()}"
        if key_id not in taken:
            return key_id


def new_keyring() -> KeyRing:
    key_id = new_key_id()
    return KeyRing(key_id, {key_id: generate_key()})


def parse_env_key(value: str) -> KeyRing:
    """Parse `ADE_SECRETS_KEY` (`<key_id>:<base64 32 bytes>`). Errors never echo the value."""
    key_id, sep, text = (value or "").strip().partition(":")
    if not sep or not KEY_ID_RE.match(key_id):
        raise KeySourceError(
            "ADE_SECRETS_KEY must be <key_id>:<base64 of 32 random bytes> with key_id matching ^[a-z0-9-]{1,32}$, "
            "e.g. ci-1:$(openssl rand -base64 32)"
        )
    return KeyRing(key_id, {key_id: _decode_key(text, where="ADE_SECRETS_KEY")})


# --------------------------------------------------------------------------------------------- stores


class KeyStore:
    """Where the key ring lives. `load()` reads it; `save()` replaces it atomically (rotation)."""

    rotatable: bool = True

    def describe_source(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def load(self) -> KeyRing:  # pragma: no cover - abstract
        raise NotImplementedError

    def save(self, keyring: KeyRing) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class EnvKeyStore(KeyStore):
    """`ADE_SECRETS_KEY`: one fixed key, for CI and containers."""

    rotatable = False

    def __init__(self, value: str):
        self._keyring = parse_env_key(value)

    def describe_source(self) -> str:
        return "ADE_SECRETS_KEY environment variable"

    def load(self) -> KeyRing:
        return self._keyring

    def save(self, keyring: KeyRing) -> None:
        raise KeySourceError(
            "key rotation is not available with ADE_SECRETS_KEY; rotate by setting a new ADE_SECRETS_KEY "
            "and setting every secret again, or use a key file (ADE_SECRETS_KEYRING)",
            code="secrets.rotation_unavailable",
        )


class FileKeyStore(KeyStore):
    """A JSON key file. With `strict=True` (the data-dir file) the 0600/0700/owner rules of secrets.md §9 apply."""

    def __init__(self, path: Path, *, strict: bool, origin: str | None = None):
        self.path = Path(path)
        self.strict = strict
        self.origin = origin

    def describe_source(self) -> str:
        text = f"key file {self.path}"
        if self.origin:
            text += f" ({self.origin})"
        if not self.path.exists():
            text += " (not created yet)"
        return text

    def exists(self) -> bool:
        return self.path.exists()

    def check_permissions(self) -> None:
        """Refuse a key file or directory that others can read or that another user owns, with the fix."""
        if self.strict:
            _check_private(self.path.parent, 0o700, kind="directory")
            if self.path.exists() or self.path.is_symlink():
                _check_private(self.path, 0o600, kind="file")

    def load(self) -> KeyRing:
        self.check_permissions()
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            hint = f"; unset {self.origin} or point it at an existing key file" if self.origin else ""
            raise KeySourceError(f"key file {self.path} does not exist{hint}") from None
        except OSError as exc:
            raise KeySourceError(f"key file {self.path} cannot be read ({exc.strerror}); check its permissions") from None
        return KeyRing.from_json(text, where=f"key file {self.path}")

    def save(self, keyring: KeyRing) -> None:
        self.check_permissions()
        _write_private(self.path, keyring.to_json(), replace=True)

    def create(self) -> KeyRing:
        """Create the key file with a fresh key unless it exists (race-safe), and return the stored key ring."""
        _ensure_private_dir(self.path.parent)
        self.check_permissions()
        if not self.path.exists():
            _write_private(self.path, new_keyring().to_json(), replace=False)
        return self.load()


class OsKeyringStore(KeyStore):
    """The OS keyring through the `keyring` package: one entry (service `ade`) holding the key-ring JSON."""

    def __init__(self, backend: Any, *, label: str, marker: Path | None = None):
        self.backend = backend
        self.label = label
        self.marker = marker

    def describe_source(self) -> str:
        return f"OS keyring ({self.label})"

    def _get(self) -> str | None:
        try:
            return self.backend.get_password(KEYRING_SERVICE, KEYRING_USERNAME)
        except Exception as exc:  # backends raise many types (D-Bus, locked, no agent)
            raise KeySourceError(
                f"the OS keyring ({self.label}) could not be read: {type(exc).__name__}; unlock it, or set "
                "ADE_SECRETS_KEYRING to a key file",
                code="secrets.keyring_unavailable",
            ) from None

    def has_keys(self) -> bool:
        return self._get() is not None

    def load(self) -> KeyRing:
        text = self._get()
        if text is None:
            raise KeySourceError(
                f"the OS keyring ({self.label}) holds no ADE master keys (service '{KEYRING_SERVICE}', "
                f"user '{KEYRING_USERNAME}'); restore them or set ADE_SECRETS_KEYRING to a key file",
                code="secrets.keyring_unavailable",
            )
        return KeyRing.from_json(text, where=f"OS keyring ({self.label}) entry '{KEYRING_SERVICE}/{KEYRING_USERNAME}'")

    def save(self, keyring: KeyRing) -> None:
        try:
            self.backend.set_password(KEYRING_SERVICE, KEYRING_USERNAME, keyring.to_json())
        except Exception as exc:
            raise KeySourceError(
                f"the OS keyring ({self.label}) refused to store the master keys: {type(exc).__name__}; unlock it, "
                "or set ADE_SECRETS_KEYRING to a key file",
                code="secrets.keyring_unavailable",
            ) from None
        if self.marker is not None:
            _ensure_private_dir(self.marker.parent)
            doc = {"service": KEYRING_SERVICE, "user": KEYRING_USERNAME, "backend": _backend_path(self.backend)}
            _write_private(self.marker, json.dumps(doc) + "\n", replace=True)

    def create(self) -> KeyRing:
        text = self._get()
        if text is None:
            self.save(new_keyring())
        return self.load()


# --------------------------------------------------------------------------------------------- OS keyring policy


def _backend_path(backend: Any) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _backend_label(backend: Any) -> str:
    module = type(backend).__module__
    # keyring.backends.SecretService.Keyring -> "SecretService"; keyring.backends.macOS.Keyring -> "macOS"
    if module.startswith("keyring.backends."):
        return module.split(".")[2]
    return _backend_path(backend)


# Backends that store secrets in plain or password-less encrypted files, or that store nothing.
_REFUSED_MODULE_PREFIXES = ("keyrings.alt", "keyrings.cryptfile", "keyring.backends.fail", "keyring.backends.null")


def judge_backend(backend: Any) -> tuple[Any | None, str]:
    """Decide whether a `keyring` backend is a real OS keyring (secrets.md §9).

    Returns `(backend_to_use, label)` or `(None, reason)`. A chainer is unwrapped to its best real member;
    the fail and null backends, `keyrings.alt` (plaintext/encrypted-file) and other file keyrings, and
    backends that are not viable here (priority raises or is ≤ 0) are refused.
    """
    from keyring.backends import chainer, fail, null

    if isinstance(backend, chainer.ChainerBackend):
        try:
            members = list(backend.backends)
        except Exception as exc:
            return None, f"the keyring chainer could not list its backends ({type(exc).__name__})"
        refused = []
        for member in members:
            chosen, why = judge_backend(member)
            if chosen is not None:
                return chosen, why
            refused.append(why)
        return None, "no real OS keyring backend is available" + (f" ({'; '.join(refused)})" if refused else "")
    if isinstance(backend, fail.Keyring):
        return None, "no OS keyring backend is available (keyring's fail backend)"
    if isinstance(backend, null.Keyring):
        return None, "the OS keyring is disabled (keyring's null backend)"
    module = type(backend).__module__
    name = type(backend).__name__
    if module.startswith(_REFUSED_MODULE_PREFIXES) or "plaintext" in name.lower():
        return None, f"{_backend_path(backend)} keeps secrets in a file, not an OS keyring"
    try:
        priority = type(backend).priority
    except Exception as exc:
        return None, f"{_backend_path(backend)} is not usable here ({type(exc).__name__})"
    if not isinstance(priority, int | float) or priority <= 0:
        return None, f"{_backend_path(backend)} is not a recommended backend (priority {priority})"
    return backend, _backend_label(backend)


def current_backend() -> Any:
    """The `keyring` package's backend; one that cannot be loaded (a bad `PYTHON_KEYRING_BACKEND` or
    keyringrc.cfg) is `secrets.keyring_unavailable`, not a traceback."""
    import keyring

    try:
        return keyring.get_keyring()
    except Exception as exc:  # noqa: BLE001 - keyring raises ImportError, AttributeError, ValueError, …
        raise KeySourceError(
            f"the keyring backend chosen by PYTHON_KEYRING_BACKEND (or keyringrc.cfg) cannot be loaded "
            f"({type(exc).__name__}: {exc}); unset PYTHON_KEYRING_BACKEND or name an installed backend "
            "(`python -m keyring --list-backends` lists them), or set ADE_SECRETS_KEYRING to a key file",
            code="secrets.keyring_unavailable",
        ) from None


# --------------------------------------------------------------------------------------------- resolution


def open_key_store(
    *,
    data_dir: Path,
    env_key: str | None,
    keyring_file: str | Path | None,
    use_os_keyring: bool = True,
    create: bool = True,
) -> KeyStore:
    """Pick the master-key source in the order of secrets.md §3 and, when `create`, create keys on first use.

    `env_key` and `keyring_file` are the values of ADE_SECRETS_KEY and ADE_SECRETS_KEYRING (None when unset).
    With `create=False` (for `ade doctor`) nothing is written; the returned store may not exist yet.
    """
    if env_key:
        return EnvKeyStore(env_key)
    if keyring_file:
        return FileKeyStore(Path(keyring_file).expanduser(), strict=False, origin="ADE_SECRETS_KEYRING")

    keys_dir = Path(data_dir) / "keys"
    file_store = FileKeyStore(keys_dir / KEY_FILE_NAME, strict=True)
    marker = keys_dir / MARKER_FILE_NAME
    if use_os_keyring:
        chosen, why = judge_backend(current_backend())
        if chosen is not None:
            store = OsKeyringStore(chosen, label=why, marker=marker)
            try:
                has = store.has_keys()
            except KeySourceError as exc:
                if marker.exists():
                    raise _keys_stranded(marker, str(exc)) from None
                has = None  # locked/unreachable and never used: fall back to the key file
            if has:
                return store
            if has is False and not file_store.exists():
                if create:
                    store.create()
                return store
        elif marker.exists() and not file_store.exists():
            raise _keys_stranded(marker, why)
    elif marker.exists() and not file_store.exists():
        raise _keys_stranded(marker, "use of the OS keyring is switched off")
    if create:
        file_store.create()
    return file_store


def _keys_stranded(marker: Path, why: str) -> KeySourceError:
    return KeySourceError(
        f"the master keys were created in the OS keyring (see {marker}), but it cannot be used now: {why}. "
        "Unlock the OS keyring (e.g. log in to the desktop session), or set ADE_SECRETS_KEYRING to a key file "
        f"holding the same keys; delete {marker} only if those keys are gone for good",
        code="secrets.keyring_unavailable",
    )


def resolve_master_keys(
    *,
    data_dir: Path,
    env_key: str | None,
    keyring_file: str | Path | None,
    use_os_keyring: bool = True,
) -> tuple[KeyRing, str]:
    """Load the master key ring from the first usable source; return it with a description of the source."""
    store = open_key_store(
        data_dir=data_dir, env_key=env_key, keyring_file=keyring_file, use_os_keyring=use_os_keyring, create=True
    )
    return store.load(), store.describe_source()


def describe_source(
    *, data_dir: Path, env_key: str | None, keyring_file: str | Path | None, use_os_keyring: bool = True
) -> str:
    """The source `ade doctor` and the TUI show, without creating keys. Errors describe the problem instead."""
    try:
        store = open_key_store(
            data_dir=data_dir, env_key=env_key, keyring_file=keyring_file, use_os_keyring=use_os_keyring, create=False
        )
    except SecretsError as exc:
        return f"unusable: {exc.message}"
    return store.describe_source()


# --------------------------------------------------------------------------------------------- private files


def _owner_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


def _check_private(path: Path, mode: int, *, kind: str) -> None:
    if os.name != "posix":
        return  # POSIX modes and owners do not exist on Windows; the profile directory ACL protects the file
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise KeySourceError(f"key {kind} {path} does not exist") from None
    if stat.S_ISLNK(st.st_mode):
        raise KeySourceError(f"key {kind} {path} is a symbolic link; replace it with a real {kind} owned by you")
    me = os.geteuid()
    if st.st_uid != me:
        raise KeySourceError(
            f"key {kind} {path} is owned by {_owner_name(st.st_uid)}, not by {_owner_name(me)} who runs ADE; "
            f"fix with: chown {_owner_name(me)} {path}",
            code="secrets.key_permissions",
        )
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise KeySourceError(
            f"key {kind} {path} has mode {stat.S_IMODE(st.st_mode):o}, which lets other users read it; "
            f"fix with: chmod {mode:o} {path}",
            code="secrets.key_permissions",
        )


def _ensure_private_dir(path: Path) -> None:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
            os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask
    _check_private(path, 0o700, kind="directory")


def _write_private(path: Path, text: str, *, replace: bool) -> None:
    """Write a 0600 file atomically. `replace=False` never overwrites: a concurrent creator wins and we keep theirs."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
