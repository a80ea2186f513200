"""One world for the secrets service: a workspace in tmp_path whose keys never touch the real OS keyring."""

from __future__ import annotations

from pathlib import Path

import keyring
import keyring.core
import pytest
from secrets_world import env_key

from ade_engine.services.workspace import Workspace, open_workspace
from ade_engine.settings import Settings, isolated_settings


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


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def empty_samples(tmp_path: Path) -> Path:
    path = tmp_path / "no-samples"
    path.mkdir()
    return path


@pytest.fixture
def settings(data_dir: Path, empty_samples: Path) -> Settings:
    """Keys in the data-dir key file (created on first use, 0600 in a 0700 dir)."""
    return isolated_settings(data_dir, sample_configs_dir=empty_samples)


@pytest.fixture
def env_settings(data_dir: Path, empty_samples: Path) -> Settings:
    """ADE_SECRETS_KEY, as in CI and containers."""
    return isolated_settings(data_dir, sample_configs_dir=empty_samples, secrets_key=env_key())


@pytest.fixture
def ws(settings: Settings):
    workspace: Workspace = open_workspace(settings)
    yield workspace
    workspace.close()
