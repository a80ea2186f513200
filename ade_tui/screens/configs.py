"""The configs screen: every config with status, active version and last validation, and their actions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from ade_tui.messages import ConfigsChanged
from ade_tui.screens.confirm import ConfirmDialog
from ade_tui.screens.history import HistoryDialog
from ade_tui.screens.prompt import PromptDialog, PromptField
from ade_tui.widgets.config_table import ConfigTable, row_for
from ade_tui.widgets.footer import AdeFooter
from ade_tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from ade_engine.services import configs
    from ade_engine.services.configs import ConfigDetail
    from ade_tui.app import AdeApp


def load_details(ws) -> list[ConfigDetail]:
    from ade_engine.services import configs

    return [configs.show_config(ws, c.config_id) for c in configs.list_configs(ws, include_archived=True)]


class ConfigsScreen(Screen[None]):
    HELP_TITLE = "Configs"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    BINDINGS = [
        Binding("enter", "open", "Open", id="configs.open", priority=True),
        Binding("n", "new", "New", id="configs.new"),
        Binding("c", "clone", "Clone", id="configs.clone"),
        Binding("i", "import_package", "Import", id="configs.import"),
        Binding("e", "export", "Export", id="configs.export"),
        Binding("p", "publish", "Publish", id="configs.publish"),
        Binding("a", "activate", "Activate", id="configs.activate"),
        Binding("x", "archive", "Archive", id="configs.archive"),
        Binding("h", "history", "History", id="configs.history"),
        Binding("v", "validate", "Validate", id="configs.validate"),
        Binding("f5", "reload", "Refresh", id="configs.refresh"),
    ]

    app: AdeApp

    def __init__(self) -> None:
        super().__init__()
        self._details: dict[str, ConfigDetail] = {}
        self._validated_once = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="configs-body"):
            yield ConfigTable(id="config-table")
            with VerticalScroll(id="config-details"):
                yield Static("", id="config-details-text")
        yield StatusBar()
        yield AdeFooter()

    def on_mount(self) -> None:
        table = self.query_one(ConfigTable)
        table.loading = True
        table.border_title = "Configs"
        self.watch(self.app, "workspace_ready", self._on_ready, init=True)

    def _on_ready(self, ready: bool) -> None:
        if ready:
            self.reload()

    # ------------------------------------------------------------------------------- loading

    @property
    def table(self) -> ConfigTable:
        return self.query_one(ConfigTable)

    def reload(self, select: str | None = None) -> None:
        def done(details: list[ConfigDetail]) -> None:
            self._details = {d.config_id: d for d in details}
            table = self.table
            table.loading = False
            table.show([row_for(d, self.app.validation_text(d.config_id)) for d in details])
            if select:
                table.select_config(select)
            self._show_details()
            if not self._validated_once:
                self._validated_once = True
                self._validate_all()

        self.app.call_service("load-configs", "loading configs", load_details, self.app.ws, on_done=done)

    def action_reload(self) -> None:
        self.reload(self.table.selected_config)

    def on_configs_changed(self, message: ConfigsChanged) -> None:
        self.reload(message.config_id or self.table.selected_config)

    def on_screen_resume(self) -> None:
        if self.app.workspace_ready:
            self.reload(self.table.selected_config)

    def _validate_all(self) -> None:
        targets = [(d.config_id, _editable_or_latest(d)) for d in self._details.values() if not d.archived]
        targets = [(cid, ref) for cid, ref in targets if ref and cid not in self.app.validations]
        for cid, ref in targets:
            self.app.validate_version(cid, ref, on_done=lambda *_: None, quiet=True)

    def refresh_validation(self, config_id: str) -> None:
        self.table.set_validation(config_id, self.app.validation_text(config_id))
        self._show_details()

    # ------------------------------------------------------------------------------- details pane

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_details()

    def _show_details(self) -> None:
        cid = self.table.selected_config
        detail = self._details.get(cid or "")
        text = self.query_one("#config-details-text", Static)
        if detail is None:
            text.update("No config selected.")
            return
        lines = [detail.title, ""]
        for v in reversed(detail.versions):
            flags = " ".join(f for f in ("active" if v.active else "", "archived" if v.archived else "") if f)
            lines.append(f"@{v.number}  {v.status:<9} {flags}")
        lines += ["", f"Validation: {self.app.validation_text(detail.config_id) or 'not run'}"]
        text.update("\n".join(lines))

    # ------------------------------------------------------------------------------- actions

    def _selected(self) -> ConfigDetail | None:
        detail = self._details.get(self.table.selected_config or "")
        if detail is None:
            self.notify("No config selected.", severity="warning")
        return detail

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        detail = self._selected()
        if detail is None:
            return
        ref = _editable_or_latest(detail)
        if ref is None:
            self.notify(f"{detail.config_id} has no versions.", severity="warning")
            return
        self.app.open_package(detail.config_id, ref)

    def action_new(self) -> None:
        if not self.app.workspace_or_notify():
            return
        from ade_engine.services import configs

        def answered(values: dict[str, str] | None) -> None:
            if not values or not values["config_id"]:
                return
            self.app.call_service(
                "create-config", f"creating {values['config_id']}", configs.create_config, self.app.ws,
                values["config_id"], title=values["title"] or None,
                on_done=lambda v: self._created(v.config_id, v.config_version_id, f"Created {v.label} from template"))

        self.app.push_screen(PromptDialog("New config from template", [
            PromptField("config_id", "Config id (lower-case letters, digits, - and _)", placeholder="vendor_prices"),
            PromptField("title", "Title", placeholder="Vendor prices"),
        ], submit="Create"), answered)

    def _created(self, config_id: str, version_id: str, note: str) -> None:
        self.notify(note)
        self.app.configs_changed(config_id)
        self.app.open_package(config_id, version_id)

    def action_clone(self) -> None:
        from ade_engine.services import configs

        detail = self._selected()
        if detail is None:
            return
        source = detail.latest_published_id or detail.draft_version_id
        if source is None:
            return

        def answered(values: dict[str, str] | None) -> None:
            if values is None:
                return
            new_id = values["config_id"] or None
            if new_id is None and detail.draft_version_id:
                self.notify(f"{detail.config_id} already has a draft; give a new config id.", severity="warning")
                return
            self.app.call_service(
                "clone-config", f"cloning {detail.config_id}", configs.clone, self.app.ws, source,
                new_config_id=new_id, title=values["title"] or None,
                on_done=lambda v: self._created(v.config_id, v.config_version_id, f"Cloned into {v.label}"))

        self.app.push_screen(PromptDialog(f"Clone {detail.config_id}", [
            PromptField("config_id", "New config id (empty: a new draft of this config)"),
            PromptField("title", "Title (optional)"),
        ], submit="Clone"), answered)

    def action_import_package(self) -> None:
        if not self.app.workspace_or_notify():
            return
        from ade_engine.services import configs

        def answered(values: dict[str, str] | None) -> None:
            if not values or not values["source"]:
                return
            source = Path(values["source"]).expanduser()
            self.app.call_service(
                "import-config", f"importing {source.name}", configs.import_package, self.app.ws, source,
                config_id=values["config_id"] or None,
                on_done=lambda v: self._created(v.config_id, v.config_version_id, f"Imported {v.label}"))

        self.app.push_screen(PromptDialog("Import a package", [
            PromptField("source", "Package folder or .zip", placeholder="~/packages/vendor_prices.zip"),
            PromptField("config_id", "Config id (empty: from the file name)"),
        ], submit="Import"), answered)

    def action_export(self) -> None:
        from ade_engine.services import configs

        detail = self._selected()
        if detail is None:
            return
        ref = _editable_or_latest(detail)

        def answered(values: dict[str, str] | None) -> None:
            if not values or ref is None:
                return
            dest = Path(values["dest"]).expanduser() if values["dest"] else None
            self.app.call_service(
                "export-config", f"exporting {detail.config_id}", configs.export_version, self.app.ws, ref, dest,
                on_done=lambda path: self.notify(f"Exported to {path}"))

        self.app.push_screen(PromptDialog(f"Export {detail.config_id}", [
            PromptField("dest", "Destination .zip or folder (empty: current folder)"),
        ], submit="Export"), answered)

    def action_publish(self) -> None:
        detail = self._selected()
        if detail is None:
            return
        if not detail.draft_version_id:
            self.notify(f"{detail.config_id} has no draft to publish; clone it first.", severity="warning")
            return
        self.app.publish_flow(detail.config_id, detail.draft_version_id)

    def action_activate(self) -> None:
        detail = self._selected()
        if detail is None:
            return
        if not detail.latest_published_id:
            self.notify(f"{detail.config_id} has no published version; publish it first.", severity="warning")
            return
        self.app.activate_flow(detail.config_id, detail.latest_published_id)

    def action_archive(self) -> None:
        from ade_engine.services import configs

        detail = self._selected()
        if detail is None:
            return
        verb = "Unarchive" if detail.archived else "Archive"
        fn = configs.unarchive_config if detail.archived else configs.archive_config

        def answered(choice: str | None) -> None:
            if choice == "yes":
                self.app.call_service(f"{verb.lower()}-config", f"{verb.lower()} {detail.config_id}", fn,
                                      self.app.ws, detail.config_id,
                                      on_done=lambda _: (self.notify(f"{verb}d {detail.config_id}"),
                                                         self.app.configs_changed(detail.config_id)))

        body = (f"{detail.config_id} becomes read-only and cannot be activated." if not detail.archived
                else f"{detail.config_id} can be edited and activated again.")
        self.app.push_screen(ConfirmDialog(f"{verb} {detail.config_id}?", body, [("yes", verb), ("no", "Cancel")],
                                           default="no"), answered)

    def action_history(self) -> None:
        from ade_engine.services import configs

        detail = self._selected()
        if detail is None:
            return

        def answered(choice: tuple[str, str] | None) -> None:
            if choice is None:
                return
            action, version_id = choice
            if action == "open":
                self.app.open_package(detail.config_id, version_id)
            elif action == "activate":
                self.app.activate_flow(detail.config_id, version_id)
            elif action == "clone":
                self.app.call_service(
                    "clone-config", f"new draft of {detail.config_id}", configs.clone, self.app.ws, version_id,
                    on_done=lambda v: self._created(v.config_id, v.config_version_id, f"New draft {v.label}"))

        self.app.push_screen(HistoryDialog(detail.config_id, detail.versions, time_format=self.app.time_text),
                             answered)

    def action_validate(self) -> None:
        detail = self._selected()
        ref = _editable_or_latest(detail) if detail else None
        if detail is None or ref is None:
            return
        self.app.validate_version(detail.config_id, ref, on_done=lambda *_: None)


def _editable_or_latest(detail: ConfigDetail) -> str | None:
    return detail.draft_version_id or detail.latest_published_id
