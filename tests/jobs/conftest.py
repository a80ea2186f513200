"""Fixtures for the jobs tests: a workspace with an active package, inputs, and the stand-in pipeline."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ for pkgfactory

from jobworld import STUB_PIPELINE, install_stub  # noqa: E402
from pkgfactory import write_package  # noqa: E402

from ade_engine.services import configs  # noqa: E402
from ade_engine.services.workspace import open_workspace  # noqa: E402
from ade_engine.settings import isolated_settings  # noqa: E402


def job_settings(data_dir: Path, **overrides):
    """Settings for job tests. `reduced`: the stand-in pipeline lives outside what bubblewrap mounts.
    As root, decision 11 needs ADE_JOB_USER (privilege drop in the job process is other work)."""
    base = {"sandbox": "reduced", "worker_lease_seconds": 2, "cancel_grace_seconds": 1}
    if os.geteuid() == 0:
        base["job_user"] = "nobody"
    return isolated_settings(data_dir, sample_configs_dir=data_dir.parent / "no-samples", **{**base, **overrides})


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def make_ws(data_dir: Path, tmp_path: Path):
    """make_ws(**settings) -> an open workspace with package 'prices' published and active."""
    opened = []

    def make(**overrides):
        ws = open_workspace(job_settings(data_dir, **overrides))
        opened.append(ws)
        if configs.active_version(ws) is None:
            pkg = write_package(tmp_path / "pkgs" / "prices")
            draft = configs.import_package(ws, pkg, config_id="prices")
            configs.publish(ws, draft.config_version_id)
            configs.activate(ws, draft.config_id + "@latest")
        return ws

    yield make
    for ws in opened:
        ws.close()


@pytest.fixture
def ws(make_ws):
    return make_ws()


@pytest.fixture
def stub(tmp_path: Path, monkeypatch) -> Path:
    """The stand-in pipeline, used by in-process workers of this test."""
    return install_stub(tmp_path, monkeypatch, STUB_PIPELINE)


@pytest.fixture
def inputs(tmp_path: Path):
    """inputs(mode, name=None) -> a CSV whose first line tells the stand-in what to do (unique bytes each)."""
    counter = iter(range(1_000_000))

    def make(mode: str = "ok", name: str | None = None) -> Path:
        n = next(counter)
        path = tmp_path / "in" / (name or f"{mode}_{n}.csv")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{mode}\nName,Amount\nAnn,{n}\n", encoding="utf-8")
        return path

    return make
