"""The secrets screen (F4): list secrets, set one with a masked input, delete with confirmation, audit trail.

Everything goes through `ade_engine.services.secrets` on a thread worker (`app.call_service`). No value is
ever rendered: the list holds only what `list_secrets` returns (names, scopes, versions, key ids, times),
and the set dialog's value field is a password `Input` whose text is handed to the service and dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Header, Input, Label, Static

from ade_tui.screens.confirm import ConfirmDialog
from ade_tui.screens.form_keys import FormKeys
from ade_tui.widgets.footer import AdeFooter
from ade_tui.widgets.inputs import AppInput
from ade_tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from ade_engine.services import secrets as secrets_service
    from ade_engine.services.secrets import AuditEntry, SecretInfo
    from ade_tui.app import AdeApp

COLUMNS = ("Name", "Scope", "Version", "Key", "Set by", "Set at", "Last used", "Requested by", "Status")


def load(ws: Any) -> tuple[list[SecretInfo], str]:
    from ade_engine.services import secrets as secrets_service

    return secrets_service.list_secrets(ws), secrets_service.key_source(ws.settings)


def without_data_dir(text: str, data_dir: Any, label: str) -> str:
    """The key source names a file in the data dir: show it under the status bar's data-dir label."""
    return text.replace(str(data_dir), label) if label else text


class SetSecretDialog(FormKeys, ModalScreen[tuple[str, str | None, str] | None]):
    """Name, optional config scope, and a masked value. Dismisses (name, config_id, value) or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(self, name: str = "", config_id: str | None = None) -> None:
        super().__init__()
        self._name, self._config = name, config_id or ""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Set a secret", classes="dialog-title")
            yield Label("Name (A-Z, 0-9, _)", classes="field-label")
            yield AppInput(self._name, placeholder="PRICEBOOK_TOKEN", id="secret-name")
            yield Label("Config (empty = whole workspace)", classes="field-label")
            yield AppInput(self._config, placeholder="config id", id="secret-config")
            yield Label("Value (hidden; 8–4096 characters)", classes="field-label")
            yield AppInput(password=True, id="secret-value")
            yield Label("The value is encrypted at once and never shown again.", classes="dialog-note")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Set", id="submit", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#secret-value" if self._name else "#secret-name", Input).focus()

    def _finish(self) -> None:
        value_input = self.query_one("#secret-value", Input)
        value = value_input.value
        value_input.value = ""  # the widget keeps no copy once we leave
        name = self.query_one("#secret-name", Input).value.strip()
        config = self.query_one("#secret-config", Input).value.strip() or None
        self.dismiss((name, config, value))

    def action_cancel(self) -> None:
        self.query_one("#secret-value", Input).value = ""
        self.dismiss(None)


class AuditDialog(ModalScreen[None]):
    """The newest audit entries (set, delete, rotate_key, inject, decrypt_failed)."""

    BINDINGS = [Binding("escape", "close", "Close", id="dialog.cancel")]

    def __init__(self, entries: list[AuditEntry], *, time_text: Any) -> None:
        super().__init__()
        self._entries, self._time = entries, time_text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -large"):
            yield Label("Secrets audit trail", classes="dialog-title")
            yield DataTable(cursor_type="row", id="audit-table")
            yield AdeFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Time", "Actor", "Action", "Name", "Scope", "Version", "Key", "Job")
        for e in self._entries:
            scope = (e.config_id or "workspace") if e.name else ""
            table.add_row(self._time(e.ts), e.actor or "", e.action, e.name or "", scope,
                          "" if e.version is None else str(e.version), e.key_id or "", e.job_id or "")
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)


class SecretsScreen(Screen[None]):
    HELP_TITLE = "Secrets"
    BINDINGS = [
        Binding("s", "set_secret", "Set", id="secrets.set"),
        Binding("d", "delete_secret", "Delete", id="secrets.delete"),
        Binding("u", "audit", "Audit", id="secrets.audit"),
        Binding("f5", "reload", "Refresh", id="secrets.refresh"),
    ]

    app: AdeApp

    def __init__(self) -> None:
        super().__init__()
        self._items: dict[str, SecretInfo] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="secrets-body"):
            yield DataTable(cursor_type="row", id="secrets-table")
            yield Static("", id="secrets-detail", markup=False)
        yield StatusBar()
        yield AdeFooter()

    def on_mount(self) -> None:
        table = self.query_one("#secrets-table", DataTable)
        table.border_title = "Secrets"
        for column in COLUMNS:
            table.add_column(column, key=column)
        table.loading = True
        self.watch(self.app, "workspace_ready", self._on_ready, init=True)

    def _on_ready(self, ready: bool) -> None:
        if ready:
            self.reload()

    def on_screen_resume(self) -> None:
        if self.app.workspace_ready:
            self.reload()

    # ------------------------------------------------------------------------------- list

    @staticmethod
    def key_of(item: SecretInfo) -> str:
        return f"{item.config_id or '*'}:{item.name}"

    def _cells(self, i: SecretInfo) -> list[str]:
        status = {"ok": "ok", "unset": "⚠ unset"}.get(i.status, f"⚠ {i.status}")
        return [i.name, i.scope, "" if i.version is None else str(i.version), i.key_id or "", i.created_by or "",
                self.app.time_text(i.created_at), self.app.time_text(i.last_used_at),
                ", ".join(i.requested_by), status]

    def reload(self, select: str | None = None) -> None:
        if self.app.ws is None:
            return
        self.app.call_service("load-secrets", "loading secrets", load, self.app.ws,
                              on_done=lambda result: self._show(*result, select=select), on_error=self._failed)

    def _failed(self, exc: Any) -> None:
        self.query_one("#secrets-table", DataTable).loading = False
        self.query_one("#secrets-detail", Static).update(f"Secrets cannot be listed: {exc.message}")
        self.app.show_error(exc)

    def _show(self, items: list[SecretInfo], source: str, *, select: str | None = None) -> None:
        table = self.query_one("#secrets-table", DataTable)
        table.loading = False
        new = {self.key_of(i): i for i in items}
        # Update rows in place by key; add new ones; drop those that went away.
        for key in list(self._items):
            if key not in new:
                table.remove_row(key)
        for key, item in new.items():
            cells = self._cells(item)
            if key in self._items:
                for column, value in zip(COLUMNS, cells, strict=True):
                    table.update_cell(key, column, value)
            else:
                table.add_row(*cells, key=key)
        self._items = new
        if select and select in new:
            table.move_cursor(row=table.get_row_index(select))
        problems = [f"{i.name} ({i.scope}): {i.problem}" for i in items if i.problem]
        label = self.app.tui.data_dir_label or str(self.app.settings.data_dir)
        detail = [f"Master keys: {without_data_dir(source, self.app.settings.data_dir, label)}"] + problems
        if not items:
            detail.insert(0, "No secrets yet. Press s to set one.")
        self.query_one("#secrets-detail", Static).update("\n".join(detail))

    def _selected(self) -> SecretInfo | None:
        table = self.query_one("#secrets-table", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        return self._items.get(key or "")

    def action_reload(self) -> None:
        self.reload()

    # ------------------------------------------------------------------------------- actions

    def action_set_secret(self) -> None:
        from ade_engine.services import secrets as secrets_service

        current = self._selected()
        name = current.name if current else ""
        config = current.config_id if current else None

        def chosen(answer: tuple[str, str | None, str] | None) -> None:
            if answer is None:
                return
            name, config_id, value = answer
            self.app.call_service("set-secret", f"setting {name}", secrets_service.set_secret, self.app.ws, name,
                                  value, config_id=config_id,
                                  on_done=lambda info: self._after_change(f"{name} set (version {info.version})",
                                                                          self.key_of(info)))

        self.app.push_screen(SetSecretDialog(name, config), chosen)

    def action_delete_secret(self) -> None:
        from ade_engine.services import secrets as secrets_service

        item = self._selected()
        if item is None or item.version is None:
            self.app.notify("select a secret that has a value to delete", severity="warning")
            return
        where = f"config {item.config_id}" if item.config_id else "the whole workspace"

        def answered(choice: str | None) -> None:
            if choice != "delete":
                return
            self.app.call_service("delete-secret", f"deleting {item.name}", secrets_service.remove_secret,
                                  self.app.ws, item.name, config_id=item.config_id,
                                  on_done=lambda _n: self._after_change(f"{item.name} deleted"))

        body = (f"Delete {item.name} for {where}? The ciphertext of all its versions is erased; jobs that "
                f"request it will fail until it is set again.")
        self.app.push_screen(ConfirmDialog(f"Delete {item.name}", body, [("delete", "Delete"), ("keep", "Keep")],
                                           default="keep", danger={"delete"}), answered)

    def action_audit(self) -> None:
        from ade_engine.services import secrets as secrets_service

        def show(entries: list[AuditEntry]) -> None:
            self.app.push_screen(AuditDialog(entries, time_text=self.app.time_text))

        self.app.call_service("secrets-audit", "reading the audit trail", secrets_service.audit_log, self.app.ws,
                              on_done=show)

    def _after_change(self, message: str, select: str | None = None) -> None:
        self.app.notify(message)
        self.reload(select)
