"""Publish preview: what the draft changes against its base, then confirm or cancel."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

if TYPE_CHECKING:
    from ade_engine.services.drafts import DraftDiff


MAX_DIFF_LINES = 2000  # a preview, not an archive: the rest is summarized


def render_diff(diff: DraftDiff) -> Content:
    parts: list[Content] = []
    if not diff.changes:
        return Content("No changes against the base version.")
    for change in diff.changes:
        parts.append(Content.styled(f"{change.change:>8}  {change.path}\n", "bold"))
    parts.append(Content("\n"))
    shown = 0
    for change in diff.changes:
        lines = (change.diff or f"(binary file {change.change})\n").splitlines()
        for line in lines:
            if shown >= MAX_DIFF_LINES:
                break
            style = ("$text-success" if line.startswith("+") and not line.startswith("+++")
                     else "$text-error" if line.startswith("-") and not line.startswith("---")
                     else "$text-accent" if line.startswith("@@") else "")
            parts.append(Content.styled(line + "\n", style) if style else Content(line + "\n"))
            shown += 1
    if shown >= MAX_DIFF_LINES:
        parts.append(Content(f"… diff cut at {MAX_DIFF_LINES} lines\n"))
    return Content("").join(parts)


class DiffPreviewDialog(ModalScreen[bool]):
    """Dismisses True to go ahead."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
        Binding("f9", "confirm", "Publish", id="dialog.confirm"),
    ]

    def __init__(self, title: str, diff: DraftDiff, *, confirm: str = "Publish") -> None:
        super().__init__()
        self._title, self._diff, self._confirm = title, diff, confirm

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -large"):
            base = self._diff.base or "nothing (first version)"
            yield Label(f"{self._title}: {self._diff.draft} against {base}", classes="dialog-title")
            with VerticalScroll(id="diff-scroll", can_focus=True):
                yield Static(render_diff(self._diff), id="diff-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self._confirm, id="confirm", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#diff-scroll").focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
