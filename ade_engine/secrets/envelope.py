"""AES-256-GCM envelopes for secret values (secrets.md §3).

Envelope text: ``ade-secret:v1:<key_id>:<nonce b64url>:<ciphertext+tag b64url>`` (base64url without padding).
The associated data binds a ciphertext to its workspace, scope, name and version, so a value copied to
another row fails to decrypt instead of leaking under another name.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ade_engine.secrets.errors import DecryptFailed, MalformedEnvelope, SecretsError, UnknownKeyError

PREFIX = "ade-secret:v1:"
NAME_PATTERN = r"^[A-Z][A-Z0-9_]{0,63}$"
KEY_ID_PATTERN = r"^[a-z0-9-]{1,32}$"
NAME_RE = re.compile(NAME_PATTERN)
KEY_ID_RE = re.compile(KEY_ID_PATTERN)
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
MIN_CHARS = 8
MAX_CHARS = 4096

_B64URL_RE = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")


class KeyLookup(Protocol):
    def key_for(self, key_id: str) -> bytes | None: ...


@dataclass(frozen=True)
class Envelope:
    key_id: str
    nonce: bytes
    ciphertext: bytes  # ciphertext followed by the 16-byte tag

    def __repr__(self) -> str:
        return f"Envelope(key_id={self.key_id!r}, nonce=<{len(self.nonce)} bytes>, ciphertext=<{len(self.ciphertext)} bytes>)"


def validate_name(name: str) -> str:
    """Return `name` if it is a valid secret name, else raise `secrets.name`."""
    if not isinstance(name, str) or not NAME_RE.match(name) or name.endswith("\n"):
        raise SecretsError(
            f"secrets key {name!r} must match {NAME_PATTERN}", code="secrets.name", details={"name": str(name)}
        )
    return name


def validate_key_id(key_id: str) -> str:
    """Return `key_id` if it matches ^[a-z0-9-]{1,32}$, else raise `secrets.key_id`."""
    if not isinstance(key_id, str) or not KEY_ID_RE.match(key_id) or key_id.endswith("\n"):
        raise SecretsError(
            f"master key id {key_id!r} must match {KEY_ID_PATTERN}", code="secrets.key_id", details={"key_id": str(key_id)}
        )
    return key_id


def validate_value(plaintext: str, *, name: str | None = None) -> bytes:
    """Check the plaintext rules (UTF-8 text of 8–4096 characters) and return its UTF-8 bytes."""
    label = f"the value of {name}" if name else "a secret value"
    if not isinstance(plaintext, str):
        raise SecretsError(f"{label} must be text", code="secrets.value_length", details={"name": name})
    n = len(plaintext)
    if n < MIN_CHARS or n > MAX_CHARS:
        # The length is not secret-bearing enough to matter and tells the user what to fix.
        raise SecretsError(
            f"{label} must be {MIN_CHARS}–{MAX_CHARS} characters long (got {n}); "
            "short values cannot be reliably redacted from logs and outputs",
            code="secrets.value_length",
            details={"name": name, "length": n},
        )
    try:
        return plaintext.encode("utf-8")
    except UnicodeEncodeError:
        raise SecretsError(
            f"{label} is not valid UTF-8 text (it contains unpaired surrogates)",
            code="secrets.value_encoding",
            details={"name": name},
        ) from None


def make_aad(workspace_id: str, config_id: str | None, name: str, version: int) -> str:
    """The associated data of one secret version (secrets.md §3)."""
    validate_name(name)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise SecretsError(f"secret version must be a positive integer, got {version!r}", code="secrets.version")
    return f"{PREFIX}{workspace_id}:{config_id or '*'}:{name}:{version}"


def name_from_aad(aad: str) -> str | None:
    """The secret name carried by an associated-data string, for error messages (None if unparseable)."""
    parts = aad.rsplit(":", 2)
    return parts[1] if len(parts) == 3 and aad.startswith(PREFIX) else None


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    if not _B64URL_RE.match(text):
        raise ValueError("not base64url")
    text = text.rstrip("=")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_envelope(envelope: str, *, name: str | None = None) -> Envelope:
    """Split an envelope into key id, nonce and ciphertext+tag; raise `secrets.envelope_malformed`."""

    def bad(why: str) -> MalformedEnvelope:
        who = f"secret {name}" if name else "a secret"
        return MalformedEnvelope(
            f"the stored value of {who} is not a valid {PREFIX} envelope ({why}); set it again",
            details={"name": name},
        )

    if not isinstance(envelope, str) or not envelope.startswith(PREFIX):
        raise bad(f"it does not start with {PREFIX!r}")
    parts = envelope[len(PREFIX):].split(":")
    if len(parts) != 3:
        raise bad("expected <key_id>:<nonce>:<ciphertext>")
    key_id, nonce_text, ct_text = parts
    if not KEY_ID_RE.match(key_id):
        raise bad("invalid key id")
    try:
        nonce = _b64d(nonce_text)
        ciphertext = _b64d(ct_text)
    except (ValueError, binascii.Error):
        raise bad("nonce or ciphertext is not base64url") from None
    if len(nonce) != NONCE_BYTES:
        raise bad(f"nonce must be {NONCE_BYTES} bytes")
    if len(ciphertext) < TAG_BYTES:
        raise bad("ciphertext is shorter than the authentication tag")
    return Envelope(key_id, nonce, ciphertext)


def envelope_key_id(envelope: str) -> str:
    """The key id an envelope was encrypted with (for the `key_id` column and rotation bookkeeping)."""
    return parse_envelope(envelope).key_id


def encrypt(key: bytes, key_id: str, plaintext: str, aad: str) -> str:
    """Encrypt `plaintext` under `key` (32 bytes) with a fresh 96-bit nonce; return the envelope text."""
    validate_key_id(key_id)
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_BYTES:
        raise SecretsError(f"master key {key_id!r} must be {KEY_BYTES} bytes", code="secrets.key_length")
    if not isinstance(aad, str) or not aad.startswith(PREFIX):
        raise SecretsError("associated data must be built with make_aad()", code="secrets.aad")
    data = validate_value(plaintext, name=name_from_aad(aad))
    nonce = os.urandom(NONCE_BYTES)
    ct = AESGCM(bytes(key)).encrypt(nonce, data, aad.encode("utf-8"))
    return f"{PREFIX}{key_id}:{_b64e(nonce)}:{_b64e(ct)}"


def open_envelope(keyring: KeyLookup | Mapping[str, bytes], envelope: str,
                  aad: str) -> tuple[Envelope, bytes, str | None]:
    """(parsed envelope, the key it names, the secret's name from `aad`); raise `secrets.envelope_malformed`
    or `secrets.unknown_key`. The common first step of `decrypt` and `integrity.verify`."""
    name = name_from_aad(aad) if isinstance(aad, str) else None
    env = parse_envelope(envelope, name=name)
    key = keyring.get(env.key_id) if isinstance(keyring, Mapping) else keyring.key_for(env.key_id)
    if key is None:
        raise UnknownKeyError(
            f"secret {name or '(unnamed)'} was encrypted with key '{env.key_id}', which this installation does "
            "not have; set it again",
            details={"name": name, "key_id": env.key_id},
        )
    return env, key, name


def decrypt(keyring: KeyLookup | Mapping[str, bytes], envelope: str, aad: str) -> str:
    """Decrypt an envelope with the key it names; raise `secrets.unknown_key`, `secrets.decrypt_failed` or
    `secrets.envelope_malformed`."""
    env, key, name = open_envelope(keyring, envelope, aad)
    who = name or "(unnamed)"
    try:
        data = AESGCM(bytes(key)).decrypt(env.nonce, env.ciphertext, aad.encode("utf-8"))
    except InvalidTag:
        raise DecryptFailed(
            f"secret {who} could not be decrypted with key '{env.key_id}': the stored ciphertext was altered "
            "or belongs to another workspace, scope, name or version; set it again",
            details={"name": name, "key_id": env.key_id},
        ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise DecryptFailed(
            f"secret {who} decrypted to bytes that are not UTF-8 text; set it again",
            details={"name": name, "key_id": env.key_id},
        ) from None
