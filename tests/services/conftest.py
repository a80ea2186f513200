"""One world for service tests: a fresh data dir in tmp_path with two sample packages."""

from __future__ import annotations

from pathlib import Path

import pytest
from example_package import write_example_package

from ade_engine.services.workspace import Workspace, open_workspace
from ade_engine.settings import Settings, isolated_settings


@pytest.fixture
def samples_dir(tmp_path: Path) -> Path:
    root = tmp_path / "samples"
    write_example_package(root / "prices", title="Supplier prices")
    write_example_package(root / "stock", title="Stock list")
    return root


@pytest.fixture
def settings(tmp_path: Path, samples_dir: Path) -> Settings:
    return isolated_settings(tmp_path / "data", sample_configs_dir=samples_dir)


@pytest.fixture
def workspace(settings: Settings):
    ws: Workspace = open_workspace(settings)
    yield ws
    ws.close()


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A valid package folder outside the workspace."""
    return write_example_package(tmp_path / "incoming" / "vendor_prices", title="Vendor prices")
