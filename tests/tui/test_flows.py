"""Pilot tests: what a config author does, step by step, against a real workspace on disk."""

from __future__ import annotations

from pathlib import Path

import pytest
from tui_support import open_file, open_package, settle, wait_for

from ade_engine.services import configs
from ade_tui.screens.confirm import ConfirmDialog
from ade_tui.screens.diff_preview import DiffPreviewDialog
from ade_tui.screens.package import PackageScreen
from ade_tui.screens.prompt import PromptDialog

pytestmark = pytest.mark.anyio

BROKEN = "\ndef broken(:\n    pass\n"


async def open_new_draft(pilot) -> PackageScreen:
    """From the configs list: open member_roster, which has a draft (@2)."""
    screen = await open_package(pilot)
    assert isinstance(screen, PackageScreen) and screen.is_draft
    return screen


async def type_at_end(pilot, screen: PackageScreen, text: str) -> None:
    editor = screen.editor
    editor.focus()
    editor.move_cursor(editor.document.end)
    editor.insert(text)
    await pilot.pause()


async def test_configs_list_shows_status_active_and_validation(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#config-table")
        rows = {table.get_row_at(i)[0]: table.get_row_at(i) for i in range(table.row_count)}
        assert set(rows) == {"member_roster", "payroll_remittance"}
        assert rows["member_roster"][1:4] == ["draft @2", "● @1", "ok"]
        assert rows["payroll_remittance"][1:3] == ["published @1", ""]


async def test_edit_save_updates_problems(make_app, settings):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_new_draft(pilot)
        await open_file(pilot, screen, "columns/email.py")
        assert screen.problems.diagnostics == []
        await type_at_end(pilot, screen, BROKEN)
        assert "modified" in str(screen.query_one("#package-status").render())
        await pilot.press("ctrl+s")
        await settle(pilot)
        on_disk = Path(screen.info.path, "columns/email.py").read_text()
        assert on_disk.endswith(BROKEN)
        codes = [(d.code, d.path) for d in screen.problems.diagnostics]
        assert codes == [("invalid_syntax", "columns/email.py")]
        assert "1 error" in str(screen.problems.border_title)
        # Fixing it and saving again clears the panel.
        screen.editor.load_text(on_disk.removesuffix(BROKEN))
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert screen.problems.diagnostics == []


async def test_enter_on_a_problem_jumps_to_its_line(make_app):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_new_draft(pilot)
        await open_file(pilot, screen, "columns/phone.py")
        await type_at_end(pilot, screen, BROKEN)
        await pilot.press("ctrl+s")
        await settle(pilot)
        problem = screen.problems.diagnostics[0]
        await open_file(pilot, screen, "manifest.json")
        await pilot.press("ctrl+l")
        assert screen.problems.has_focus
        await pilot.press("enter")
        await settle(pilot)
        assert screen.editor.path == "columns/phone.py"
        assert screen.editor.has_focus
        assert screen.editor.cursor_location[0] == problem.line - 1


async def test_external_change_updates_problems_and_reloads_clean_editor(make_app):
    app = make_app(watch=True)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_new_draft(pilot)
        await open_file(pilot, screen, "columns/status.py")
        target = Path(screen.info.path, "columns/status.py")
        target.write_text(target.read_text() + BROKEN)  # another editor saves
        assert await wait_for(pilot, lambda: any(d.code == "invalid_syntax" for d in screen.problems.diagnostics))
        assert await wait_for(pilot, lambda: screen.editor.text.endswith(BROKEN))
        assert "(watch)" in str(screen.query_one("#package-status").render())
        target.write_text(target.read_text().removesuffix(BROKEN))
        assert await wait_for(pilot, lambda: screen.problems.diagnostics == [] and not app.busy)


async def test_external_change_runs_static_then_dynamic_checks(make_app):
    # Static checks answer first; a package without static errors then gets the dynamic probes too.
    app = make_app(watch=True)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_new_draft(pilot)
        target = Path(screen.info.path, "columns/status.py")
        target.write_text(target.read_text() + "\n\ndef detect_boom(*, header, **_):\n    return 1 / 0\n")
        assert await wait_for(pilot, lambda: any(d.code == "column.detector.exception"
                                                 for d in screen.problems.diagnostics))
        assert "(watch)" in str(screen.query_one("#package-status").render())


async def test_save_conflict_offers_reload(make_app):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_new_draft(pilot)
        await open_file(pilot, screen, "columns/email.py")
        target = Path(screen.info.path, "columns/email.py")
        theirs = target.read_text() + "# changed elsewhere\n"
        target.write_text(theirs)
        await type_at_end(pilot, screen, "# mine\n")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        assert target.read_text() == theirs  # nothing overwritten behind the user's back
        await pilot.click("#choice-reload")
        assert await wait_for(pilot, lambda: app.screen is screen and screen.editor.text == theirs)
        assert not screen.editor.dirty


async def test_save_conflict_overwrite_keeps_my_text(make_app):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_new_draft(pilot)
        await open_file(pilot, screen, "columns/email.py")
        target = Path(screen.info.path, "columns/email.py")
        target.write_text(target.read_text() + "# changed elsewhere\n")
        await type_at_end(pilot, screen, "# mine\n")
        mine = screen.editor.text
        await pilot.press("ctrl+s")
        await settle(pilot)
        app.screen.query_one("#choice-overwrite").press()
        # The answer starts a new save after the dialog closes: wait for its outcome, not for a quiet moment
        # (settle can look before that save has even started).
        assert await wait_for(pilot, lambda: app.screen is screen and not screen.editor.dirty)
        assert target.read_text() == mine


async def test_publish_shows_diff_then_freezes_the_draft(make_app, settings):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_new_draft(pilot)
        await open_file(pilot, screen, "columns/email.py")
        await type_at_end(pilot, screen, "# tidy\n")
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.press("f9")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, DiffPreviewDialog)
        body = str(dialog.query_one("#diff-body").render())
        assert "modified  columns/email.py" in body and "+# tidy" in body
        await pilot.press("f9")
        await settle(pilot)
        assert isinstance(app.screen, PackageScreen) and not app.screen.is_draft
        assert app.screen.editor.read_only
        info = configs.get_version(app.ws, "member_roster@2")
        assert info.status == "published"


async def test_publish_cancel_changes_nothing(make_app):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_new_draft(pilot)
        await pilot.press("f9")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen and configs.get_version(app.ws, "member_roster@2").status == "draft"


async def test_activate_from_the_list(make_app):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("down", "a")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("enter")  # "Activate" has the focus
        await settle(pilot)
        assert configs.active_version(app.ws).config_id == "payroll_remittance"
        table = app.screen.query_one("#config-table")
        active = {table.get_row_at(i)[0]: table.get_row_at(i)[2] for i in range(table.row_count)}
        assert active == {"member_roster": "", "payroll_remittance": "● @1"}


async def test_new_config_from_template_opens_its_draft(make_app):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        assert isinstance(app.screen, PromptDialog)
        await pilot.press(*"vendor_prices", "enter", *"Vendor", "enter")
        await settle(pilot)
        assert isinstance(app.screen, PackageScreen) and app.screen.is_draft
        assert app.screen.info.label == "vendor_prices@1"
        assert app.screen.editor.path == "manifest.json"


async def test_keymap_setting_overrides_a_key(make_app):
    app = make_app(keymap={"configs.new": "f6"})
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        assert not isinstance(app.screen, PromptDialog)
        await pilot.press("f6")
        assert isinstance(app.screen, PromptDialog)


async def test_command_palette_runs_a_binding_action(make_app):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"History")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert type(app.screen).__name__ == "HistoryDialog"


async def test_published_version_opens_read_only_and_makes_a_draft(make_app):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PackageScreen) and screen.editor.read_only
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert app.screen.is_draft and app.screen.info.label == "payroll_remittance@2"


async def test_quit_asks_about_unsaved_changes(make_app):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_new_draft(pilot)
        await type_at_end(pilot, screen, "# unsaved\n")
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("escape")
        assert app.screen is screen and app.is_running


async def test_status_bar_warns_below_standard(make_app):
    from ade_tui.worker_host import SandboxStatus

    app = make_app(sandbox=SandboxStatus("basic", "below standard"))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        label = app.screen.query_one("#sb-sandbox")
        assert "sandbox: ⚠ basic" in str(label.render()) and label.has_class("-warning")
        assert "worker: embedded 0/2 busy" in str(app.screen.query_one("#sb-worker").render())
