"""Snapshot tests: every screen at 80×24 and 120×40 (update on purpose with `make snapshots`).

The jobs and secrets screens belong to their own helpers' tests. Deterministic: fixed data-dir label, no clocks, no watcher, no blinking cursors, a fixed sandbox
level, and every service call finished before the picture is taken.
"""

from __future__ import annotations

import pytest
from tui_support import settle

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


async def _open_draft(pilot):
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)


async def _draft_with_problem(pilot):
    await _open_draft(pilot)
    screen = pilot.app.screen
    screen.open_file("columns/email.py")
    await settle(pilot)
    editor = screen.editor
    editor.move_cursor(editor.document.end)
    editor.insert("\ndef broken(:\n")
    await pilot.press("ctrl+s")
    await settle(pilot)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def _publish_preview(pilot):
    await _open_draft(pilot)
    await pilot.press("f9")
    await settle(pilot)


async def _history(pilot):
    await settle(pilot)
    await pilot.press("h")
    await settle(pilot)


async def _help(pilot):
    await _open_draft(pilot)
    await pilot.press("f1")
    await settle(pilot)


async def _activate_confirm(pilot):
    await settle(pilot)
    await pilot.press("down", "a")
    await settle(pilot)


async def _new_config(pilot):
    await settle(pilot)
    await pilot.press("n")
    await settle(pilot)


SCREENS = {
    "configs": settle,
    "package_problems": _draft_with_problem,
    "publish_preview": _publish_preview,
    "history": _history,
    "help": _help,
    "activate_confirm": _activate_confirm,
    "new_config": _new_config,
}


def _then_quiet(run_before):
    """Run the steps, then drop toasts: they expire on a clock, so they have no place in a picture."""

    async def run(pilot):
        await run_before(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    return run


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", list(SCREENS))
def test_screen(snap_compare, make_app, name, size):
    assert snap_compare(make_app(), terminal_size=size, run_before=_then_quiet(SCREENS[name]))
