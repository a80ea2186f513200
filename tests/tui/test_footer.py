"""The footer: the keys of the screen on top, rebuilt when they change (not while a dialog covers it)."""

from __future__ import annotations

import pytest
from textual.widgets._footer import FooterKey

from ade_tui.screens.help import HelpScreen
from ade_tui.screens.jobs import JobsScreen
from ade_tui.widgets.footer import AdeFooter
from tui_support import settle, wait_for


def footer_keys(screen) -> list[str]:
    return [k.description for k in screen.query_one(AdeFooter).query(FooterKey) if k.description]


@pytest.mark.anyio
async def test_footer_follows_the_screen_and_survives_dialogs(make_app):
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        configs = app.screen
        assert {"Open", "Publish", "Help", "Jobs"} <= set(footer_keys(configs))
        before = footer_keys(configs)

        await pilot.press("f1")
        assert await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        assert await wait_for(pilot, lambda: app.screen is configs)
        await pilot.pause()
        assert footer_keys(configs) == before

        await pilot.press("f3")
        assert await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen))
        assert await wait_for(pilot, lambda: "Submit" in footer_keys(app.screen))
        assert "Publish" not in footer_keys(app.screen)
