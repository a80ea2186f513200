"""Shared fixtures: the repository root, the sample config packages, and `ade` as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


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

    def run(*args, cwd=None, timeout=180):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ADE_")}
        env["ADE_DATA_DIR"] = str(data_dir)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo_root), env.get("PYTHONPATH")]))
        return subprocess.run([sys.executable, "-m", "ade_engine.cli.main", *map(str, args)],
                              cwd=str(cwd or data_dir), env=env, capture_output=True, text=True,
                              timeout=timeout)

    return run
