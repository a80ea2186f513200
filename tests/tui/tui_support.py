"""Waiting helpers for Pilot tests (bounded polls: an upper bound for slow machines, not a timing claim)."""

from __future__ import annotations

from collections.abc import Callable

SETTLE_STEPS = 600  # × 0.05 s


async def settle(pilot) -> None:
    """Wait until the workspace is open and no service call runs (watchers keep running)."""
    app = pilot.app
    for _ in range(SETTLE_STEPS):
        await pilot.pause(0.05)
        if app.workspace_ready and not app.busy and app.status_info.sandbox is not None:
            break
    await pilot.pause()
    await pilot.pause()


async def wait_for(pilot, condition: Callable[[], bool]) -> bool:
    for _ in range(SETTLE_STEPS):
        if condition():
            return True
        await pilot.pause(0.05)
    return condition()


async def open_package(pilot):
    """From the configs list: Enter on the selected config, then wait until its package screen has loaded
    its version, shown a file and finished the first validation (a slow machine may not even have mounted
    the screen when a plain `settle` first looks)."""
    from ade_tui.screens.package import PackageScreen

    await settle(pilot)
    await pilot.press("enter")
    app = pilot.app

    def loaded() -> bool:
        screen = app.screen
        return (isinstance(screen, PackageScreen) and screen.info is not None and screen.editor.path is not None
                and screen.validation != "validating…" and not app.busy)

    assert await wait_for(pilot, loaded), "the package screen did not finish loading"
    await settle(pilot)
    return app.screen


async def open_file(pilot, screen, path: str) -> None:
    screen.open_file(path)
    assert await wait_for(pilot, lambda: screen.editor.path == path and not pilot.app.busy), f"{path} did not open"
    await settle(pilot)
