"""Messages that cross widgets and screens (a widget's own messages are nested in its class)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from ade_engine.services.configs import Diagnostic


@dataclass
class WorkspaceReady(Message):
    """The workspace is open (posted to the app once)."""


@dataclass
class ConfigsChanged(Message):
    """Something changed the config registry (create, clone, publish, activate…): refresh lists."""

    config_id: str | None = None


@dataclass
class ValidationDone(Message):
    """A validation of one version finished (`source`: `save`, `watch`, `manual`, `open`)."""

    config_id: str
    config_version_id: str
    diagnostics: list[Diagnostic]
    source: str
    changed_paths: tuple[str, ...] = ()


@dataclass
class FilesChangedOnDisk(Message):
    """The watcher saw these package paths change (relative, '/'-separated)."""

    config_version_id: str
    paths: tuple[str, ...]
