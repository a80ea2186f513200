"""Start-up: the first screen does not wait for the engine.

Importing the app leaves SQLAlchemy and Alembic unloaded (they load on the worker that opens the
workspace), and the app answers keys while the workspace is still opening.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

from ade_engine.services.workspace import open_workspace
from ade_tui.app import AdeApp
from ade_tui.screens.configs import ConfigsScreen
from ade_tui.screens.help import HelpScreen
from ade_tui.screens.jobs import JobsScreen
from ade_tui.screens.secrets import SecretsScreen
from ade_tui.settings import explicit_tui_settings
from ade_tui.worker_host import NoWorkerHost, SandboxStatus
from tui_support import wait_for

HEAVY = ("sqlalchemy", "alembic", "ade_engine.store", "ade_engine.services.configs", "ade_engine.services.jobs")


def _loaded_after(statement: str) -> list[str]:
    code = f"import sys\n{statement}\nimport json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


@pytest.mark.parametrize("statement", [
    "import ade_tui.app",
    # F2/F3/F4 and the help screen import their modules on first use: those stay light too.
    "import ade_tui.app, ade_tui.screens.configs, ade_tui.screens.jobs, ade_tui.screens.secrets, "
    "ade_tui.screens.help, ade_tui.screens.package, ade_tui.screens.job_detail, ade_tui.screens.submit",
])
def test_importing_the_app_does_not_load_the_engine(statement):
    loaded = _loaded_after(statement)
    assert "ade_tui.app" in loaded
    assert [m for m in HEAVY if m in loaded] == []


def test_the_engine_loads_once_the_workspace_opens():
    # The control for the check above: opening a workspace does load them.
    loaded = _loaded_after("import ade_tui.app\nimport ade_engine.services.workspace")
    assert "sqlalchemy" in loaded


@pytest.mark.anyio
async def test_keys_work_before_the_workspace_opens(settings):
    gate = threading.Event()

    def slow_open(s):
        gate.wait(60)
        return open_workspace(s)

    tui = explicit_tui_settings(watch=False, data_dir_label="~/.local/share/ade", show_times=False,
                                cursor_blink=False)
    app = AdeApp(settings, tui, worker_host=NoWorkerHost(), sandbox_probe=lambda _s: SandboxStatus("standard"),
                 opener=slow_open)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, ConfigsScreen)
            assert app.status_info.workspace == "opening workspace"
            await pilot.press("f1")
            assert await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
            await pilot.press("escape")
            await pilot.press("f3")
            assert await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen))
            await pilot.press("s")  # submit needs the workspace: a notice, no dialog, no error
            await pilot.pause()
            assert isinstance(app.screen, JobsScreen)
            assert any("still opening" in n.message for n in app._notifications)
            await pilot.press("f4")
            assert await wait_for(pilot, lambda: isinstance(app.screen, SecretsScreen))
            await pilot.press("f2")
            assert await wait_for(pilot, lambda: isinstance(app.screen, ConfigsScreen))
            assert not app.workspace_ready and app.screen.table.loading

            gate.set()
            assert await wait_for(pilot, lambda: app.workspace_ready and not app.screen.table.loading)
            assert await wait_for(pilot, lambda: app.screen.table.row_count >= 2)
            assert not any(n.severity == "error" for n in app._notifications)
    finally:
        gate.set()


def test_importing_the_app_leaves_pydantic_for_later():
    # Settings (pydantic-settings) load on a worker after the first frame, not before it.
    loaded = _loaded_after("import ade_tui.app, ade_tui.screens.configs, ade_tui.screens.help")
    assert [m for m in ("pydantic", "pydantic_settings", "ade_engine.settings") if m in loaded] == []


@pytest.mark.anyio
async def test_settings_load_after_the_first_frame_then_apply(settings):
    gate = threading.Event()
    tui = explicit_tui_settings(watch=False, data_dir_label="~/data", show_times=False, cursor_blink=False,
                                theme="ansi-dark", keymap={"app.jobs": "f6"})

    def loader():
        gate.wait(60)
        return settings, tui

    app = AdeApp(None, None, settings_loader=loader, worker_host=NoWorkerHost(),
                 sandbox_probe=lambda _s: SandboxStatus("standard"))
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            # Painted and taking keys while the settings load.
            assert isinstance(app.screen, ConfigsScreen)
            assert app.status_info.workspace == "loading settings" and app.theme != "ansi-dark"
            await pilot.press("f1")
            assert await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
            await pilot.press("escape")

            gate.set()
            ok = await wait_for(pilot, lambda: app.workspace_ready)
            assert ok, ([n.message for n in app._notifications], app.status_info, app.startup_error)
            assert app.theme == "ansi-dark"
            assert app.status_info.data_label == "~/data"
            await pilot.press("f6")  # the keymap from the settings is in force
            assert await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen))
    finally:
        gate.set()


def test_bad_settings_stop_the_workstation_with_the_error(tmp_path):
    # The same one-line error and exit status as the CLI, now that settings load inside the app.
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("ADE_")}
    env.update(ADE_DATA_DIR=str(tmp_path / "data"), ADE_TUI_WATCH_DEBOUNCE_MS="1")
    proc = subprocess.run([sys.executable, "-m", "ade_tui", "--headless", "--exit-when-ready"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "error: settings_invalid: invalid workstation settings in ADE_TUI_*: watch_debounce_ms" in proc.stderr
    assert not (tmp_path / "data" / "ade.sqlite").exists()  # nothing was opened


def test_an_unknown_theme_is_a_settings_error_naming_the_choices(tmp_path):
    from ade_engine.errors import AdeError
    from ade_tui.settings import load_tui_settings

    (tmp_path / "tui.json").write_text('{"theme": "textual-ansi"}')
    with pytest.raises(AdeError) as err:
        load_tui_settings(tmp_path)
    assert err.value.code == "settings_invalid"
    assert "theme: 'textual-ansi' is not a Textual theme" in err.value.message and "ansi-dark" in err.value.message
    assert str(tmp_path / "tui.json") in err.value.message  # where the bad value came from
    (tmp_path / "tui.json").write_text('{"theme": "ansi-dark"}')
    assert load_tui_settings(tmp_path).theme == "ansi-dark"
