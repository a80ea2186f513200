"""The forked output writer: same workbook bytes as the in-process writer, and no partial output on failure."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sys
import zipfile

import pytest

from ade_engine.errors import AdeError
from ade_engine.runtime.writer import OutputWriter, ProcessOutputWriter

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the writer process needs fork")

CREATED = dt.datetime(2025, 11, 20, 14, 2, 11)
ROWS = [["Member ID", "Name", "Hired", "Score", "Note"]] + [
    [f"M-{i:05d}", f"Person {i}", dt.date(2020, 1, 1) + dt.timedelta(days=i), i * 1.5, "=1+1" if i % 7 == 0 else None]
    for i in range(1, 1500)
]


def _members(path):
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def test_same_bytes_as_the_in_process_writer(tmp_path):
    a, b = OutputWriter(tmp_path / "a.xlsx", "Out", CREATED), ProcessOutputWriter(tmp_path / "b.xlsx", "Out", CREATED)
    for row in ROWS:
        assert a.write_row(row) == b.write_row(row)
    a.close()
    assert b.close() == tmp_path / "b.xlsx"
    assert _members(tmp_path / "a.xlsx") == _members(tmp_path / "b.xlsx")
    assert not (tmp_path / "b.xlsx.partial").exists()
    assert b.rows_written == len(ROWS)


def test_fixes_are_reported_at_once_by_the_job_process(tmp_path):
    w = ProcessOutputWriter(tmp_path / "out.xlsx", "Out", CREATED)
    fixes = w.write_row(["ok", "bad\x00char", float("nan"), dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)])
    assert [(f.column_index, f.kind) for f in fixes] == [
        (1, "control_chars_removed"), (2, "non_finite_float"), (3, "timezone_converted")]
    w.close()


def test_abort_stops_the_writer_and_leaves_no_partial_file(tmp_path):
    w = ProcessOutputWriter(tmp_path / "out.xlsx", "Out", CREATED)
    for row in ROWS:
        w.write_row(row)
    w.abort()
    assert not w._proc.is_alive()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_writer_that_dies_gives_a_clear_error_and_no_output(tmp_path):
    w = ProcessOutputWriter(tmp_path / "out.xlsx", "Out", CREATED)
    w.write_row(ROWS[0])
    os.kill(w._proc.pid, signal.SIGKILL)
    w._proc.join(5)
    with pytest.raises(AdeError) as exc:
        for row in ROWS * 20:  # enough to fill the pipe and notice
            w.write_row(row)
        w.close()
    assert exc.value.code == "pipeline_error" and "writer" in exc.value.message
    assert not (tmp_path / "out.xlsx").exists() and not (tmp_path / "out.xlsx.partial").exists()
