"""The live job list: one row per job keyed by job id, changed cells updated in place (never rebuilt)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ade_tui.widgets.table import FreshWidthsTable

if TYPE_CHECKING:
    from ade_engine.services.jobs import JobInfo, JobProgress


# Duration last but one and input last: at 80 columns the input name is the one that may be cut.
COLUMNS = (("id", "Id"), ("state", "State"), ("config", "Config"), ("progress", "Passes"), ("rows", "Rows"),
           ("issues", "Issues"), ("duration", "Time"), ("input", "Input"))
STATE_MARKS = {"queued": "… queued", "running": "▶ running", "succeeded": "✓ succeeded", "failed": "✗ failed",
               "cancelled": "⊘ cancelled"}
ID_CHARS = 10  # a ULID's time part: unique per millisecond, and a prefix the CLI accepts


def duration_text(ms: int | None) -> str:
    if ms is None:
        return ""
    if ms < 10_000:
        return f"{ms / 1000:.1f}s"
    seconds = ms // 1000
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def issues_text(p: JobProgress) -> str:
    if p.issues is None:
        return ""
    if not p.issues:
        return "0"
    parts = [f"{p.errors}e" if p.errors else "", f"{p.warnings}w" if p.warnings else ""]
    other = p.issues - int(p.errors or 0) - int(p.warnings or 0)
    return " ".join(x for x in parts + [f"{other}i" if other > 0 else ""] if x) or str(p.issues)


def progress_text(info: JobInfo, p: JobProgress) -> str:
    if info.status == "queued":
        return ""
    if info.status == "running":
        return f"{p.passes_done}/5 {p.current_pass or 'starting'}"
    if info.status == "succeeded":
        return f"{p.passes_done}/5"
    return f"{p.passes_done}/5 at {info.error_stage}" if info.error_stage else f"{p.passes_done}/5"


@dataclass(frozen=True)
class JobRow:
    job_id: str
    state: str
    config: str
    progress: str
    rows: str
    issues: str
    duration: str
    input: str

    def cells(self) -> tuple[str, ...]:
        return (self.job_id[:ID_CHARS], STATE_MARKS.get(self.state, self.state), self.config, self.progress,
                self.rows, self.issues, self.duration, self.input)


def row_for(info: JobInfo, progress: JobProgress, config_label: str, running_ms: int | None = None) -> JobRow:
    """`running_ms`: elapsed time of a running job (the caller's clock; None hides it)."""
    ms = info.duration_ms if info.terminal else running_ms
    return JobRow(info.job_id, info.status, config_label, progress_text(info, progress),
                  "" if progress.rows is None else str(progress.rows), issues_text(progress), duration_text(ms),
                  info.source_file or info.document_id or "")


class JobTable(FreshWidthsTable):
    """Rows keyed by job id, newest first. `show` adds, updates (changed cells only) and removes rows."""

    DEFAULT_CSS = """
    JobTable { height: 1fr; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._rows: dict[str, JobRow] = {}

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    @property
    def rows_by_id(self) -> dict[str, JobRow]:
        return dict(self._rows)

    @property
    def selected_job(self) -> str | None:
        if not self._rows or self.cursor_row < 0 or self.cursor_row >= self.row_count:
            return None
        return self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value

    def show(self, rows: list[JobRow]) -> int:
        """Bring the table to `rows` (already in display order); returns how many cells changed."""
        selected = self.selected_job
        wanted = {r.job_id: r for r in rows}
        changed = 0
        for gone in [k for k in self._rows if k not in wanted]:
            self.remove_row(gone)
            del self._rows[gone]
            changed += 1
        added = False
        for row in rows:
            old = self._rows.get(row.job_id)
            if old is None:
                self.add_row(*row.cells(), key=row.job_id)
                added = True
                changed += 1
            elif old != row:
                for (col, _), new, was in zip(COLUMNS, row.cells(), old.cells()):
                    if new != was:
                        self.update_cell(row.job_id, col, new, update_width=True)
                        changed += 1
            self._rows[row.job_id] = row
        if added:
            # Newest first: ULIDs sort by time. Sorting reorders rows in place; the cursor follows its job.
            self.sort("id", reverse=True)
            if selected in self._rows:
                self.move_cursor(row=self.get_row_index(selected), animate=False)
        return changed

    def select_job(self, job_id: str) -> None:
        if job_id in self._rows:
            self.move_cursor(row=self.get_row_index(job_id), animate=False)
