"""Errors of the secrets core. Messages name secrets and key ids, never values or key material."""

from __future__ import annotations

from ade_engine.errors import AdeError


class SecretsError(AdeError):
    """Any failure of the secrets core; `code` is one of the `secrets.*` codes."""

    code = "secrets.error"


class UnknownKeyError(SecretsError):
    """The envelope names a key id this installation does not have (`secrets.unknown_key`)."""

    code = "secrets.unknown_key"


class DecryptFailed(SecretsError):
    """Authentication failed: the ciphertext was altered, or moved to another workspace/scope/name/version."""

    code = "secrets.decrypt_failed"


class MalformedEnvelope(SecretsError):
    """The stored text is not an `ade-secret:v1:` envelope (`secrets.envelope_malformed`)."""

    code = "secrets.envelope_malformed"


class KeySourceError(SecretsError):
    """A master-key source is set but unusable (bad format, loose permissions, locked keyring…)."""

    code = "secrets.key_source"
