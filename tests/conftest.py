"""Shared fixtures: the repository root, the sample config packages, and `ade` as a subprocess.

As root (CI), every job of the session runs as the unprivileged `nobody` (decision 11; "security tests run
as an unprivileged user"): `ADE_JOB_USER=nobody`, `ADE_JOB_PYTHON` = a same-minor interpreter `nobody` can
run when this one is not (a venv under a 0700 /root), and pytest's temp dirs made traversable (0711).
Without such an interpreter, the job-running test modules are skipped with the reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
from sandbox_helpers import (  # noqa: E402 - the job-user facts live there so test modules can import them
    IS_ROOT,
    JOB_TEST_MODULES,
    NO_JOB_PYTHON,
    job_user_env,
    open_for_job_user,
)


def pytest_collection_modifyitems(config, items):
    if not NO_JOB_PYTHON:
        return
    skip = pytest.mark.skip(reason=NO_JOB_PYTHON)
    for item in items:
        if item.module is not None and item.module.__name__.rpartition(".")[2] in JOB_TEST_MODULES:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _jobs_run_as_unprivileged_user(tmp_path_factory):
    """As root: ADE_JOB_USER (and ADE_JOB_PYTHON when needed) for the whole session; temp dirs traversable."""
    if not IS_ROOT:
        yield
        return
    mp = pytest.MonkeyPatch()
    for key, value in job_user_env().items():
        mp.setenv(key, value)
    base = tmp_path_factory.getbasetemp()
    open_for_job_user(base, stop=base.parent)
    original = type(tmp_path_factory).mktemp

    def mktemp(self, basename: str, numbered: bool = True) -> Path:
        path = original(self, basename, numbered)
        open_for_job_user(path, stop=base)
        return path

    mp.setattr(type(tmp_path_factory), "mktemp", mktemp)
    yield
    mp.undo()


@pytest.fixture
def tmp_path(tmp_path: Path, tmp_path_factory) -> Path:
    """pytest's tmp_path, traversable (not listable) by the job user when running as root."""
    open_for_job_user(tmp_path, stop=tmp_path_factory.getbasetemp())
    return tmp_path


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def sample_configs(repo_root) -> Path:
    """sample_configs/: the packages, inputs/ and make_inputs.py."""
    return repo_root / "sample_configs"


@pytest.fixture(scope="session")
def run_ade(tmp_path_factory, repo_root):
    """run_ade(*args, cwd=None) -> CompletedProcess of `python -m ade_engine.cli.main *args` (text, captured).

    The data dir points into a temp folder and the developer's own ADE_* settings are dropped, so a run
    never touches the real workspace.
    """
    data_dir = tmp_path_factory.mktemp("ade-data")
    open_for_job_user(data_dir, stop=tmp_path_factory.getbasetemp())

    def run(*args, cwd=None, timeout=180):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ADE_")}
        env["ADE_DATA_DIR"] = str(data_dir)
        env.update(job_user_env())
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo_root), env.get("PYTHONPATH")]))
        return subprocess.run([sys.executable, "-m", "ade_engine.cli.main", *map(str, args)],
                              cwd=str(cwd or data_dir), env=env, capture_output=True, text=True,
                              timeout=timeout)

    return run


@pytest.fixture(autouse=True)
def _no_os_keyring():
    """No test reaches the machine's OS keyring: whether one answers depends on the machine (a desktop
    session, a D-Bus left running), so key-source behaviour would too. Tests that need a keyring install a
    fake one on top (tests/secrets*/conftest.py)."""
    import keyring
    import keyring.core
    from keyring.backends import fail

    saved = keyring.core._keyring_backend
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.core._keyring_backend = saved
