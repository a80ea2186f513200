"""Live validation: one `watchfiles.awatch` loop per open draft → validation service → messages.

Runs as a named async worker owned by the package screen. Changes that arrive while a validation runs
are collected by `awatch` and trigger exactly one more validation, so a burst of saves costs at most
two runs. The validation itself runs in a thread so typing never waits for it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message_pump import MessagePump
from watchfiles import DefaultFilter, awatch

from ade_tui.messages import FilesChangedOnDisk, ValidationDone

if TYPE_CHECKING:
    from ade_engine.services.configs import Diagnostic

# Atomic writes go through `.name.<pid>.tmp` (drafts service) or editor swap files: not changes yet.
_TEMP = re.compile(r"^\..*\.tmp$|\.sw[a-p]$|~$|^\.#|^4913$")


class PackageFilter(DefaultFilter):
    def __call__(self, change, path: str) -> bool:  # type: ignore[override]
        return super().__call__(change, path) and not _TEMP.search(Path(path).name)


def relative_paths(pkg: Path, paths: set[str]) -> tuple[str, ...]:
    out = set()
    for raw in paths:
        try:
            out.add(Path(raw).relative_to(pkg).as_posix())
        except ValueError:
            continue
    return tuple(sorted(out))


async def watch_package(
    target: MessagePump,
    pkg: Path,
    *,
    config_id: str,
    version_id: str,
    debounce_ms: int = 150,
    stop: asyncio.Event | None = None,
    validate: Callable[[Path], list[Diagnostic]] | None = None,
) -> None:
    """Watch `pkg` until cancelled (or `stop` is set); post `FilesChangedOnDisk` then `ValidationDone`.
    `validate` defaults to `services.configs.validate_dir`."""
    if validate is None:
        from ade_engine.services.configs import validate_dir as validate
    async for changes in awatch(pkg, watch_filter=PackageFilter(), debounce=debounce_ms, step=25, stop_event=stop):
        paths = relative_paths(pkg, {p for _, p in changes})
        if not paths:
            continue
        target.post_message(FilesChangedOnDisk(version_id, paths))
        if not pkg.is_dir():  # the draft was published or deleted under us
            return
        diagnostics = await asyncio.to_thread(validate, pkg)
        target.post_message(ValidationDone(config_id, version_id, diagnostics, "watch", paths))
