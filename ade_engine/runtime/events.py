"""`events.ndjson` writer (artifact.md §5): one `write()` per line, append mode, capped progress."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ade_engine.runtime.jobfiles import UnsafeEntry, append_bytes

EVENTS_CAP_BYTES = 5 * 1024 * 1024
PROGRESS_EVENTS = frozenset({"pass.progress"})
PROGRESS_INTERVAL_S = 2.0


def _ts() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class EventLog:
    """Appends events for one job attempt. Never raises: events are diagnostics, not the job.

    `writer` names the process role (`job`, `parent`, `submitter`); it is not written to the line.
    Beyond `cap_bytes` only non-progress events are written. `redact` (optional) is applied to the
    serialized line so no secret value can reach the file.
    """

    def __init__(self, path: str | os.PathLike[str], job_id: str | None, attempt: int = 1,
                 writer: str = "job", *, redact: Callable[[str], str] | None = None,
                 cap_bytes: int = EVENTS_CAP_BYTES, clock: Callable[[], float] = time.monotonic):
        self.path = Path(path)
        self.job_id = job_id
        self.attempt = int(attempt)
        self.writer = writer
        self._redact = redact
        self._cap = cap_bytes
        self._clock = clock
        self._last_progress: float | None = None
        self.dropped = 0
        self.refused: UnsafeEntry | None = None

    def emit(self, event: str, *, state: str | None = None, duration_ms: int | None = None,
             detail: dict[str, Any] | None = None) -> bool:
        """Append one event line; returns False when it was not written (cap reached, I/O error)."""
        record: dict[str, Any] = {"ts": _ts(), "event": event, "job_id": self.job_id, "attempt": self.attempt}
        if state is not None:
            record["state"] = state
        if duration_ms is not None:
            record["duration_ms"] = int(duration_ms)
        if detail is not None:
            record["detail"] = detail
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
        if self._redact is not None:
            line = self._redact(line)
        data = (line + "\n").encode("utf-8")
        cap = self._cap if event in PROGRESS_EVENTS else None
        try:
            written = append_bytes(self.path, data, cap=cap)
        except UnsafeEntry as exc:
            self.refused = exc  # the job swapped the file for a link or worse: nothing was written through it
            return False
        except OSError:
            return False
        if not written:
            self.dropped += 1
        return written

    def progress(self, pass_no: int, sheet_id: str, rows: int, *, force: bool = False) -> bool:
        """`pass.progress`, at most every 2 s (unless `force`)."""
        now = self._clock()
        if not force and self._last_progress is not None and now - self._last_progress < PROGRESS_INTERVAL_S:
            return False
        self._last_progress = now
        return self.emit("pass.progress", detail={"pass": pass_no, "sheet_id": sheet_id, "rows": rows})
