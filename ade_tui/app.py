"""The ADE workstation: a Textual app over `ade_engine.services` (no business rules here).

Start-up: the first screen paints and takes keys before the engine is even imported. Settings (pydantic-
settings: a tenth of a second of imports) load on a worker right after the first frame, then apply their
theme and keymap; `ade_engine.services`, SQLAlchemy, Alembic and the store load on the worker that opens
the workspace; screens import services inside the functions that call them. Then the job worker starts
(embedded, unless an external `ade worker` serves the queue) and the sandbox is probed. Every service
call goes through `call_service`: a named thread worker, shown in the status bar while it runs, whose
result comes back on the UI thread.
"""

from __future__ import annotations

from ade_tui._start import START  # first: the clock for time-to-ready

import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from textual import events
from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive
from textual.worker import Worker, get_current_worker

from ade_engine.errors import AdeError
from ade_tui.commands import BindingsProvider
from ade_tui.messages import ConfigsChanged
from ade_tui.widgets.problems import summary
from ade_tui.widgets.status_bar import StatusInfo
from ade_tui.worker_host import NoWorkerHost, SandboxStatus, WorkerHost, choose_worker_host, probe_sandbox

if TYPE_CHECKING:  # settings and the engine's services (SQLAlchemy, Alembic, the store) load on workers
    from ade_engine.services import configs, drafts
    from ade_engine.services.configs import Diagnostic
    from ade_engine.services.workspace import Workspace
    from ade_engine.settings import Settings
    from ade_tui.settings import TuiSettings

WORKER_TICK_S = 0.5  # status bar: worker slots


def open_workspace(settings: Settings) -> Workspace:
    """The default opener; imports the engine's services on the calling (worker) thread, not at start-up."""
    from ade_engine.services.workspace import open_workspace as open_

    return open_(settings)


def load_all_settings() -> tuple[Settings, TuiSettings]:
    """The default settings loader: the engine's settings, then the app's (`<data dir>/tui.json`, `ADE_TUI_*`).
    Runs on a worker after the first paint; raises `AdeError(settings_invalid)` on a bad value or on one
    that cannot work on this machine (`check_startup`). Unknown ADE_* names are shown once the app is up."""
    from ade_engine.services.startup import check_startup
    from ade_engine.settings import load_settings
    from ade_tui.settings import load_tui_settings

    settings = load_settings(warn=None)  # stderr is the app's screen: `_settings_loaded` notifies instead
    check_startup(settings)
    return settings, load_tui_settings(settings.data_dir)


def _screen(module: str, name: str):
    """Build a mode's base screen (imported lazily: the jobs and secrets screens are replaceable)."""
    import importlib

    return getattr(importlib.import_module(f"ade_tui.screens.{module}"), name)()


class AdeApp(App[int]):
    TITLE = "ADE Workstation"
    CSS_PATH = ["ade.tcss", "jobs.tcss"]
    COMMANDS = App.COMMANDS | {BindingsProvider}
    MODES = {"configs": lambda: _screen("configs", "ConfigsScreen"), "jobs": lambda: _screen("jobs", "JobsScreen"),
             "secrets": lambda: _screen("secrets", "SecretsScreen")}
    DEFAULT_MODE = "configs"
    BINDINGS = [
        Binding("f1", "help", "Help", id="app.help"),
        Binding("f2", "switch_mode('configs')", "Configs", id="app.configs"),
        Binding("f3", "switch_mode('jobs')", "Jobs", id="app.jobs"),
        Binding("f4", "switch_mode('secrets')", "Secrets", id="app.secrets"),
        Binding("ctrl+p", "command_palette", "Commands", id="app.commands", show=False, priority=True),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
    ]

    workspace_ready: reactive[bool] = reactive(False)
    status_info: reactive[StatusInfo] = reactive(StatusInfo)

    def __init__(
        self,
        settings: Settings | None,
        tui: TuiSettings | None,
        *,
        settings_loader: Callable[[], tuple[Settings, TuiSettings]] | None = None,
        worker_host: WorkerHost | None = None,
        sandbox_probe: Callable[[Settings], SandboxStatus] = probe_sandbox,
        opener: Callable[[Settings], Workspace] = open_workspace,
        exit_when_ready: bool = False,
    ) -> None:
        super().__init__()
        # Given settings (tests, embedding) are used as they are; otherwise `settings_loader` runs on a
        # worker once the first frame is out, and both stay None until then (nothing before the workspace
        # opens reads them).
        if settings is not None and tui is not None:
            settings_loader = None
        elif settings_loader is None:
            raise TypeError("AdeApp needs settings and tui, or a settings_loader")
        self.settings, self.tui = settings, tui
        self._settings_loader = settings_loader
        self._given_worker_host = worker_host
        self.worker_host: WorkerHost = worker_host or (
            choose_worker_host(settings) if self._settings_loader is None else NoWorkerHost(detail="starting"))
        self.startup_error: AdeError | None = None  # settings that failed to load: `main` prints it
        self._sandbox_probe, self._opener = sandbox_probe, opener
        self._exit_when_ready = exit_when_ready
        self._probing = False
        self.ws: Workspace | None = None
        # Start-up marks, seconds since `START` (see `main --exit-when-ready`): first frame written; a key
        # pressed right then handled (only measured with `exit_when_ready`); workspace open.
        self.painted_seconds: float | None = None
        self.ready_seconds: float | None = None
        self.workspace_seconds: float | None = None
        self.marks: dict[str, float] = {}  # the same moments as wall-clock times (time.time())
        self.validations: dict[str, tuple[list[Diagnostic], datetime]] = {}
        self._busy: dict[Worker, str] = {}  # running service calls → status-bar label
        self._service_workers: dict[str, Worker] = {}  # newest call of each name
        self._ticks = 0
        self._quitting: str | None = None  # "wait" / "cancel" once a quit with running jobs was chosen
        if self._settings_loader is None:
            self._apply_tui_settings()

    # ------------------------------------------------------------------------------- start-up

    def _apply_tui_settings(self) -> None:
        assert self.tui is not None
        self.theme = self.tui.theme
        if self.tui.keymap:
            self.set_keymap(self.tui.keymap)

    def on_mount(self) -> None:
        if self._settings_loader is None:
            self._open()
            return
        self._set_status(workspace="loading settings")
        self.call_service("load-settings", "loading settings", self._settings_loader, on_done=self._settings_loaded,
                          on_error=self._settings_failed)

    def _settings_loaded(self, loaded: tuple[Settings, TuiSettings]) -> None:
        self.settings, self.tui = loaded
        self._apply_tui_settings()
        from ade_engine.settings import unknown_variables

        for message in unknown_variables():  # a misspelt ADE_* name is ignored: say so where it can be seen
            self.notify(message, title="settings", severity="warning", timeout=30, markup=False)
        if self._given_worker_host is None:
            self.worker_host = choose_worker_host(self.settings)
        self._open()

    def _settings_failed(self, exc: AdeError) -> None:
        # Nothing works without settings (no data dir): leave, and let `main` print the error like the CLI does.
        self.startup_error = exc
        self.exit(return_code=2)

    def _open(self) -> None:
        """Settings are in: show them in the status bar and open the workspace on a worker."""
        assert self.settings is not None and self.tui is not None
        self._set_status(data_label=self.tui.data_dir_label or str(self.settings.data_dir),
                         worker=self.worker_host.state(), workspace="opening workspace")
        from ade_tui.keymap import unknown_ids

        unknown = unknown_ids(self.tui.keymap)
        if unknown:
            self.notify(f"keymap: no binding with id {', '.join(unknown)} (see F1 for ids)", severity="warning")
        self.call_service("open-workspace", "opening workspace", self._opener, self.settings, on_done=self._opened,
                          on_error=self._open_failed)

    def _mark(self, name: str) -> float:
        self.marks[name] = time.time()
        return time.perf_counter() - START

    def on_ready(self, _event: events.Ready) -> None:
        """The first screen is composed and its first frame written."""
        self.painted_seconds = self._mark("painted")
        self.log.info(f"first screen painted in {self.painted_seconds:.3f}s")
        if self._exit_when_ready:
            # The ready probe: press F1 the way a terminal would; ready = the help screen is on screen.
            self._probing = True
            self.post_message(events.Key("f1", None))

    def _probe_answered(self) -> None:
        self.ready_seconds = self._mark("ready")
        self._exit_if_measured()

    def _exit_if_measured(self) -> None:
        if self._exit_when_ready and self.ready_seconds is not None and self.workspace_seconds is not None:
            self.exit(0)

    def _opened(self, ws: Workspace) -> None:
        self.ws = ws
        self.workspace_seconds = self._mark("workspace")
        self.log.info(f"workspace open in {self.workspace_seconds:.3f}s")
        self._set_status(workspace=f"workspace {ws.name}")
        self.workspace_ready = True
        if self._exit_when_ready:
            self._exit_if_measured()
            return
        self.call_service("start-worker", "starting the job worker", self.worker_host.start, ws,
                          on_done=lambda _r: self.refresh_worker_state())
        self.set_interval(WORKER_TICK_S, self._worker_tick, name="worker-state")
        self.call_service("sandbox-probe", "checking the sandbox", self._sandbox_probe, self.settings,
                          on_done=lambda status: self._set_status(sandbox=status))

    def _open_failed(self, exc: AdeError) -> None:
        self._set_status(workspace="workspace unavailable")
        self.show_error(exc, timeout=30)

    # ------------------------------------------------------------------------------- status

    def _set_status(self, **changes: Any) -> None:
        current = self.status_info
        values = {f: getattr(current, f) for f in ("worker", "sandbox", "data_label", "busy", "workspace")}
        values.update(changes)
        self.status_info = StatusInfo(**values)

    def refresh_worker_state(self) -> None:
        """For the worker host: call (from the UI thread) when slots or mode change."""
        self._set_status(worker=self.worker_host.state())

    def _worker_tick(self) -> None:
        # state() is cheap (no I/O); an external worker's slots come from files, read on a thread.
        self._ticks += 1
        if self.worker_host.state().mode == "external" and self._ticks % 4 == 0:
            self.run_worker(self.worker_host.poll, name="worker-poll", group="worker-poll", thread=True,
                            exclusive=True, exit_on_error=False)
        self.refresh_worker_state()

    def job_submitted(self) -> None:
        """A job was queued from this app: let the embedded worker claim it now, not at its next poll."""
        self.worker_host.wake()

    @property
    def busy(self) -> bool:
        """True while any service call runs (the watchers are long-lived and do not count)."""
        return bool(self._busy)

    def time_text(self, moment: datetime | None) -> str:
        if moment is None or self.tui is None or not self.tui.show_times:
            return ""
        return moment.astimezone().strftime("%Y-%m-%d %H:%M")

    def workspace_or_notify(self) -> bool:
        """False (and a notice) while the workspace is still opening: for actions that need no selection."""
        if self.ws is None:
            self.notify("The workspace is still opening; try again in a moment.", severity="warning")
            return False
        return True

    def show_error(self, exc: AdeError, *, timeout: float = 10) -> None:
        self.notify(exc.message, title=exc.code, severity="error", timeout=timeout, markup=False)

    # ------------------------------------------------------------------------------- services

    def call_service(
        self,
        name: str,
        label: str,
        fn: Callable[..., Any],
        *args: Any,
        on_done: Callable[[Any], Any] | None = None,
        on_error: Callable[[AdeError], Any] | None = None,
        **kwargs: Any,
    ) -> Worker:
        """Run `fn(*args, **kwargs)` in a thread worker named `name` (a newer call of the same name
        supersedes an older one); `on_done(result)` / `on_error(AdeError)` run on the UI thread."""

        def job() -> None:
            worker = get_current_worker()
            try:
                result = fn(*args, **kwargs)
            except AdeError as exc:
                error: AdeError | None = exc
            except Exception as exc:  # a bug or an OS error: show it, keep the app alive
                error = AdeError(f"{exc.__class__.__name__}: {exc}", code="internal_error")
            else:
                error = None
            if not worker.is_cancelled:
                self.call_from_thread(self._service_finished, worker, result if error is None else None,
                                      error, on_done, on_error)

        # A superseded call may be cancelled before its task ever ran, and then never reports a state
        # change: drop its label here, or the status bar would show it for good.
        previous = self._service_workers.get(name)
        if previous is not None:
            self._busy.pop(previous, None)
        worker = self.run_worker(job, name=name, group=name, thread=True, exclusive=True, exit_on_error=False)
        self._service_workers[name] = worker
        self._busy[worker] = label
        self._set_status(busy=tuple(self._busy.values()))
        return worker

    def _service_finished(self, key: Worker, result: Any, error: AdeError | None,
                          on_done: Callable[[Any], Any] | None, on_error: Callable[[AdeError], Any] | None) -> None:
        self._busy.pop(key, None)
        if self._service_workers.get(key.name) is key:
            del self._service_workers[key.name]
        self._set_status(busy=tuple(self._busy.values()))
        if error is not None:
            (on_error or self.show_error)(error)
        elif on_done is not None:
            on_done(result)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.is_finished and event.worker in self._busy:
            self._busy.pop(event.worker, None)
            self._set_status(busy=tuple(self._busy.values()))

    # ------------------------------------------------------------------------------- shared flows

    def configs_changed(self, config_id: str | None = None) -> None:
        from ade_tui.screens.configs import ConfigsScreen

        for screen in self._all_screens():
            if isinstance(screen, ConfigsScreen):
                screen.post_message(ConfigsChanged(config_id))

    def _all_screens(self):
        for stack in self._screen_stacks.values():
            yield from stack

    def record_validation(self, config_id: str, diagnostics: list[Diagnostic]) -> None:
        self.validations[config_id] = (diagnostics, datetime.now())
        from ade_tui.screens.configs import ConfigsScreen

        for screen in self._all_screens():
            if isinstance(screen, ConfigsScreen) and screen.is_mounted:
                screen.refresh_validation(config_id)

    def validation_text(self, config_id: str) -> str:
        if config_id not in self.validations:
            return ""
        diagnostics, when = self.validations[config_id]
        text = "ok" if not diagnostics else summary(diagnostics)
        return f"{text} · {when:%H:%M}" if self.tui is not None and self.tui.show_times else text

    def validate_version(self, config_id: str, ref: str, *, on_done: Callable[[Any], Any], quiet: bool = False) -> None:
        from ade_engine.services import configs

        def done(report: configs.ValidationReport) -> None:
            self.record_validation(config_id, report.diagnostics)
            if not quiet:
                self.notify(f"{report.target}: {summary(report.diagnostics)}",
                            severity="information" if report.ok else "warning")
            on_done(report)

        self.call_service(f"validate {ref}", f"validating {config_id}", configs.validate_version, self.ws, ref,
                          on_done=done)

    def open_package(self, config_id: str, version_id: str) -> None:
        from ade_tui.screens.package import PackageScreen

        self.push_screen(PackageScreen(config_id, version_id))

    def publish_flow(self, config_id: str, version_id: str, *, after: Callable[[], Any] | None = None) -> None:
        """Diff preview → confirm → publish (validates; refused with the problems when invalid)."""
        from ade_engine.services import configs, drafts
        from ade_engine.services.configs import Diagnostic
        from ade_tui.screens.diff_preview import DiffPreviewDialog

        def published(info: configs.VersionInfo) -> None:
            self.notify(f"Published {info.label}")
            self.configs_changed(config_id)
            if after:
                after()

        def failed(exc: AdeError) -> None:
            if exc.code == "config_invalid" and "diagnostics" in exc.details:
                self.record_validation(config_id, [Diagnostic(**d) for d in exc.details["diagnostics"]])
            self.show_error(exc)

        def confirmed(go: bool | None) -> None:
            if go:
                self.call_service("publish", f"publishing {config_id}", configs.publish, self.ws, version_id,
                                  on_done=published, on_error=failed)

        def previewed(diff: drafts.DraftDiff) -> None:
            self.push_screen(DiffPreviewDialog("Publish", diff), confirmed)

        self.call_service("diff", f"comparing {config_id}", drafts.diff, self.ws, version_id, on_done=previewed)

    def activate_flow(self, config_id: str, version_id: str) -> None:
        from ade_engine.services import configs
        from ade_tui.screens.confirm import ConfirmDialog

        def activated(state: configs.ActiveState) -> None:
            self.notify(f"Activated {config_id}")
            self.configs_changed(config_id)

        def confirmed(choice: str | None) -> None:
            if choice == "yes":
                self.call_service("activate", f"activating {config_id}", configs.activate, self.ws, version_id,
                                  on_done=activated)

        def ask(info: configs.VersionInfo) -> None:
            self.push_screen(ConfirmDialog(
                f"Activate {info.label}?",
                f"New jobs will use {info.label}. The version active now stays published and can be "
                "activated again from History.", [("yes", "Activate"), ("no", "Cancel")]), confirmed)

        self.call_service("get-version", "reading version", configs.get_version, self.ws, version_id, on_done=ask)

    # ------------------------------------------------------------------------------- actions

    def action_help(self) -> None:
        from ade_tui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
            return
        help_screen = HelpScreen(self.screen)
        self.push_screen(help_screen)
        if self._probing:
            self._probing = False
            help_screen.call_after_refresh(self._probe_answered)  # runs once the help screen has painted

    async def action_quit(self) -> None:
        from ade_tui.screens.confirm import ConfirmDialog

        if self._quitting == "wait":
            self._ask_cancel_while_waiting()
            return
        if self._quitting:
            return
        unsaved = [s for s in self._all_screens() if getattr(s, "has_unsaved", False)]
        running = self.worker_host.running_jobs()
        if not unsaved and not running:
            self._quit_now(cancel_running=False)
            return
        choices: list[tuple[str, str]] = []
        lines = []
        if unsaved:
            lines.append(f"{len(unsaved)} open file(s) have unsaved changes; they will be lost.")
        if running:
            lines.append(f"{len(running)} job(s) are running in this app's worker. Wait lets them finish, "
                         "then quits; Cancel stops them now. Queued jobs stay queued for the next worker.")
            choices += [("wait", "Wait, then quit"), ("cancel", "Cancel jobs and quit")]
        else:
            choices.append(("wait", "Quit"))
        choices.append(("stay", "Stay"))

        def answered(choice: str | None) -> None:
            if choice in ("wait", "cancel"):
                self._quit_now(cancel_running=choice == "cancel")

        self.push_screen(ConfirmDialog("Quit ADE Workstation?", "\n".join(lines), choices, default="stay",
                                       danger={"cancel"}), answered)

    def _quit_now(self, *, cancel_running: bool) -> None:
        """Stop the job worker on a thread (waiting for, or cancelling, running jobs), then exit."""
        running = len(self.worker_host.running_jobs())
        self._quitting = "cancel" if cancel_running else "wait"
        if cancel_running:
            label = f"cancelling {running} job(s), then quitting"
        elif running:
            label = f"waiting for {running} running job(s), then quitting (ctrl+q: cancel them)"
        else:
            label = "stopping the job worker"
        self.call_service("stop-worker", label, self.worker_host.stop, cancel_running=cancel_running,
                          on_done=lambda _r: self.exit(0), on_error=lambda _e: self.exit(0))

    def _ask_cancel_while_waiting(self) -> None:
        from ade_tui.screens.confirm import ConfirmDialog

        def answered(choice: str | None) -> None:
            if choice == "cancel" and self._quitting == "wait":
                self._quitting = "cancel"
                cancel = getattr(self.worker_host, "embedded", None)
                if cancel is not None:
                    cancel.worker.cancel_all("shutdown")

        running = len(self.worker_host.running_jobs())
        self.push_screen(ConfirmDialog("Still waiting", f"{running} job(s) still running. Cancel them and quit now?",
                                       [("cancel", "Cancel jobs and quit"), ("keep", "Keep waiting")],
                                       default="keep", danger={"cancel"}), answered)

    def on_unmount(self) -> None:
        # Left without the quit dialog (a crash, a test harness): cancel rather than orphan running jobs.
        if self._quitting is None:
            try:
                self.worker_host.stop(cancel_running=True)
            except Exception as exc:  # the app is going away: log, do not raise
                self.log.error(f"stopping the job worker: {exc}")
        if self.ws is not None:
            self.ws.close()


def main(argv: list[str] | None = None) -> int:
    """Open the app on the default workspace (`ade` with no arguments)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m ade_tui", description="ADE Workstation (Textual app)")
    parser.add_argument("--exit-when-ready", action="store_true", help="press F1 once the first screen "
                        "has painted, quit when the help screen shows and the workspace is open, and print "
                        "both times (benchmarks)")
    parser.add_argument("--headless", action="store_true", help="no terminal output (benchmarks)")
    args = parser.parse_args(argv)
    app = AdeApp(None, None, settings_loader=load_all_settings, exit_when_ready=args.exit_when_ready)
    code = app.run(headless=args.headless)
    if app.startup_error is not None:
        print(f"error: {app.startup_error.code}: {app.startup_error.message}", file=sys.stderr)
        return 2
    if args.exit_when_ready:
        for name in ("painted", "ready", "workspace"):
            if getattr(app, f"{name}_seconds") is not None:
                print(f"{name}_seconds={getattr(app, f'{name}_seconds'):.4f} {name}_at={app.marks[name]:.6f}")
    return int(code or 0)
