"""Keyring fixtures: tests never touch a real OS keyring."""

from __future__ import annotations

import keyring
import keyring.core
import pytest


@pytest.fixture
def use_backend():
    """Install a keyring backend for one test, then put back whatever was there."""
    saved = keyring.core._keyring_backend

    def install(backend):
        keyring.set_keyring(backend)
        return backend

    yield install
    keyring.core._keyring_backend = saved


@pytest.fixture(autouse=True)
def _no_real_keyring(use_backend):
    from keyring.backends import fail

    use_backend(fail.Keyring())
