"""Workbook and CSV readers: one row stream per sheet, identical values whichever engine reads it.

`open_workbook(path, info)` → `WorkbookReader`. Rows come as `(sheet_row_1_based, cells)` where
`cells[0]` is column A, empty and whitespace-only strings are `None`, trailing `None` are trimmed
and blank rows are skipped (pipeline.md §2, §9).

Engines: python-calamine-plus `stream_sheet_by_name` (streams row by row in constant memory) and
openpyxl read-only (the fallback). Both normalize to the same values and types; in particular a
date-time at exactly midnight is a `date` (calamine's rule, which openpyxl values are mapped to).
"""

from __future__ import annotations

import csv
import datetime as _dt
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from ade_engine.errors import InputError
from ade_engine.runtime.gate import InputInfo

MAX_ROWS = 1_048_576
MAX_COLUMNS = 16_384
# A declared <dimension> wider than this makes calamine pad every row to it; such sheets are read
# with openpyxl instead (same values, no padding), so a crafted `A1:XFD1048576` costs nothing.
CALAMINE_MAX_DECLARED_COLUMNS = 512
CSV_FIELD_LIMIT = 32 * 1024 * 1024

_MIDNIGHT = _dt.time(0, 0)
_DIMENSION_RE = re.compile(rb"<(?:\w+:)?dimension\b[^>]*\bref=\"([^\"]*)\"")
_SHEETDATA_RE = re.compile(rb"<(?:\w+:)?sheetData\b")


@dataclass(frozen=True)
class SheetRef:
    """A worksheet: 1-based position among worksheets (chart sheets skipped), name, hidden flag."""

    index: int
    name: str
    hidden: bool


def open_workbook(path: str | Path, info: InputInfo, *, inmemory_max_mb: int = 64,
                  engine: str = "auto") -> "WorkbookReader":
    """Open the input the gate described in `info` with the chosen engine (`auto` = calamine, else openpyxl)."""
    if engine not in ("auto", "calamine", "openpyxl"):
        raise ValueError(f"unknown reader engine {engine!r}; use auto, calamine or openpyxl")
    if info.format == "csv":
        return CsvReader(path, info)
    if info.format not in ("xlsx", "xlsm"):
        raise InputError(f"{info.original_name}: format {info.format!r} cannot be read.", code="input_unsupported")
    with open(path, "rb") as fh:
        if fh.read(4) != b"PK\x03\x04":  # calamine would happily parse .xls/.ods: only zip workbooks pass
            raise InputError(f"{info.original_name}: the file is not an .xlsx/.xlsm workbook (no zip header).",
                             code="input_unreadable", details={"file": info.original_name})
    if engine in ("auto", "calamine"):
        try:
            return CalamineReader(path, info, inmemory_max_mb=inmemory_max_mb)
        except InputError:
            if engine == "calamine":
                raise
    return OpenpyxlReader(path, info)


class WorkbookReader:
    """Common shape of the readers. Use as a context manager or call `close()`."""

    engine = "base"

    def __init__(self, path: str | Path, info: InputInfo):
        self.path = Path(path)
        self.info = info
        self._sheets: list[SheetRef] = []
        # Engine that actually read each sheet (calamine hands crafted-dimension sheets to openpyxl).
        self.engine_used: dict[str, str] = {}

    def sheets(self) -> list[SheetRef]:
        return list(self._sheets)

    def read_mode(self, sheet: SheetRef | str) -> str:
        """`"streaming"` or `"in_memory"` for the sheet (recorded as `sheets[].read_mode`)."""
        return "streaming"

    def iter_rows(self, sheet: SheetRef | str) -> Iterator[tuple[int, list[Any]]]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> "WorkbookReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # helpers
    def _ref(self, sheet: SheetRef | str) -> SheetRef:
        name = sheet.name if isinstance(sheet, SheetRef) else sheet
        for ref in self._sheets:
            if ref.name == name:
                return ref
        raise InputError(f"{self.info.original_name}: no worksheet named {name!r}.", code="input_unreadable")

    def _unreadable(self, sheet: str, what: str, exc: BaseException | None = None) -> InputError:
        detail = f" ({exc})" if exc is not None else ""
        return InputError(
            f"{self.info.original_name}, sheet {sheet!r}: {what}{detail}. Re-save the file in Excel and re-submit it.",
            code="input_unreadable", details={"file": self.info.original_name, "sheet": sheet},
        )

    def _too_big(self, sheet: str, row: int, width: int) -> InputError:
        if row > MAX_ROWS:
            what = f"row {row:,} is beyond Excel's last row {MAX_ROWS:,}"
        else:
            what = f"row {row:,} has a cell in column {width:,}, beyond Excel's last column {MAX_COLUMNS:,} (XFD)"
        return InputError(f"{self.info.original_name}, sheet {sheet!r}: {what}; the file is corrupt or crafted.",
                          code="input_unreadable",
                          details={"file": self.info.original_name, "sheet": sheet, "budget": "cells"})


def _clean(row: Any) -> list[Any]:
    """Empty/whitespace strings → None, trailing None trimmed."""
    out = [None if (v is None or (v.__class__ is str and (not v or v.isspace()))) else v for v in row]
    while out and out[-1] is None:
        out.pop()
    return out


def _clean_openpyxl(row: Any) -> list[Any]:
    out = _clean(row)
    for i, v in enumerate(out):
        if v.__class__ is _dt.datetime and v.time() == _MIDNIGHT and v.tzinfo is None:
            out[i] = v.date()
    return out


class CalamineReader(WorkbookReader):
    engine = "calamine"

    def __init__(self, path: str | Path, info: InputInfo, *, inmemory_max_mb: int = 64):
        super().__init__(path, info)
        import python_calamine_plus as pc

        self._pc = pc
        self._inmemory_max_mb = inmemory_max_mb
        self._fallback: OpenpyxlReader | None = None
        try:
            self._wb = pc.CalamineWorkbook.from_path(str(self.path))
            metas = list(self._wb.sheets_metadata)
        except Exception as exc:  # calamine raises its own error types and sometimes plain ones
            raise InputError(f"{info.original_name}: the workbook cannot be opened ({exc}).",
                             code="input_unreadable", details={"file": info.original_name}) from exc
        index = 0
        for meta in metas:
            if meta.typ != pc.SheetTypeEnum.WorkSheet:
                continue  # chart, dialog and macro sheets hold no table data
            index += 1
            self._sheets.append(SheetRef(index, meta.name, meta.visible != pc.SheetVisibleEnum.Visible))
        self._parts: dict[str, str] | None = None

    def _declared_columns(self, name: str) -> int:
        """Last column of the sheet's declared <dimension>, read from the first bytes of its XML (0 if none)."""
        if self._parts is None:
            self._parts = _sheet_parts(self.path)
        member = self._parts.get(name)
        if member is None:
            return 0
        try:
            with zipfile.ZipFile(self.path) as zf, zf.open(member) as fh:
                head = fh.read(64 * 1024)
        except (KeyError, zipfile.BadZipFile, OSError, RuntimeError):
            return 0
        cut = _SHEETDATA_RE.search(head)
        m = _DIMENSION_RE.search(head[: cut.start()] if cut else head)
        if not m:
            return 0
        last = m.group(1).decode("ascii", "replace").split(":")[-1]
        letters = "".join(ch for ch in last if ch.isalpha())
        n = 0
        for ch in letters.upper()[:4]:
            n = n * 26 + (ord(ch) - 64)
        return n

    def iter_rows(self, sheet: SheetRef | str) -> Iterator[tuple[int, list[Any]]]:
        ref = self._ref(sheet)
        if self._declared_columns(ref.name) > CALAMINE_MAX_DECLARED_COLUMNS:
            if self._fallback is None:
                self._fallback = OpenpyxlReader(self.path, self.info)
            self.engine_used[ref.name] = "openpyxl"
            yield from self._fallback.iter_rows(ref.name)
            return
        self.engine_used[ref.name] = "calamine"
        try:
            stream = self._wb.stream_sheet_by_name(ref.name)
        except Exception as exc:
            raise self._unreadable(ref.name, "the sheet cannot be read", exc) from exc
        row_no = 0
        try:
            # The stream starts at A1 (row 0, column 0) and yields every row, blank or not.
            for raw in stream:
                row_no += 1
                if row_no > MAX_ROWS or len(raw) > MAX_COLUMNS:
                    raise self._too_big(ref.name, row_no, len(raw))
                cells = _clean(raw)
                if cells:
                    yield row_no, cells
        except InputError:
            raise
        except self._pc.CalamineError as exc:
            raise self._unreadable(ref.name, f"the sheet XML is damaged near row {row_no + 1}", exc) from exc

    def close(self) -> None:
        if self._fallback is not None:
            self._fallback.close()
            self._fallback = None
        wb, self._wb = getattr(self, "_wb", None), None
        if wb is not None:
            try:
                wb.close()
            except Exception:
                pass


class OpenpyxlReader(WorkbookReader):
    engine = "openpyxl"

    def __init__(self, path: str | Path, info: InputInfo):
        super().__init__(path, info)
        import openpyxl
        from openpyxl.chartsheet import Chartsheet

        try:
            self._wb = openpyxl.load_workbook(str(self.path), read_only=True, data_only=True, keep_links=False)
        except Exception as exc:
            raise InputError(f"{info.original_name}: the workbook cannot be opened ({exc}).",
                             code="input_unreadable", details={"file": info.original_name}) from exc
        index = 0
        for ws in self._wb._sheets:  # workbook order, including chart sheets we skip
            if isinstance(ws, Chartsheet):
                continue
            index += 1
            self._sheets.append(SheetRef(index, ws.title, ws.sheet_state != "visible"))

    def iter_rows(self, sheet: SheetRef | str) -> Iterator[tuple[int, list[Any]]]:
        ref = self._ref(sheet)
        ws = self._wb[ref.name]
        self.engine_used[ref.name] = "openpyxl"
        ws.reset_dimensions()  # stored dimensions are often wrong, and may be crafted
        row_no = 0
        try:
            for raw in ws.iter_rows(values_only=True):
                row_no += 1  # openpyxl fills gaps with empty rows, so this is the sheet row
                if row_no > MAX_ROWS or len(raw) > MAX_COLUMNS:
                    raise self._too_big(ref.name, row_no, len(raw))
                if not raw:
                    continue
                cells = _clean_openpyxl(raw)
                if cells:
                    yield row_no, cells
        except InputError:
            raise
        except Exception as exc:
            raise self._unreadable(ref.name, f"the sheet XML is damaged near row {row_no + 1}", exc) from exc

    def close(self) -> None:
        wb, self._wb = getattr(self, "_wb", None), None
        if wb is not None:
            wb.close()


class CsvReader(WorkbookReader):
    """One sheet named after the file stem; every cell is a string."""

    engine = "csv"

    def __init__(self, path: str | Path, info: InputInfo):
        super().__init__(path, info)
        stem = Path(info.original_name).stem.strip() or "Sheet1"
        self._sheets = [SheetRef(1, stem[:31], False)]

    def iter_rows(self, sheet: SheetRef | str) -> Iterator[tuple[int, list[Any]]]:
        ref = self._ref(sheet)
        encoding = "utf-8-sig" if (self.info.encoding or "utf-8") == "utf-8" else self.info.encoding
        errors = "strict" if encoding == "utf-8-sig" else "replace"
        old_limit = csv.field_size_limit(CSV_FIELD_LIMIT)
        row_no = 0
        try:
            with open(self.path, "r", encoding=encoding, errors=errors, newline="") as fh:
                for raw in csv.reader(fh, delimiter=self.info.delimiter or ","):
                    row_no += 1
                    if len(raw) > MAX_COLUMNS:
                        raise self._too_big(ref.name, row_no, len(raw))
                    cells = _clean(raw)
                    if cells:
                        yield row_no, cells
        except InputError:
            raise
        except UnicodeDecodeError as exc:
            raise self._unreadable(ref.name, f"the text is not valid UTF-8 after row {row_no}; save it as UTF-8",
                                   exc) from exc
        except (csv.Error, OSError) as exc:
            raise self._unreadable(ref.name, f"the CSV cannot be parsed at record {row_no + 1}", exc) from exc
        finally:
            csv.field_size_limit(old_limit)


def _sheet_parts(path: Path) -> dict[str, str]:
    """Map sheet name → zip member of its XML, from xl/workbook.xml and its relationships."""
    from defusedxml import ElementTree as ET

    ns_main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    ns_rel = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
    out: dict[str, str] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            wb_xml = zf.read("xl/workbook.xml")
            rels_xml = zf.read("xl/_rels/workbook.xml.rels")
        rels = {}
        for rel in ET.fromstring(rels_xml):
            target = rel.get("Target", "")
            member = target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl") / target)
            rels[rel.get("Id")] = member
        for el in ET.fromstring(wb_xml).iter():
            if el.tag in (f"{ns_main}sheet", "sheet") and el.get("name") is not None:
                rid = el.get(f"{ns_rel}id")
                if rid in rels:
                    out[el.get("name")] = rels[rid]
    except Exception:
        return {}
    return out
