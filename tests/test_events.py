"""events.ndjson: one line per event, append-only, capped progress, throttled pass.progress."""

from __future__ import annotations

import json

from ade_engine.runtime.events import EventLog
from ade_engine.runtime.redact import Redactor


def lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_emit_appends_json_lines(tmp_path):
    path = tmp_path / "events.ndjson"
    path.write_text('{"event":"enqueue"}\n')
    log = EventLog(path, "J1", 2, "job")
    assert log.emit("pass.started", state="running", detail={"pass": 1, "name": "structure"})
    assert log.emit("exit", duration_ms=12.7)
    got = lines(path)
    assert got[0] == {"event": "enqueue"}
    assert list(got[1]) == ["ts", "event", "job_id", "attempt", "state", "detail"]
    assert got[1]["ts"].endswith("Z") and len(got[1]["ts"]) == len("2025-11-20T14:02:10.118Z")
    assert got[2]["duration_ms"] == 12 and "state" not in got[2]


def test_progress_throttled_and_capped(tmp_path):
    now = [0.0]
    log = EventLog(tmp_path / "e.ndjson", "J", 1, clock=lambda: now[0], cap_bytes=600)
    assert log.progress(1, "sheet_1", 1000)
    now[0] = 1.5
    assert not log.progress(1, "sheet_1", 2000)
    now[0] = 3.6
    assert log.progress(1, "sheet_1", 3000)
    for i in range(10):
        now[0] += 5
        log.progress(1, "sheet_1", i)
    assert log.dropped > 0
    assert log.emit("pass.completed", detail={"pass": 1})  # non-progress events pass the cap
    got = lines(tmp_path / "e.ndjson")
    assert got[-1]["event"] == "pass.completed"
    assert [e["detail"]["rows"] for e in got[:2]] == [1000, 3000]


def test_events_are_redacted(tmp_path):
    log = EventLog(tmp_path / "e.ndjson", "J", 1, redact=Redactor({"TOKEN": "p@ss word"}).text)
    log.emit("error", detail={"message": "bad p@ss word and p%40ss%20word and p%40ss+word"})
    text = (tmp_path / "e.ndjson").read_text()
    assert "p@ss" not in text and "p%40ss" not in text
    assert text.count("[redacted:TOKEN]") == 3
