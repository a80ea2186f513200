"""The events timeline of one job: `events.ndjson` lines as table rows, appended as they arrive (bounded)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from textual.widgets import DataTable

MAX_ROWS = 2000  # events are capped at 5 MiB; a view of the newest rows is enough to follow a job
COLUMNS = (("t", "+s"), ("event", "Event"), ("state", "State"), ("detail", "Detail"))


def _ts(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def detail_text(event: dict[str, Any]) -> str:
    detail = dict(event.get("detail") or {})
    parts = []
    if "name" in detail and "pass" in detail:
        parts.append(f"pass {detail.pop('pass')} {detail.pop('name')}")
    for key, value in detail.items():
        shown = json.dumps(value, separators=(",", ":")) if isinstance(value, (dict, list)) else value
        parts.append(f"{key}={shown}")
    if event.get("duration_ms") is not None:
        parts.append(f"took {event['duration_ms']} ms")
    return " ".join(str(p) for p in parts)


class EventsView(DataTable):
    """`add_events` appends; the time column is seconds since the job's first event."""

    DEFAULT_CSS = """
    EventsView { height: 1fr; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._start: datetime | None = None
        self._count = 0

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    @property
    def count(self) -> int:
        return self._count

    def add_events(self, events: list[dict[str, Any]], *, live: bool = False) -> None:
        """Append `events`; with `live` (a running job) the cursor follows the newest unless moved up."""
        follow = live and (self.row_count == 0 or self.cursor_row >= self.row_count - 1)
        for event in events:
            ts = _ts(event.get("ts"))
            if self._start is None and ts is not None:
                self._start = ts
            offset = f"{(ts - self._start).total_seconds():.3f}" if ts and self._start else ""
            self._count += 1
            self.add_row(offset, str(event.get("event", "?")), str(event.get("state") or ""), detail_text(event),
                         key=str(self._count))
        while self.row_count > MAX_ROWS:
            self.remove_row(self.coordinate_to_cell_key((0, 0)).row_key)
        if follow and events:
            self.move_cursor(row=self.row_count - 1, animate=False)
