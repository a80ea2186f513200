"""The submit dialog: pick a stored document or a file from disk, a config (and version), and options.

It only gathers the choice; the jobs screen submits it (`services.jobs.submit_job`, which registers a file
path as a document first). The lists of documents and configs load in a named worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select

from ade_tui.widgets.inputs import AppInput


if TYPE_CHECKING:
    from ade_engine.services import configs, documents
    from ade_tui.app import AdeApp

NETWORK = [("as the config's manifest says", "default"), ("allow network", "allow"), ("deny network", "deny")]


@dataclass(frozen=True)
class SubmitRequest:
    input_ref: str  # a document id or a file path
    config: str | None
    version: str | None
    force: bool = False
    network: bool | None = None

    @property
    def label(self) -> str:
        return self.input_ref.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class SubmitChoices:
    documents: list[tuple[str, str]]  # (label, document id), newest first
    configs: list[tuple[str, str]]  # (label, config id)
    active_config: str | None


def load_choices(ws: Any) -> SubmitChoices:
    from ade_engine.services import configs, documents

    docs = [(f"{d.original_name} · {d.document_id[:10]}", d.document_id) for d in documents.list_documents(ws)]
    active = configs.active_version(ws)
    options = []
    for c in configs.list_configs(ws):
        if c.latest_published_id or c.draft_version_id:
            mark = " (active)" if active is not None and active.config_id == c.config_id else ""
            options.append((f"{c.config_id}{mark}", c.config_id))
    return SubmitChoices(docs, options, active.config_id if active is not None else None)


class SubmitDialog(ModalScreen[SubmitRequest | None]):
    """Dismisses with a `SubmitRequest`, or None on Escape."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
        Binding("f9", "submit", "Submit", id="submit.go"),
    ]

    app: AdeApp

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog", id="submit-dialog"):
            yield Label("Submit a job", classes="dialog-title")
            yield Label("Document already stored", classes="field-label")
            yield Select([], prompt="— none: use a file from disk —", id="submit-document")
            yield Label("…or a file from disk (.xlsx, .xlsm, .csv)", classes="field-label")
            yield AppInput(placeholder="path/to/file.xlsx", id="submit-path")
            yield Label("Config", classes="field-label")
            yield Select([], prompt="the active config", id="submit-config")
            yield Label("Version (blank: active, else newest published; N, latest, draft)", classes="field-label")
            yield AppInput(placeholder="active", id="submit-version")
            yield Select(NETWORK, value="default", allow_blank=False, id="submit-network")
            yield Checkbox("Run again even if an identical job exists (force)", id="submit-force")
            yield Label("", id="submit-error", classes="dialog-note")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Submit (F9)", id="submit", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#submit-path", Input).focus()
        if self.app.ws is not None:
            self.app.call_service("submit-choices", "loading documents and configs", load_choices, self.app.ws,
                                  on_done=self._fill)

    def _fill(self, choices: SubmitChoices) -> None:
        self.query_one("#submit-document", Select).set_options(choices.documents)
        config = self.query_one("#submit-config", Select)
        config.set_options(choices.configs)
        if choices.active_config is not None:
            config.value = choices.active_config

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "submit-version":
            self.action_submit()
        else:
            self.focus_next()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "submit":
            self.action_submit()
        else:
            self.dismiss(None)

    def action_submit(self) -> None:
        path = self.query_one("#submit-path", Input).value.strip()
        document = self.query_one("#submit-document", Select).value
        config = self.query_one("#submit-config", Select).value
        version = self.query_one("#submit-version", Input).value.strip() or None
        network = {"allow": True, "deny": False}.get(str(self.query_one("#submit-network", Select).value))
        input_ref = path or (document if isinstance(document, str) else "")
        if not input_ref:
            self.query_one("#submit-error", Label).update("Choose a stored document or type a file path.")
            return
        self.dismiss(SubmitRequest(input_ref, config if isinstance(config, str) else None, version,
                                   force=self.query_one("#submit-force", Checkbox).value, network=network))

    def action_cancel(self) -> None:
        self.dismiss(None)
