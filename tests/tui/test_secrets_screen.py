"""The secrets screen finishes loading (no spinner left behind) and renders no filesystem path."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Static
from tui_support import settle

from ade_tui.screens.secrets import SecretsScreen

pytestmark = pytest.mark.anyio


async def test_secrets_screen_loads_and_shows_no_temp_path(make_app, settings):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SecretsScreen)
        assert not screen.query_one("#secrets-table", DataTable).loading
        assert app.status_info.busy == ()  # the "loading secrets" label went away
        detail = str(screen.query_one("#secrets-detail", Static).render())
        assert "Master keys: key file ~/.local/share/ade/" in detail
        assert str(settings.data_dir) not in detail and "/tmp" not in detail
        # Leaving and coming back loads again, and again finishes.
        await pilot.press("f2")
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        assert app.status_info.busy == () and not screen.query_one("#secrets-table", DataTable).loading
