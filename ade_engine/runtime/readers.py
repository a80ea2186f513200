"""Workbook and CSV readers: one row stream per sheet, identical values whichever engine reads it.

`open_workbook(path, info)` → `WorkbookReader`. Rows come as `(sheet_row_1_based, cells)` where
`cells[0]` is column A, empty and whitespace-only strings are `None`, trailing `None` are trimmed
and blank rows are skipped (pipeline.md §2, §9).

Engines: python-calamine-plus `stream_sheet_by_name` (streams row by row in constant memory) and
openpyxl read-only (the fallback). Both normalize to the same values and types; in particular a
date-time at exactly midnight is a `date` (calamine's rule, which openpyxl values are mapped to).
"""

from __future__ import annotations

import codecs
import csv
import datetime as _dt
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from ade_engine.errors import InputError
from ade_engine.runtime.gate import InputInfo, encoding_error, resolve_part, text_codec, workbook_part

MAX_ROWS = 1_048_576
MAX_COLUMNS = 16_384
# A declared <dimension> wider than this makes calamine pad every row to it; such sheets are read
# with openpyxl instead (same values, no padding), so a crafted `A1:XFD1048576` costs nothing.
CALAMINE_MAX_DECLARED_COLUMNS = 512
CSV_FIELD_LIMIT = 32 * 1024 * 1024
# After this many blank rows in a row, the calamine reader hands the rest of the sheet to openpyxl.
CALAMINE_MAX_BLANK_RUN = 20_000

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
            self._parts = _sheet_parts(self.path, self.info.workbook_part)
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
        row_no = blank_run = 0
        try:
            # The stream starts at A1 (row 0, column 0) and yields every row, blank or not.
            for raw in stream:
                row_no += 1
                if row_no > MAX_ROWS or len(raw) > MAX_COLUMNS:
                    raise self._too_big(ref.name, row_no, len(raw))
                cells = _clean(raw)
                if cells:
                    blank_run = 0
                    yield row_no, cells
                else:
                    blank_run += 1
                    if blank_run >= CALAMINE_MAX_BLANK_RUN:
                        break
            else:
                return
        except InputError:
            raise
        except self._pc.CalamineError as exc:
            raise self._unreadable(ref.name, f"the sheet XML is damaged near row {row_no + 1}", exc) from exc
        # A long run of blank rows (cells far apart, A1 and XFD1048576): calamine yields each blank row
        # (about 1 µs a row), openpyxl skips them, so the rest of the sheet is read with openpyxl.
        if self._fallback is None:
            self._fallback = OpenpyxlReader(self.path, self.info)
        self.engine_used[ref.name] = "calamine+openpyxl"
        yield from self._fallback.iter_rows(ref.name, min_row=row_no + 1)

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

    def iter_rows(self, sheet: SheetRef | str, *, min_row: int = 1) -> Iterator[tuple[int, list[Any]]]:
        ref = self._ref(sheet)
        ws = self._wb[ref.name]
        self.engine_used.setdefault(ref.name, "openpyxl")
        ws.reset_dimensions()  # stored dimensions are often wrong, and may be crafted
        row_no = min_row - 1
        try:
            for raw in ws.iter_rows(min_row=min_row, values_only=True):
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
    """One sheet named after the file stem; every cell is a string.

    Decoding is strict in the encoding the gate chose (`info.encoding`): a byte that does not decode
    fails the job with `input_encoding` naming the line, never a replacement character. A quoted
    field still open at the end of the file fails with `input_malformed` naming the line it opened on.
    """

    engine = "csv"

    def __init__(self, path: str | Path, info: InputInfo):
        super().__init__(path, info)
        stem = Path(info.original_name).stem.strip() or "Sheet1"
        self._sheets = [SheetRef(1, stem[:31], False)]

    def iter_rows(self, sheet: SheetRef | str) -> Iterator[tuple[int, list[Any]]]:
        ref = self._ref(sheet)
        encoding = self.info.encoding or "utf-8"
        codec = text_codec(encoding)
        delimiter = self.info.delimiter or ","
        old_limit = csv.field_size_limit(CSV_FIELD_LIMIT)
        row_no = 0
        start_line = end_line = 0  # physical lines of the last record
        try:
            with open(self.path, "r", encoding=codec, errors="strict", newline="") as fh:
                reader = csv.reader(fh, delimiter=delimiter)
                for raw in reader:
                    row_no += 1
                    start_line, end_line = end_line + 1, reader.line_num
                    if row_no == 1 and raw and raw[0].startswith("\ufeff"):
                        raw[0] = raw[0][1:]  # a mark the codec keeps (utf-16-le given for a file with a BOM)
                    if len(raw) > MAX_COLUMNS:
                        raise self._too_big(ref.name, row_no, len(raw))
                    cells = _clean(raw)
                    if cells:
                        yield row_no, cells
        except InputError:
            raise
        except UnicodeDecodeError as exc:
            raise self._decode_error(codec) from exc
        except csv.Error as exc:
            raise self._malformed(ref.name, end_line + 1, str(exc)) from exc
        except OSError as exc:
            raise self._unreadable(ref.name, f"the CSV cannot be read at record {row_no + 1}", exc) from exc
        finally:
            csv.field_size_limit(old_limit)
        if end_line > start_line and self._open_quote_at_end(codec, delimiter, start_line):
            raise self._malformed(ref.name, start_line, "unterminated quote", lines=end_line - start_line)

    def _open_quote_at_end(self, codec: str, delimiter: str, start_line: int) -> bool:
        """Whether the last record (from `start_line` to the end) ends inside a quoted field.

        Python's csv reader, non-strict, takes the rest of the file into the field; strict mode says
        so. Only the last record is read again, and only when it spans several lines."""
        with open(self.path, "r", encoding=codec, errors="replace", newline="") as fh:
            for _ in range(start_line - 1):
                if not fh.readline():
                    return False
            try:
                for _ in csv.reader(fh, delimiter=delimiter, strict=True):
                    pass
            except csv.Error as exc:
                return "unexpected end of data" in str(exc)
        return False

    def _malformed(self, sheet: str, line: int, problem: str, *, lines: int = 0) -> InputError:
        name = self.info.original_name
        if problem == "unterminated quote":
            what = (f"line {line:,}: a quoted field opens here and is never closed, so the {lines:,} line(s) after "
                    "it would be read as one cell and every row below it lost")
            fix = ('Close the quote, or write a quote inside a quoted field as two ("") and re-submit the file')
        elif "field larger than field limit" in problem:
            what = (f"line {line:,}: a field grows past {CSV_FIELD_LIMIT // 1048576} MiB, which is almost always a "
                    "quote that is opened and never closed (look at the quotes on this line and just above)")
            fix = "Fix the quotes and re-submit the file"
        else:
            what = f"line {line:,}: the CSV cannot be parsed ({problem})"
            fix = "Re-export the file and re-submit it"
        return InputError(f"{name}, sheet {sheet!r}: {what}. {fix}; nothing was written.", code="input_malformed",
                          details={"file": name, "sheet": sheet, "line": line, "problem": problem})

    def _decode_error(self, codec: str) -> InputError:
        """Where the first undecodable byte is (byte offset and line), found by decoding the file again."""
        codec = "utf-8" if codec == "utf-8-sig" else codec  # a BOM decodes as U+FEFF: offsets stay exact
        decoder = codecs.getincrementaldecoder(codec)("strict")
        offset, lines = 0, 1  # bytes handed to the decoder so far; line of the next decoded character
        with open(self.path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1024 * 1024), b""):
                try:
                    text = decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    data = exc.object if isinstance(exc.object, bytes) else chunk
                    base = offset + len(chunk) - len(data)  # the decoder may hold bytes back from the last chunk
                    head = data[: exc.start].decode(codec, errors="replace")
                    return encoding_error(self.info.original_name, self.info.encoding or "utf-8",
                                          self.info.encoding_source, line=lines + head.count("\n"),
                                          offset=base + exc.start, bad=data[exc.start:exc.end])
                lines += text.count("\n")
                offset += len(chunk)
        return encoding_error(self.info.original_name, self.info.encoding or "utf-8", self.info.encoding_source,
                              line=lines, offset=offset, bad=b"")


def _sheet_parts(path: Path, part: str | None = None) -> dict[str, str]:
    """Map sheet name → zip member of its XML, from the workbook part and its relationships (the part is
    the one the package relationships name, `xl/workbook.xml` in the usual layout)."""
    from defusedxml import ElementTree as ET

    ns_main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    ns_rel = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
    out: dict[str, str] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            part = part or workbook_part(zf)
            if part is None:
                return {}
            folder, base = PurePosixPath(part).parent.as_posix(), PurePosixPath(part).name
            folder = "" if folder == "." else folder
            wb_xml = zf.read(part)
            rels_xml = zf.read(f"{folder}/_rels/{base}.rels" if folder else f"_rels/{base}.rels")
        rels = {rel.get("Id"): resolve_part(folder, rel.get("Target", "")) for rel in ET.fromstring(rels_xml)}
        for el in ET.fromstring(wb_xml).iter():
            if el.tag in (f"{ns_main}sheet", "sheet") and el.get("name") is not None:
                rid = el.get(f"{ns_rel}id")
                if rid in rels:
                    out[el.get("name")] = rels[rid]
    except Exception:
        return {}
    return out
