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
