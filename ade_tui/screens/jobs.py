"""The jobs screen (F3): a live table of jobs, filters, and submit / cancel / retry / pin / details.

The table refreshes in place: a timer starts one quiet thread worker (`poll-jobs`) at a time, which reads
the job records and their progress through `ade_engine.services.jobs`; the UI thread then updates only
the cells that changed. Actions go through `app.call_service` (named worker, shown in the status bar).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static
from textual.worker import Worker

from ade_engine.errors import AdeError
from ade_tui.widgets.footer import AdeFooter
from ade_tui.widgets.job_table import JobTable, row_for
from ade_tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from ade_engine.services import configs, jobs
    from ade_engine.services.jobs import JobInfo, JobProgress
    from ade_tui.app import AdeApp

POLL_S = 0.5  # while jobs are active
IDLE_EVERY = 6  # polls: when nothing is active, look every IDLE_EVERY × POLL_S (jobs from the CLI, other apps)
STATES = (None, "queued", "running", "succeeded", "failed", "cancelled")
LIST_LIMIT = 200


@dataclass
class JobsView:
    """One poll's result: the jobs to show (already filtered), their progress, and config labels."""

    jobs: list[JobInfo]
    progress: dict[str, JobProgress]
    labels: dict[str, str]
    configs: list[str]
    now: datetime


@dataclass
class JobsLoader:
    """Reads the job list for the table; remembers what cannot change (terminal progress, version labels).
    Used by one poll worker at a time."""

    ws: Any
    _terminal: dict[str, JobProgress] = field(default_factory=dict)
    _labels: dict[str, str] = field(default_factory=dict)

    def label(self, info: JobInfo) -> str:
        from ade_engine.services import configs

        vid = info.config_version_id
        if vid not in self._labels:
            if vid.startswith("draft:"):
                self._labels[vid] = f"{info.config_id}@draft"
            else:
                try:
                    self._labels[vid] = configs.get_version(self.ws, vid).label
                except AdeError:
                    self._labels[vid] = f"{info.config_id}@?"
        return self._labels[vid]

    def load(self, status: str | None, config: str | None) -> JobsView:
        from ade_engine.services import jobs

        listed = jobs.list_jobs(self.ws, status=status, limit=LIST_LIMIT)
        shown = [j for j in listed if config is None or j.config_id == config]
        progress: dict[str, JobProgress] = {}
        for info in shown:
            if info.job_id in self._terminal:
                progress[info.job_id] = self._terminal[info.job_id]
                continue
            progress[info.job_id] = jobs.job_progress(info)
            if info.terminal:
                self._terminal[info.job_id] = progress[info.job_id]
        labels = {j.job_id: self.label(j) for j in shown}
        return JobsView(shown, progress, labels, sorted({j.config_id for j in listed}), datetime.now(UTC))


def running_ms(info: JobInfo, now: datetime) -> int | None:
    if info.status != "running" or info.started_at is None:
        return None
    started = info.started_at if info.started_at.tzinfo else info.started_at.replace(tzinfo=UTC)
    return max(0, int((now - started).total_seconds() * 1000))


class JobsScreen(Screen[None]):
    HELP_TITLE = "Jobs"
    BINDINGS = [
        Binding("enter", "open", "Details", id="jobs.open", priority=True),
        Binding("s", "submit", "Submit", id="jobs.submit"),
        Binding("x", "cancel_job", "Cancel job", id="jobs.cancel"),
        Binding("r", "retry", "Retry", id="jobs.retry"),
        Binding("p", "pin", "Pin", id="jobs.pin"),
        Binding("f", "filter_state", "State filter", id="jobs.filter_state"),
        Binding("g", "filter_config", "Config filter", id="jobs.filter_config"),
        Binding("f5", "reload", "Refresh", id="jobs.refresh"),
    ]

    app: AdeApp

    def __init__(self) -> None:
        super().__init__()
        self.status_filter: str | None = None
        self.config_filter: str | None = None
        self.view: JobsView | None = None
        self._loader: JobsLoader | None = None
        self._poll: Worker | None = None
        self._ticks = 0
        self.polls = 0  # finished polls (tests wait on it)
        self._select_next: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="jobs-filter", markup=False)
        yield JobTable(id="job-table")
        yield Static("", id="jobs-detail", markup=False)
        yield StatusBar()
        yield AdeFooter()

    def on_mount(self) -> None:
        table = self.table
        table.loading = True
        table.border_title = "Jobs"
        self._show_filter()
        self.watch(self.app, "workspace_ready", self._on_ready, init=True)
        self.set_interval(POLL_S, self._tick, name="jobs-poll")

    def _on_ready(self, ready: bool) -> None:
        if ready:
            self.reload()

    @property
    def table(self) -> JobTable:
        return self.query_one(JobTable)

    # ------------------------------------------------------------------------------- loading

    def reload(self) -> None:
        """A visible load (status bar shows it); the timer's polls are quiet."""
        if self.app.ws is None:
            return
        self._loader = self._loader or JobsLoader(self.app.ws)
        self.app.call_service("load-jobs", "loading jobs", self._loader.load, self.status_filter,
                              self.config_filter, on_done=self._show)

    def _tick(self) -> None:
        if self.app.ws is None or self._loader is None or not self.is_current:
            return
        active = self.view is None or any(not j.terminal for j in self.view.jobs)
        self._ticks += 1
        if not active and self._ticks % IDLE_EVERY:
            return
        if self._poll is not None and not self._poll.is_finished:
            return  # one poll at a time: a slow database never piles up workers
        self.poll_now()

    def poll_now(self) -> None:
        loader, status, config = self._loader, self.status_filter, self.config_filter
        if loader is None:
            return

        def run() -> None:
            try:
                view = loader.load(status, config)
            except Exception as exc:  # a locked or vanished database: try again next tick
                self.app.call_from_thread(self.app.log.warning, f"job poll failed: {exc}")
                return
            self.app.call_from_thread(self._polled, view, status, config)

        self._poll = self.run_worker(run, name="poll-jobs", group="poll-jobs", thread=True, exit_on_error=False)

    def _polled(self, view: JobsView, status: str | None, config: str | None) -> None:
        self.polls += 1
        if (status, config) == (self.status_filter, self.config_filter):  # else a filter changed meanwhile
            self._show(view)

    def _show(self, view: JobsView) -> None:
        self.view = view
        table = self.table
        table.loading = False
        table.show([row_for(j, view.progress[j.job_id], view.labels[j.job_id], running_ms(j, view.now)
                            if self.app.tui.show_times else None) for j in view.jobs])
        if self._select_next and self._select_next in table.rows_by_id:
            table.select_job(self._select_next)
            self._select_next = None
        self._show_detail()

    def action_reload(self) -> None:
        self.reload()

    def on_screen_resume(self) -> None:
        if self.app.workspace_ready:
            self.reload()

    # ------------------------------------------------------------------------------- filters / detail line

    def _show_filter(self) -> None:
        state = self.status_filter or "all"
        config = self.config_filter or "all"
        self.query_one("#jobs-filter", Static).update(f"state: {state} (f) · config: {config} (g)")

    def action_filter_state(self) -> None:
        self.status_filter = STATES[(STATES.index(self.status_filter) + 1) % len(STATES)]
        self._show_filter()
        self.reload()

    def action_filter_config(self) -> None:
        choices: list[str | None] = [None, *(self.view.configs if self.view else [])]
        index = choices.index(self.config_filter) if self.config_filter in choices else 0
        self.config_filter = choices[(index + 1) % len(choices)]
        self._show_filter()
        self.reload()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        info = self._job(quiet=True)
        text = self.query_one("#jobs-detail", Static)
        if info is None:
            text.update("No jobs yet. Press s to submit one." if self.view is not None and not self.view.jobs
                        else "")
            return
        line = f"{info.job_id} · attempt {info.attempt}" + (" · pinned" if info.pinned else "")
        if info.error_code:
            line += f" · {info.error_code}: {info.error_message or ''}"
        elif info.cancel_requested_at and not info.terminal:
            line += " · cancel requested"
        text.update(line)

    # ------------------------------------------------------------------------------- actions

    def _job(self, *, quiet: bool = False) -> JobInfo | None:
        job_id = self.table.selected_job
        info = next((j for j in self.view.jobs if j.job_id == job_id), None) if self.view and job_id else None
        if info is None and not quiet:
            self.app.notify("No job selected.", severity="warning")
        return info

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        info = self._job()
        if info is not None:
            from ade_tui.screens.job_detail import JobDetailScreen

            self.app.push_screen(JobDetailScreen(info.job_id))

    def action_submit(self) -> None:
        if not self.app.workspace_or_notify():
            return
        from ade_tui.screens.submit import SubmitDialog, SubmitRequest

        def chosen(request: SubmitRequest | None) -> None:
            if request is not None:
                self.submit(request)

        self.app.push_screen(SubmitDialog(), chosen)

    def submit(self, request: Any) -> None:
        """Queue a job (registering the file first when it is a path), then show it selected."""
        from ade_engine.services import jobs

        def done(result: jobs.SubmitResult) -> None:
            self.app.job_submitted()
            job = result.job
            self.app.notify(f"Queued {job.job_id[:10]}" if result.created else
                            f"An identical job exists ({job.job_id[:10]}, {job.status}); use force to run again",
                            severity="information" if result.created else "warning")
            self._select_next = job.job_id
            self.reload()

        self.app.call_service("submit-job", f"submitting {request.label}", jobs.submit_job, self.app.ws,
                              request.input_ref, config=request.config, version=request.version, force=request.force,
                              network=request.network, on_done=done)

    def action_cancel_job(self) -> None:
        from ade_engine.services import jobs

        info = self._job()
        if info is None:
            return
        if info.terminal:
            self.app.notify(f"Job {info.job_id[:10]} is already {info.status}.", severity="warning")
            return
        self.app.call_service("cancel-job", f"cancelling {info.job_id[:10]}", jobs.cancel_job, self.app.ws,
                              info.job_id, on_done=lambda j: self._changed(f"Cancel requested for {j.job_id[:10]}"
                                                                           if j.status == "running" else
                                                                           f"Cancelled {j.job_id[:10]}"))

    def action_retry(self) -> None:
        from ade_engine.services import jobs

        info = self._job()
        if info is None:
            return

        def done(result: jobs.SubmitResult) -> None:
            self.app.job_submitted()
            self._changed(f"Retrying as {result.job.job_id[:10]} (attempt {result.job.attempt})")

        self.app.call_service("retry-job", f"retrying {info.job_id[:10]}", jobs.retry_job, self.app.ws, info.job_id,
                              on_done=done)

    def action_pin(self) -> None:
        from ade_engine.services import jobs

        info = self._job()
        if info is None:
            return
        self.app.call_service("pin-job", "pinning", jobs.pin_job, self.app.ws, info.job_id, not info.pinned,
                              on_done=lambda j: self._changed(f"{'Pinned' if j.pinned else 'Unpinned'} "
                                                              f"{j.job_id[:10]}"))

    def _changed(self, message: str) -> None:
        self.app.notify(message)
        self.reload()
