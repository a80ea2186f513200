"""The TUI secrets screen (F4): set with a masked input, list, delete with confirmation, audit — and the
value is never on screen (every frame's SVG export is searched)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from secrets_world import OTHER, TOKEN

from ade_engine.services import secrets as svc
from ade_engine.settings import isolated_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tui"))  # the workstation tests' helpers
from tui_support import wait_for  # noqa: E402

FRAGMENTS = ("S3cr3t", "tok/en", "another-Secret", "Value-42")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def app(tmp_path: Path, empty_samples: Path):
    from ade_tui.app import AdeApp
    from ade_tui.settings import explicit_tui_settings
    from ade_tui.worker_host import NoWorkerHost, SandboxStatus

    settings = isolated_settings(tmp_path / "data", sample_configs_dir=empty_samples)
    tui = explicit_tui_settings(watch=False, data_dir_label="~/.local/share/ade", show_times=False,
                                cursor_blink=False, watch_debounce_ms=50)
    return AdeApp(settings, tui, worker_host=NoWorkerHost(), sandbox_probe=lambda _s: SandboxStatus("standard"))


async def settle(pilot) -> None:
    for _ in range(5):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def assert_not_rendered(app) -> None:
    frame = app.export_screenshot()
    for fragment in FRAGMENTS:
        assert fragment not in frame, f"{fragment!r} rendered"


@pytest.mark.anyio
async def test_set_list_delete_and_audit_without_ever_showing_the_value(app):
    from textual.widgets import DataTable, Input

    async with app.run_test(size=(140, 36)) as pilot:
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        assert type(app.screen).__name__ == "SecretsScreen"

        await pilot.press("s")
        await pilot.pause()
        value_input = app.screen.query_one("#secret-value", Input)
        assert value_input.password is True
        app.screen.query_one("#secret-name", Input).value = "API_TOKEN"
        value_input.value = TOKEN
        await pilot.pause()
        assert_not_rendered(app)  # the dialog shows bullets only
        app.screen.query_one("#secret-value", Input).focus()
        await pilot.press("enter")
        await settle(pilot)

        table = app.screen.query_one("#secrets-table", DataTable)
        assert table.row_count == 1
        assert table.get_row("*:API_TOKEN")[:3] == ["API_TOKEN", "workspace", "1"]
        assert_not_rendered(app)
        assert [i.version for i in svc.list_secrets(app.ws)] == [1]

        # A second version through the same dialog (name prefilled from the selected row).
        await pilot.press("s")
        await pilot.pause()
        assert app.screen.query_one("#secret-name", Input).value == "API_TOKEN"
        app.screen.query_one("#secret-value", Input).value = OTHER
        await pilot.press("enter")
        await settle(pilot)
        assert table.get_row("*:API_TOKEN")[2] == "2"
        assert_not_rendered(app)

        await pilot.press("u")
        await settle(pilot)
        audit = app.screen.query_one("#audit-table", DataTable)
        assert [audit.get_row_at(i)[2] for i in range(audit.row_count)] == ["set", "set"]
        assert_not_rendered(app)
        await pilot.press("escape")
        await pilot.pause()

        await pilot.press("d")
        await pilot.pause()
        await pilot.click("#choice-delete")
        # The answer starts the delete after the dialog closes: wait for the table, not for a quiet moment.
        assert await wait_for(pilot, lambda: table.row_count == 0)
        await settle(pilot)
        assert svc.list_secrets(app.ws) == []
        assert_not_rendered(app)


@pytest.mark.anyio
async def test_a_bad_value_is_refused_in_place(app):
    from textual.widgets import Input

    async with app.run_test(size=(140, 36)) as pilot:
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        await pilot.press("s")
        await pilot.pause()
        app.screen.query_one("#secret-name", Input).value = "API_TOKEN"
        app.screen.query_one("#secret-value", Input).value = "qz7#k"
        app.screen.query_one("#secret-value", Input).focus()
        await pilot.press("enter")
        await settle(pilot)
        assert svc.list_secrets(app.ws) == []
        notes = [n.message for n in app._notifications]
        assert any("8–4096 characters" in m for m in notes) and not any("qz7#k" in m for m in notes)
