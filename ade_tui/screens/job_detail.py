"""One job in detail: summary and diagnostics, events timeline, artifact inspector, output preview (tabs).

While the job is active a quiet poll worker re-reads its record and the new `events.ndjson` lines; the
artifact and the output load when their tab is first opened (and again once the job ends), each in a
named worker with the status bar showing it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Static, TabbedContent, TabPane
from textual.worker import Worker

from ade_engine.errors import AdeError
from ade_tui.widgets.artifact_tree import ArtifactTree
from ade_tui.widgets.events_view import EventsView
from ade_tui.widgets.footer import AdeFooter
from ade_tui.widgets.job_table import STATE_MARKS, duration_text, issues_text
from ade_tui.widgets.output_preview import PAGE, OutputPreview
from ade_tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from ade_engine.services import configs, jobs
    from ade_engine.services.jobs import JobDetail, JobProgress, OutputPreview as Window
    from ade_tui.app import AdeApp

POLL_S = 0.5
TABS = ("summary", "events", "artifact", "output")


Loaded = tuple["JobDetail", "JobProgress", list[dict[str, Any]], int, int, str]


def version_label(ws: Any, info: JobDetail) -> str:
    from ade_engine.services import configs

    if info.config_version_id.startswith("draft:"):
        return f"{info.config_id}@draft"
    try:
        return configs.get_version(ws, info.config_version_id).label
    except AdeError:
        return info.config_id


def load_detail(ws: Any, job_id: str, offset: int) -> Loaded:
    """The job with its diagnostics, its progress, and its events from byte `offset` (and where they end)."""
    from ade_engine.services import jobs

    detail = jobs.show_job(ws, job_id)
    try:
        events, end = jobs.read_events(ws, job_id, offset)
    except AdeError:  # purged, or no events file yet
        events, end = [], offset
    return detail, jobs.job_progress(detail), events, offset, end, version_label(ws, detail)


class JobDetailScreen(Screen[None]):
    HELP_TITLE = "Job"
    BINDINGS = [
        Binding("escape", "back", "Back", id="job.back"),
        Binding("1", "tab('summary')", "Summary", id="job.summary"),
        Binding("2", "tab('events')", "Events", id="job.events"),
        Binding("3", "tab('artifact')", "Artifact", id="job.artifact"),
        Binding("4", "tab('output')", "Output", id="job.output"),
        Binding("x", "cancel_job", "Cancel job", id="job.cancel"),
        Binding("r", "retry", "Retry", id="job.retry"),
        Binding("p", "pin", "Pin", id="job.pin"),
        Binding("f5", "reload", "Refresh", id="job.refresh"),
    ]

    app: AdeApp

    def __init__(self, job_id: str, tab: str = "summary") -> None:
        super().__init__()
        self.job_id = job_id
        self._first_tab = tab
        self.detail: JobDetail | None = None
        self.progress: JobProgress | None = None
        self.config_label = ""
        self._offset = 0
        self._poll: Worker | None = None
        self._loaded: dict[str, str] = {}  # tab → job status it was loaded at

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(initial=f"tab-{self._first_tab}", id="job-tabs"):
            with TabPane("Summary", id="tab-summary"):
                with VerticalScroll(id="job-summary-scroll"):
                    yield Static("", id="job-summary", markup=False)
            with TabPane("Events", id="tab-events"):
                yield EventsView(id="job-events")
            with TabPane("Artifact", id="tab-artifact"):
                yield Static("", id="artifact-note", classes="tab-note", markup=False)
                yield ArtifactTree(id="artifact-tree")
            with TabPane("Output", id="tab-output"):
                yield Static("", id="output-note", classes="tab-note", markup=False)
                yield OutputPreview(id="output-preview")
        yield StatusBar()
        yield AdeFooter()

    def on_mount(self) -> None:
        self.query_one("#job-summary", Static).update(f"Job {self.job_id}: loading…")
        self.reload()
        self.set_interval(POLL_S, self._tick, name="job-poll")

    # ------------------------------------------------------------------------------- record + events

    def reload(self) -> None:
        self.app.call_service("load-job", f"loading job {self.job_id[:10]}", load_detail, self.app.ws, self.job_id,
                              self._offset, on_done=self._loaded_detail)

    def _tick(self) -> None:
        if self.detail is None or self.detail.terminal or not self.is_current:
            return
        if self._poll is not None and not self._poll.is_finished:
            return
        ws, job_id, offset = self.app.ws, self.job_id, self._offset

        def run() -> None:
            try:
                result = load_detail(ws, job_id, offset)
            except Exception as exc:  # try again at the next tick
                self.app.call_from_thread(self.app.log.warning, f"job poll failed: {exc}")
                return
            self.app.call_from_thread(self._loaded_detail, result)

        self._poll = self.run_worker(run, name="poll-job", group="poll-job", thread=True, exit_on_error=False)

    def _loaded_detail(self, result: Loaded) -> None:
        detail, progress, events, start, end, self.config_label = result
        was_active = self.detail is not None and not self.detail.terminal
        self.detail, self.progress = detail, progress
        self.sub_title = f"{detail.job_id} · {detail.status}"
        if start == self._offset:  # else another read already took these lines
            self._offset = end
            self.query_one(EventsView).add_events(events, live=not detail.terminal)
        self.query_one("#job-summary", Static).update(self.summary_text())
        if detail.terminal and was_active:
            self._loaded.clear()  # artifact and output are final now: load them again
        self._load_tab(self._active_tab())

    def summary_text(self) -> str:
        d, p = self.detail, self.progress
        if d is None or p is None:
            return ""
        t = self.app.time_text
        label = self.app.tui.data_dir_label or str(self.app.settings.data_dir)
        lines = [
            f"Job       {d.job_id}  (attempt {d.attempt}" + (f", retry of {d.retry_of_job_id}" if d.retry_of_job_id
                                                              else "") + ")" + ("  · pinned" if d.pinned else ""),
            f"State     {STATE_MARKS.get(d.status, d.status)}" + ("  · cancel requested"
                                                                  if d.cancel_requested_at and not d.terminal else ""),
            f"Config    {self.config_label}" + (f"  ({d.config_version_id[:18]}…)"
                                                 if d.config_version_id.startswith("draft:") else ""),
            f"Input     {d.source_file or ''}" + (f"  (sha256 {d.input_sha256[:12]}…)" if d.input_sha256 else ""),
        ]
        times = [f"queued {t(d.queued_at)}" if t(d.queued_at) else "", f"started {t(d.started_at)}"
                 if t(d.started_at) else "", f"completed {t(d.completed_at)}" if t(d.completed_at) else ""]
        if any(times):
            lines.append("Times     " + " · ".join(x for x in times if x))
        if d.duration_ms is not None:
            lines.append(f"Duration  {duration_text(d.duration_ms)}")
        passes = ", ".join(d.completed_passes) if d.completed_passes else (p.current_pass or "none yet")
        lines.append(f"Passes    {p.passes_done}/5: {passes}")
        if p.rows is not None or p.issues is not None:
            lines.append(f"Rows      {'' if p.rows is None else p.rows}    Issues {issues_text(p) or '—'}")
        if d.sandbox_level:
            lines.append(f"Sandbox   {d.sandbox_level}" + (f" (missing: {', '.join(d.sandbox_missing)})"
                                                         if d.sandbox_missing else ""))
        if d.exit_code is not None or d.exit_signal is not None:
            lines.append(f"Exit      code {d.exit_code}" + (f", signal {d.exit_signal}" if d.exit_signal else ""))
        if d.error_code:
            lines += ["", "Diagnostics", f"  failure  {d.error_code}", f"  stage    {d.error_stage or '—'}",
                      f"  message  {d.error_message or ''}"]
            if d.hint:
                lines.append(f"  hint     {d.hint}")
        if d.rule_errors:
            lines += ["", "Rule errors"] + [f"  {e.get('level')} {e.get('kind')} {e.get('rule')} "
                                            f"({e.get('stage')}) ×{e.get('count')}: {e.get('message')}"
                                            for e in d.rule_errors]
        lines += ["", f"Files     {label}/jobs/{d.job_id}/", "          artifact.json · events.ndjson · "
                  "logs/worker.log" + (" · normalized.xlsx" if d.status == "succeeded" else "")]
        if d.log_tail:
            lines += ["", "Log tail (logs/worker.log)", *("  " + line for line in d.log_tail.rstrip().splitlines())]
        return "\n".join(lines)

    # ------------------------------------------------------------------------------- tabs

    def _active_tab(self) -> str:
        return (self.query_one(TabbedContent).active or "tab-summary").removeprefix("tab-")

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = f"tab-{tab}"

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        tab = (event.pane.id or "").removeprefix("tab-")
        self._load_tab(tab)
        focus = {"events": EventsView, "artifact": ArtifactTree, "output": OutputPreview}.get(tab)
        if focus is not None:
            self.query_one(focus).focus()

    def _load_tab(self, tab: str) -> None:
        from ade_engine.services import jobs

        d = self.detail
        if d is None or tab not in ("artifact", "output") or self._loaded.get(tab) == d.status:
            return
        self._loaded[tab] = d.status
        if tab == "artifact":
            note = self.query_one("#artifact-note", Static)
            if d.status == "queued":
                note.update("The artifact is written once the job starts.")
                return
            note.update("")
            self.app.call_service("load-artifact", "reading the artifact", jobs.load_artifact, self.app.ws,
                                  d.job_id, on_done=self._show_artifact, on_error=lambda e: note.update(e.message))
        else:
            note = self.query_one("#output-note", Static)
            if d.status != "succeeded":
                note.update(f"No output: the job is {d.status}. Only a succeeded job has normalized.xlsx.")
                return
            preview = self.query_one(OutputPreview)
            preview.clear(columns=True)
            preview.loaded = 0
            note.update("loading normalized.xlsx…")
            self._read_output(0)

    def _show_artifact(self, art: Any) -> None:
        self.query_one(ArtifactTree).show(art)
        status = art.job.status
        self.query_one("#artifact-note", Static).update(
            "" if status != "running" else "The job is running: this is the artifact as last saved.")

    def _read_output(self, offset: int) -> None:
        from ade_engine.services import jobs

        self.app.call_service("preview-output", "reading normalized.xlsx", jobs.preview_output, self.app.ws,
                              self.job_id, PAGE, offset, on_done=self._show_output,
                              on_error=lambda e: self.query_one("#output-note", Static).update(e.message))

    def _show_output(self, window: Window) -> None:
        preview = self.query_one(OutputPreview)
        preview.add_window(window)
        self.query_one("#output-note", Static).update(preview.summary)

    def on_output_preview_want_more(self, message: OutputPreview.WantMore) -> None:
        self._read_output(message.offset)

    # ------------------------------------------------------------------------------- actions

    def action_back(self) -> None:
        self.dismiss(None)

    def action_reload(self) -> None:
        self._loaded.clear()
        self.reload()

    def action_cancel_job(self) -> None:
        from ade_engine.services import jobs

        d = self.detail
        if d is None or d.terminal:
            self.app.notify(f"Job is already {d.status}." if d else "Still loading.", severity="warning")
            return
        self.app.call_service("cancel-job", f"cancelling {d.job_id[:10]}", jobs.cancel_job, self.app.ws, d.job_id,
                              on_done=lambda j: (self.app.notify(f"Cancel requested for {j.job_id[:10]}"
                                                                 if j.status == "running" else
                                                                 f"Cancelled {j.job_id[:10]}"), self.reload()))

    def action_retry(self) -> None:
        from ade_engine.services import jobs

        d = self.detail
        if d is None:
            return

        def done(result: jobs.SubmitResult) -> None:
            self.app.job_submitted()
            self.app.notify(f"Retrying as {result.job.job_id[:10]} (attempt {result.job.attempt})")
            self.app.switch_screen(JobDetailScreen(result.job.job_id))

        self.app.call_service("retry-job", f"retrying {d.job_id[:10]}", jobs.retry_job, self.app.ws, d.job_id,
                              on_done=done)

    def action_pin(self) -> None:
        from ade_engine.services import jobs

        d = self.detail
        if d is None:
            return
        self.app.call_service("pin-job", "pinning", jobs.pin_job, self.app.ws, d.job_id, not d.pinned,
                              on_done=lambda j: (self.app.notify("Pinned" if j.pinned else "Unpinned"), self.reload()))
