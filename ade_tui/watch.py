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
    """Watch `pkg` until cancelled (or `stop` is set). Per batch of changes: static validation, posted as
    `ValidationDone`; then `FilesChangedOnDisk`; then, when static found no error, the full validation (with
    the dynamic probes) as a second `ValidationDone`. `validate(pkg, dynamic=...)` defaults to
    `services.configs.validate_dir`.

    Static checks come first because they are what the author waits for (a typo, a bad signature) and take
    tens of milliseconds alone; posted after `FilesChangedOnDisk`, they competed for the GIL with the file
    listing, the re-read and the editor reload that message starts, and showed 0.2–0.4 s after the save."""
    if validate is None:
        from ade_engine.services.configs import validate_dir as validate
    async for changes in awatch(pkg, watch_filter=PackageFilter(), debounce=debounce_ms, step=25, stop_event=stop):
        paths = relative_paths(pkg, {p for _, p in changes})
        if not paths:
            continue
        if not pkg.is_dir():  # the draft was published or deleted under us
            target.post_message(FilesChangedOnDisk(version_id, paths))
            return
        diagnostics = await asyncio.to_thread(validate, pkg, dynamic=False)
        target.post_message(ValidationDone(config_id, version_id, diagnostics, "watch", paths))
        target.post_message(FilesChangedOnDisk(version_id, paths))
        if any(d.level == "error" for d in diagnostics):
            continue  # the dynamic probes run only on a package without static errors
        full = await asyncio.to_thread(validate, pkg, dynamic=True)
        if full != diagnostics:
            target.post_message(ValidationDone(config_id, version_id, full, "watch", paths))
