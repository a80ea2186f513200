"""The binding ids users may remap (`keymap` setting), and a check for ids that do not exist."""

from __future__ import annotations

from collections.abc import Iterator

from textual.binding import Binding


def _classes():
    from ade_tui.app import AdeApp
    from ade_tui.screens.configs import ConfigsScreen
    from ade_tui.screens.confirm import ConfirmDialog
    from ade_tui.screens.diff_preview import DiffPreviewDialog
    from ade_tui.screens.help import HelpScreen
    from ade_tui.screens.history import HistoryDialog
    from ade_tui.screens.job_detail import JobDetailScreen
    from ade_tui.screens.jobs import JobsScreen
    from ade_tui.screens.package import PackageScreen
    from ade_tui.screens.prompt import PromptDialog
    from ade_tui.screens.secrets import SecretsScreen
    from ade_tui.screens.submit import SubmitDialog

    return (AdeApp, ConfigsScreen, PackageScreen, JobsScreen, JobDetailScreen, SubmitDialog, SecretsScreen,
            HelpScreen, HistoryDialog, DiffPreviewDialog, ConfirmDialog, PromptDialog)


def known_bindings() -> Iterator[tuple[str, Binding]]:
    """(owner name, binding) for every binding with an id, in declaration order."""
    seen: set[str] = set()
    for cls in _classes():
        for binding in cls.BINDINGS:
            if isinstance(binding, Binding) and binding.id and binding.id not in seen:
                seen.add(binding.id)
                yield cls.__name__, binding


def unknown_ids(keymap: dict[str, str]) -> list[str]:
    if not keymap:  # nothing to check: do not import every screen at start-up
        return []
    known = {b.id for _, b in known_bindings()}
    return sorted(k for k in keymap if k not in known)


def keymap_table() -> str:
    """Markdown table of binding ids and default keys (for `docs/workstation.md`)."""
    lines = ["| id | default key | action |", "|---|---|---|"]
    for _owner, b in known_bindings():
        lines.append(f"| `{b.id}` | `{b.key}` | {b.description} |")
    return "\n".join(lines)
