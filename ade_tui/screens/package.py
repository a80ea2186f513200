"""The package view: file tree, editor, problems panel and a status line for one config version.

A draft is editable and watched (live validation); a published version opens read-only.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Header, Static, TextArea

from ade_engine.errors import AdeError
from ade_tui.messages import FilesChangedOnDisk, ValidationDone
from ade_tui.screens.confirm import ConfirmDialog
from ade_tui.watch import watch_package
from ade_tui.widgets.editor import PackageEditor
from ade_tui.widgets.file_tree import FileTree
from ade_tui.widgets.footer import AdeFooter
from ade_tui.widgets.problems import ProblemsPanel, summary
from ade_tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from ade_engine.services import configs, drafts
    from ade_engine.services.configs import Diagnostic, VersionInfo
    from ade_engine.services.drafts import FileContent, FileEntry, SaveResult
    from ade_tui.app import AdeApp

FIRST_FILE = "manifest.json"


def load_package(ws, version_id: str) -> tuple[VersionInfo, list[FileEntry]]:
    from ade_engine.services import configs, drafts

    return configs.get_version(ws, version_id), drafts.list_files(ws, version_id)


class PackageScreen(Screen[None]):
    HELP_TITLE = "Package"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (34, "-tall")]
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="package.save"),
        Binding("f5", "validate", "Validate", id="package.validate"),
        Binding("f9", "publish", "Publish", id="package.publish"),
        Binding("ctrl+r", "reload_file", "Reload", id="package.reload"),
        Binding("ctrl+o", "external_editor", "$EDITOR", id="package.external_editor"),
        Binding("ctrl+n", "new_draft", "New draft", id="package.new_draft"),
        Binding("ctrl+g", "focus_files", "Files", id="package.files"),
        Binding("ctrl+l", "focus_problems", "Problems", id="package.problems"),
        Binding("escape", "back", "Back", id="package.back"),
    ]

    app: AdeApp

    def __init__(self, config_id: str, version_id: str) -> None:
        super().__init__()
        self.config_id, self.version_id = config_id, version_id
        self.info: VersionInfo | None = None
        self.files: list[str] = []
        self.validation = "validating…"
        self._stale = False  # the open file changed on disk while the editor had unsaved changes
        # Validations finish out of order (a full one with dynamic checks takes longer than the static check
        # of a save): each request takes a number, and only the newest one's result is shown.
        self._validation_seq = 0

    # ------------------------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="package-body"):
            yield FileTree(id="file-tree")
            with Vertical(id="package-main"):
                yield PackageEditor(id="editor")
                yield ProblemsPanel(id="problems")
                yield Static("", id="package-status")
        yield StatusBar()
        yield AdeFooter()

    @property
    def editor(self) -> PackageEditor:
        return self.query_one(PackageEditor)

    @property
    def problems(self) -> ProblemsPanel:
        return self.query_one(ProblemsPanel)

    @property
    def is_draft(self) -> bool:
        return self.info is not None and self.info.status == "draft" and not self.info.archived

    @property
    def has_unsaved(self) -> bool:
        return self.editor.dirty

    def on_mount(self) -> None:
        self.editor.cursor_blink = self.app.tui.cursor_blink
        self.query_one(FileTree).border_title = "Files"
        self.editor.loading = True
        self.app.call_service(f"open-package {self.version_id}", "opening package", load_package, self.app.ws,
                              self.version_id, on_done=self._loaded)

    def _loaded(self, result: tuple[VersionInfo, list[FileEntry]]) -> None:
        self.info, entries = result
        self.sub_title = f"{self.info.label} ({'draft' if self.is_draft else self.info.status + ', read-only'})"
        self.files = [e.path for e in entries]
        self.query_one(FileTree).show_files(self.files)
        first = FIRST_FILE if FIRST_FILE in self.files else (self.files[0] if self.files else None)
        if first:
            self.open_file(first)
        else:
            self.editor.loading = False
        self.run_validation("open")
        if self.is_draft and self.app.tui.watch:
            self.run_worker(
                watch_package(self, Path(self.info.path), config_id=self.config_id, version_id=self.version_id,
                              debounce_ms=self.app.tui.watch_debounce_ms, validate=self._live_validate),
                name=f"watch {self.info.label}", group="watch", exclusive=True, exit_on_error=False)
        self.editor.focus()

    def _live_validate(self, pkg: Path, *, dynamic: bool) -> list:
        """Live validation on save: against the draft's prepared requirements when there are any (never
        installs; publishing or 'validate' prepares them)."""
        from ade_engine.services import configs

        return configs.validate_prepared(self.app.ws.settings, pkg, dynamic=dynamic, prepare=False)

    # ------------------------------------------------------------------------------- files

    def open_file(self, path: str, line: int | None = None) -> None:
        editor = self.editor
        if path == editor.path:
            editor.go_to_line(line)
            editor.focus()
            return
        if editor.dirty:
            def answered(choice: str | None) -> None:
                if choice == "save":
                    self._save(then=lambda: self._read(path, line))
                elif choice == "discard":
                    self._read(path, line)

            self.app.push_screen(ConfirmDialog(
                f"Unsaved changes in {editor.path}", "Save them before opening another file?",
                [("save", "Save"), ("discard", "Discard"), ("cancel", "Cancel")], danger={"discard"}), answered)
            return
        self._read(path, line)

    def _read(self, path: str, line: int | None = None, *, keep_cursor: bool = False) -> None:
        from ade_engine.services import drafts

        def done(content: FileContent) -> None:
            editor = self.editor
            cursor = editor.cursor_location
            editor.loading = False
            editor.load(content, read_only=not self.is_draft)
            self._stale = False
            if keep_cursor:
                row = min(cursor[0], max(editor.document.line_count - 1, 0))
                editor.move_cursor((row, cursor[1]))
            editor.go_to_line(line)
            self.query_one(FileTree).select_path(path)
            self._show_status()

        self.app.call_service("read-file", f"reading {path}", drafts.read_file, self.app.ws, self.version_id, path,
                              on_done=done)

    def on_file_tree_file_open(self, message: FileTree.FileOpen) -> None:
        self.open_file(message.path)

    def on_problems_panel_jump_to(self, message: ProblemsPanel.JumpTo) -> None:
        if message.path not in self.files:
            self.notify(f"{message.path} is not a file; the problem concerns the package layout.")
            return
        self.open_file(message.path, message.line)
        self.editor.focus()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self._show_status()

    # ------------------------------------------------------------------------------- saving

    def action_save(self) -> None:
        self._save()

    def _save(self, then=None, expected_hash: str | None | object = ...) -> None:
        from ade_engine.services import drafts

        editor = self.editor
        if not self.is_draft or editor.path is None:
            self.notify("This version is read-only; ctrl+n makes a new draft from it.", severity="warning")
            return
        path, text = editor.path, editor.text
        expected = editor.sha256 if expected_hash is ... else expected_hash
        seq = self._next_validation()

        def done(result: SaveResult) -> None:
            editor.mark_saved(result.sha256, text)
            self._stale = False
            if seq == self._validation_seq:
                self.show_problems(result.diagnostics, "save")
            self.notify(f"Saved {path}", timeout=2)
            if then:
                then()

        def failed(exc: AdeError) -> None:
            if exc.code == "conflict":
                self._conflict(path, exc)
            else:
                self.app.show_error(exc)

        self.app.call_service("save-file", f"saving {path}", drafts.write_file, self.app.ws, self.version_id, path,
                              text, expected_hash=expected, on_done=done, on_error=failed)

    def _conflict(self, path: str, exc: AdeError) -> None:
        actual = (exc.details or {}).get("actual")

        def answered(choice: str | None) -> None:
            if choice == "overwrite":
                self._save(expected_hash=actual)
            elif choice == "reload":
                self._read(path, keep_cursor=True)

        self.app.push_screen(ConfirmDialog(
            f"{path} changed on disk", f"{exc.message}\n\nOverwrite it with your text, or reload it and lose your "
            "changes?", [("overwrite", "Overwrite"), ("reload", "Reload"), ("cancel", "Cancel")],
            default="cancel", danger={"overwrite", "reload"}), answered)

    def action_reload_file(self) -> None:
        path = self.editor.path
        if path is None:
            return
        if self.editor.dirty:
            def answered(choice: str | None) -> None:
                if choice == "reload":
                    self._read(path, keep_cursor=True)

            self.app.push_screen(ConfirmDialog(f"Reload {path}?", "Your unsaved changes will be lost.",
                                               [("reload", "Reload"), ("cancel", "Cancel")], default="cancel",
                                               danger={"reload"}), answered)
            return
        self._read(path, keep_cursor=True)

    # ------------------------------------------------------------------------------- live validation

    def on_files_changed_on_disk(self, message: FilesChangedOnDisk) -> None:
        from ade_engine.services import drafts

        if message.config_version_id != self.version_id:
            return
        self.app.call_service("list-files", "listing files", drafts.list_files, self.app.ws, self.version_id,
                              on_done=self._files_listed)
        path = self.editor.path
        if path not in message.paths:
            return

        def done(content: FileContent) -> None:
            editor = self.editor
            if editor.path != path or content.sha256 == editor.sha256:
                return  # our own save, or another file by now
            if editor.dirty:
                self._stale = True
                self._show_status()
            else:
                cursor = editor.cursor_location
                editor.load(content, read_only=not self.is_draft)
                editor.move_cursor((min(cursor[0], max(editor.document.line_count - 1, 0)), cursor[1]))
                self._show_status()

        def gone(exc: AdeError) -> None:
            if exc.code == "not_found":
                self._stale = True
                self._show_status()
            else:
                self.app.show_error(exc)

        self.app.call_service("read-file", f"reading {path}", drafts.read_file, self.app.ws, self.version_id, path,
                              on_done=done, on_error=gone)

    def _files_listed(self, entries: list[FileEntry]) -> None:
        self.files = [e.path for e in entries]
        self.query_one(FileTree).show_files(self.files)

    def on_validation_done(self, message: ValidationDone) -> None:
        if message.config_version_id == self.version_id:
            self._next_validation()  # the file as it is on disk now: newer than anything still in flight
            self.show_problems(message.diagnostics, message.source)

    def _next_validation(self) -> int:
        self._validation_seq += 1
        return self._validation_seq

    def show_problems(self, diagnostics: list[Diagnostic], source: str) -> None:
        self.problems.show(diagnostics)
        marks: dict[str, str] = {}
        for d in diagnostics:
            if marks.get(d.path) != "error":
                marks[d.path] = d.level
        self.query_one(FileTree).mark_problems(marks)
        self.validation = f"{summary(diagnostics)} ({source})"
        self.app.record_validation(self.config_id, diagnostics)
        self._show_status()

    def run_validation(self, source: str) -> None:
        from ade_engine.services import configs

        self.validation = "validating…"
        self._show_status()
        seq = self._next_validation()

        def done(report) -> None:
            if seq == self._validation_seq:
                self.show_problems(report.diagnostics, source)

        self.app.call_service(f"validate {self.version_id}", "validating", configs.validate_version, self.app.ws,
                              self.version_id, on_done=done)

    def action_validate(self) -> None:
        self.run_validation("full")

    def _show_status(self) -> None:
        if self.info is None:
            return
        editor = self.editor
        parts = [self.info.label, "draft" if self.is_draft else "read-only"]
        if editor.path:
            parts.append(editor.path + (" ● modified" if editor.dirty else ""))
        if self._stale:
            parts.append("⚠ changed on disk")
        parts.append(f"problems: {self.validation}")
        self.query_one("#package-status", Static).update(" · ".join(parts))

    # ------------------------------------------------------------------------------- actions

    def action_publish(self) -> None:
        if not self.is_draft:
            self.notify("Only a draft can be published.", severity="warning")
            return
        if self.editor.dirty:
            self.notify("Save your changes first (ctrl+s).", severity="warning")
            return
        self.app.publish_flow(self.config_id, self.version_id,
                              after=lambda: self.app.switch_screen(PackageScreen(self.config_id, self.version_id)))

    def action_new_draft(self) -> None:
        from ade_engine.services import configs

        if self.is_draft:
            self.notify("This is already a draft.")
            return

        def done(info: VersionInfo) -> None:
            self.notify(f"New draft {info.label}")
            self.app.configs_changed(info.config_id)
            self.app.switch_screen(PackageScreen(info.config_id, info.config_version_id))

        self.app.call_service("clone-config", "creating a draft", configs.clone, self.app.ws, self.version_id,
                              on_done=done)

    def action_external_editor(self) -> None:
        editor = self.editor
        if not self.is_draft or editor.path is None or self.info is None:
            self.notify("Only draft files can be edited.", severity="warning")
            return
        if editor.dirty:
            self.notify("Save your changes first (ctrl+s).", severity="warning")
            return
        command = self.app.tui.editor
        if not command:
            self.notify("Set $EDITOR (or ADE_TUI_EDITOR) to open files in your editor.", severity="warning")
            return
        target = Path(self.info.path, editor.path)
        try:
            with self.app.suspend():
                subprocess.call([*shlex.split(command), str(target)])
        except Exception as exc:  # SuspendNotSupported, editor missing…
            self.notify(f"Cannot run {command!r}: {exc}", severity="error")
            return
        self._read(editor.path, keep_cursor=True)

    def action_focus_files(self) -> None:
        self.query_one(FileTree).focus()

    def action_focus_problems(self) -> None:
        self.problems.focus()

    def action_back(self) -> None:
        if self.editor.dirty:
            def answered(choice: str | None) -> None:
                if choice == "discard":
                    self.app.pop_screen()

            self.app.push_screen(ConfirmDialog(f"Unsaved changes in {self.editor.path}", "Leave without saving?",
                                               [("discard", "Discard"), ("cancel", "Stay")], default="cancel",
                                               danger={"discard"}), answered)
            return
        self.app.pop_screen()

