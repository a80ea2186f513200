"""Fake keyring backends: the edge of the machine for the secrets tests."""

from __future__ import annotations

from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked


def _unregister(cls):
    # KeyringBackend subclasses register themselves for auto-detection; keep fakes out of it.
    KeyringBackend._classes.discard(cls)
    return cls


class _MemoryBackend(KeyringBackend):
    priority = 1

    def __init__(self):
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.entries.get((service, username))

    def set_password(self, service, username, password):
        self.entries[(service, username)] = password

    def delete_password(self, service, username):
        self.entries.pop((service, username), None)


_unregister(_MemoryBackend)


@_unregister
class FakeSecretService(_MemoryBackend):
    """Stands in for a real desktop keyring; its module name makes the doctor label 'SecretService'."""

    __module__ = "keyring.backends.SecretService"
    __qualname__ = "Keyring"
    priority = 5


@_unregister
class FakePlaintextKeyring(_MemoryBackend):
    """Looks like keyrings.alt's plaintext file backend, which keyring picks silently when installed."""

    __module__ = "keyrings.alt.file"
    __qualname__ = "PlaintextKeyring"
    priority = 0.5


@_unregister
class FakeLockedKeyring(FakeSecretService):
    """A real backend whose collection is locked (e.g. over SSH)."""

    def get_password(self, service, username):
        raise KeyringLocked("Failed to unlock the collection!")

    set_password = get_password
