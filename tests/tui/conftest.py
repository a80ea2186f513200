"""One world for the workstation tests: a data dir in tmp_path holding the sample configs.

The sample import (publish = static + dynamic validation) runs once per session into a template data
dir; each test gets its own copy. Apps made here never render the temp path (fixed label), never
probe the real sandbox, and have clocks and blinking cursors off.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from ade_engine.services.workspace import open_workspace
from ade_engine.settings import Settings, isolated_settings
from ade_tui.app import AdeApp
from ade_tui.settings import explicit_tui_settings
from ade_tui.worker_host import SandboxStatus

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def template_data_dir(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("template") / "data"
    ws = open_workspace(isolated_settings(data, sample_configs_dir=REPO / "sample_configs"))
    assert ws.report.imported == ["member_roster", "payroll_remittance"], ws.report.problems
    # A config author's usual state: member_roster@1 published and active, member_roster@2 a draft.
    from ade_engine.services import configs

    configs.clone(ws, "member_roster@1")
    ws.close()
    return data


@pytest.fixture
def settings(tmp_path: Path, template_data_dir: Path) -> Settings:
    data = tmp_path / "data"
    shutil.copytree(template_data_dir, data, symlinks=True)
    # No samples dir: the copied workspace already exists, so nothing would be imported anyway.
    return isolated_settings(data, sample_configs_dir=tmp_path / "no-samples")


@pytest.fixture
def make_app(settings: Settings) -> Callable[..., AdeApp]:
    def make(*, watch: bool = False, sandbox: SandboxStatus = SandboxStatus("standard"), **tui) -> AdeApp:
        values = dict(watch=watch, data_dir_label="~/.local/share/ade", show_times=False, cursor_blink=False,
                      watch_debounce_ms=50)
        values.update(tui)
        return AdeApp(settings, explicit_tui_settings(**values), sandbox_probe=lambda _s: sandbox)

    return make


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
