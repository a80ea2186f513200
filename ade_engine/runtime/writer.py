"""Streaming output writer: xlsxwriter in constant-memory mode (pipeline.md §7, writing rules).

Writes `<final>.partial` row by row; `close()` renames it into place, `abort()` removes it. Every
value is written as what it is — strings always as literal text (so `=cmd|...` never becomes a
live formula) — and the fixes the writer had to make are returned per row so the engine can raise
one rule warning per (output column, kind).
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import re
from decimal import Decimal
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ade_engine.errors import AdeError

MAX_STRING = 32_767
MAX_ROWS = 1_048_576  # including the header row
MAX_COLUMNS = 16_384
FIX_KINDS = ("value_truncated", "control_chars_removed", "non_finite_float", "timezone_converted", "bad_value_type")

# Characters XML 1.0 cannot carry (tab, LF and CR are fine), plus lone surrogates and U+FFFE/U+FFFF.
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
TIME_FORMAT = "hh:mm:ss"
DURATION_FORMAT = "[h]:mm:ss"
_EXCEL_MIN = _dt.datetime(1900, 1, 1)
_EXCEL_MAX = _dt.datetime(9999, 12, 31, 23, 59, 59)
_EXCEL_MIN_DATE = _EXCEL_MIN.date()
# Excel's 1900 date system: serial 1 = 1900-01-01, and a fictitious 1900-02-29 after serial 59.
_EPOCH = _dt.datetime(1899, 12, 31)
_EPOCH_ORDINAL = _EPOCH.toordinal()


def excel_serial(value: _dt.date | _dt.time) -> float:
    """The Excel serial number of a naive date, datetime or time within Excel's range: the same float
    xlsxwriter computes (its arithmetic, step for step, so the files are byte-identical), without its
    per-call type dispatch. Dates and times are most of a typical output's non-text cells."""
    if value.__class__ is _dt.time:
        seconds = value.hour * 3600 + value.minute * 60 + value.second
        return 0 + (float(seconds) + float(value.microsecond) / 1e6) / (60 * 60 * 24)
    if value.__class__ is _dt.date:
        days = value.toordinal() - _EPOCH_ORDINAL
        serial = days + 0.0
    else:
        delta = value - _EPOCH
        serial = delta.days + (float(delta.seconds) + float(delta.microseconds) / 1e6) / (60 * 60 * 24)
        if value.year == 1900 and value.month == 1 and value.day == 1:
            serial -= 1  # xlsxwriter's time-only correction, which also applies to that date
    if serial > 59:
        serial += 1
    return serial


@dataclass(frozen=True)
class WriterFix:
    """A change the writer made to a value: 0-based `column_index` in the row, `kind` from `FIX_KINDS`."""

    column_index: int
    kind: str


def _check_limits(rows_written: int, width: int) -> None:
    if rows_written >= MAX_ROWS:
        raise AdeError(
            f"the output would need more than {MAX_ROWS - 1:,} data rows, Excel's limit for one sheet. "
            "Split the input or filter rows in a hook.",
            code="output_row_limit", details={"limit": MAX_ROWS - 1},
        )
    if width > MAX_COLUMNS:
        raise AdeError(
            f"the output would need {width:,} columns, over Excel's limit of {MAX_COLUMNS:,}. "
            "Turn off append_unmapped_columns or disable fields.",
            code="output_column_limit", details={"limit": MAX_COLUMNS, "columns": width},
        )


def _clean_str(value: str, col: int, fixes: list[WriterFix]) -> str:
    if _ILLEGAL_XML.search(value):
        value = _ILLEGAL_XML.sub("", value)
        fixes.append(WriterFix(col, "control_chars_removed"))
    if len(value) > MAX_STRING:
        value = value[:MAX_STRING]
        fixes.append(WriterFix(col, "value_truncated"))
    return value


def _as_text(text: str, col: int, fixes: list[WriterFix]) -> str:
    fixes.append(WriterFix(col, "bad_value_type"))
    return _clean_str(text, col, fixes)


def _prepare_other(value: Any, col: int, fixes: list[WriterFix]) -> Any:
    if isinstance(value, Decimal) and value.is_finite():
        return float(value)  # Excel stores doubles; Decimal is an allowed transform output
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None and value.utcoffset() is not None:
            value = value.astimezone(_dt.timezone.utc)
            fixes.append(WriterFix(col, "timezone_converted"))
        value = _dt.datetime(value.year, value.month, value.day, value.hour, value.minute, value.second,
                             value.microsecond)
        return value if _EXCEL_MIN <= value <= _EXCEL_MAX else _as_text(value.isoformat(), col, fixes)
    if isinstance(value, _dt.date):
        value = _dt.date(value.year, value.month, value.day)
        return value if _EXCEL_MIN_DATE <= value else _as_text(value.isoformat(), col, fixes)
    if isinstance(value, _dt.time):
        if value.tzinfo is not None:
            fixes.append(WriterFix(col, "timezone_converted"))
        return _dt.time(value.hour, value.minute, value.second, value.microsecond)
    if isinstance(value, _dt.timedelta):
        return _dt.timedelta(seconds=value.total_seconds())
    if isinstance(value, bool):  # bool subclasses are rare but possible
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return float(value)
        fixes.append(WriterFix(col, "non_finite_float"))
        return None
    if isinstance(value, str):
        return _clean_str(str(value), col, fixes)
    try:
        text = str(value)
    except Exception:
        text = f"<unprintable {type(value).__name__}>"
    return _as_text(text, col, fixes)


class OutputWriter:
    """One-sheet xlsx writer; rows must be written in order (constant memory)."""

    def __init__(self, final_path: str | os.PathLike[str], sheet_name: str, created: _dt.datetime, *,
                 tmpdir: str | os.PathLike[str] | None = None):
        import xlsxwriter

        self.final_path = Path(final_path)
        self.partial_path = self.final_path.with_name(self.final_path.name + ".partial")
        if created.tzinfo is not None:
            created = created.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        self._next_row = 0
        self._max_columns = 0
        self._closed = False
        self._wb = xlsxwriter.Workbook(str(self.partial_path), {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
            "nan_inf_to_errors": False,
            "tmpdir": str(tmpdir) if tmpdir is not None else str(self.final_path.parent),
        })
        # Both core properties come from `created`, never the clock, so identical runs give identical bytes.
        self._wb.set_properties({"created": created})
        self._ws = self._wb.add_worksheet(_safe_sheet_name(sheet_name))
        self._rows_fh = _write_only_rows(self._ws)
        self._put = _cell_writers(self._ws)
        self._fmt = {
            "date": self._wb.add_format({"num_format": DATE_FORMAT}),
            "datetime": self._wb.add_format({"num_format": DATETIME_FORMAT}),
            "time": self._wb.add_format({"num_format": TIME_FORMAT}),
            "duration": self._wb.add_format({"num_format": DURATION_FORMAT}),
        }

    def write_row(self, values: Iterable[Any]) -> list[WriterFix]:
        """Write the next row (row 1 first); return the fixes applied to its values.

        Each value is made safe and written in the same step (pipeline.md §7, writing rules): the Excel row
        and column limits, control characters, long strings, non-finite floats, time zones, odd types. Plain
        values (the usual case) take the short branches; anything else goes through `_prepare_other`."""
        if self._closed:
            raise AdeError("the output writer is already closed", code="internal_error")
        if not isinstance(values, (list, tuple)):
            values = list(values)
        if self._next_row >= MAX_ROWS or len(values) > MAX_COLUMNS:
            _check_limits(self._next_row, len(values))
        put_string, put_number, put_boolean = self._put
        fmt = self._fmt
        row = self._next_row
        fixes: list[WriterFix] = []
        col = -1
        for value in values:
            col += 1
            if value is None:
                continue
            cls = value.__class__
            if cls is str:
                if len(value) > MAX_STRING or _ILLEGAL_XML.search(value):
                    value = _clean_str(value, col, fixes)
                put_string(row, col, value)
                continue
            if cls is int:
                put_number(row, col, value)
                continue
            if cls is float:
                if value - value == 0.0:  # finite (inf - inf and nan - nan are nan)
                    put_number(row, col, value)
                else:
                    fixes.append(WriterFix(col, "non_finite_float"))
                continue
            if cls is _dt.date and value >= _EXCEL_MIN_DATE:
                put_number(row, col, excel_serial(value), fmt["date"])
                continue
            if cls is _dt.datetime and value.tzinfo is None and _EXCEL_MIN <= value <= _EXCEL_MAX:
                put_number(row, col, excel_serial(value), fmt["datetime"])
                continue
            if cls is _dt.time and value.tzinfo is None:
                put_number(row, col, excel_serial(value), fmt["time"])
                continue
            if cls is not bool:
                value = _prepare_other(value, col, fixes)
                if value is None:
                    continue
                cls = value.__class__
            if cls is str:
                put_string(row, col, value)
            elif cls is float or cls is int:
                put_number(row, col, value)
            elif cls is bool:
                put_boolean(row, col, value)
            elif cls is _dt.datetime:
                put_number(row, col, excel_serial(value), fmt["datetime"])
            elif cls is _dt.date:
                put_number(row, col, excel_serial(value), fmt["date"])
            elif cls is _dt.time:
                put_number(row, col, excel_serial(value), fmt["time"])
            else:  # timedelta
                put_number(row, col, value.total_seconds() / 86400, fmt["duration"])
        self._next_row += 1
        if col + 1 > self._max_columns:
            self._max_columns = col + 1
        return fixes

    @property
    def rows_written(self) -> int:
        return self._next_row

    @property
    def max_columns(self) -> int:
        return self._max_columns

    def close(self) -> Path:
        """Finish the workbook and atomically move it to `final_path`."""
        if self._closed:
            return self.final_path
        try:
            if self._rows_fh is not None:
                self._rows_fh.close()  # flushed; xlsxwriter reopens the file to add the last row and read it back
            self._wb.close()
        except Exception:
            self.abort()
            raise
        self._closed = True
        os.replace(self.partial_path, self.final_path)
        return self.final_path

    def abort(self) -> None:
        """Give up: remove the partial file (and the writer's temp files)."""
        if not self._closed:
            self._closed = True
            try:
                if self._rows_fh is not None:
                    self._rows_fh.close()
                for ws in self._wb.worksheets():
                    fh = getattr(ws, "row_data_fh", None)
                    if fh is not None and not fh.closed:
                        fh.close()
                    tmp = getattr(ws, "row_data_filename", None)
                    if tmp:
                        Path(tmp).unlink(missing_ok=True)
            except Exception:
                pass
        self.partial_path.unlink(missing_ok=True)

    def __enter__(self) -> "OutputWriter":
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _write_only_rows(ws: Any) -> Any:
    """Give the worksheet a write-only handle on its constant-memory row file; returns it (None if the
    worksheet does not look as expected, and then nothing changed).

    xlsxwriter opens that temp file "w+" because it reads it back once, at close. A text file opened for
    reading too resets its decoder on every write() — a Python-level call per cell written, about 2 % of a
    job. Rows only ever go in while we write, so we close xlsxwriter's handle the way it does itself when
    a workbook has too many files open (`_opt_close`) and append through our own; `close()` closes ours,
    and xlsxwriter reopens the file (`_opt_reopen`) to add the last row and copy it into the sheet."""
    name = getattr(ws, "row_data_filename", None)
    if not name or not hasattr(ws, "_opt_close") or not hasattr(ws, "_opt_reopen") or ws.fh is not ws.row_data_fh:
        return None
    ws._opt_close()
    fh = open(name, "a", encoding="utf-8", buffering=1 << 16)  # noqa: SIM115 - closed in close()/abort()
    ws.fh = fh
    return fh


def _cell_writers(ws: Any) -> tuple[Any, Any, Any]:
    """The worksheet's string/number/boolean writers (dates and times go in as serial numbers with a date
    format, `excel_serial`). xlsxwriter's public `write_*` methods first
    try to parse an A1 reference out of their arguments (a wrapper per call, about a tenth of the cost of a
    cell); our rows and columns are always numbers, so the row/column implementations behind them are
    called directly when this xlsxwriter has them, the public methods otherwise."""
    names = ("string", "number", "boolean")
    direct = [getattr(ws, f"_write_{n}", None) for n in names]
    if all(callable(f) for f in direct):
        return tuple(direct)  # type: ignore[return-value]
    return tuple(getattr(ws, f"write_{n}") for n in names)  # type: ignore[return-value]


def _safe_sheet_name(name: str) -> str:
    """Excel sheet names: ≤ 31 chars, none of []:*?/\\, not blank, no leading/trailing apostrophe."""
    cleaned = re.sub(r"[\[\]:*?/\\]", "_", name or "").strip().strip("'")[:31]
    return cleaned or "Sheet1"
