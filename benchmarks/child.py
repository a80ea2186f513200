"""What each measured subprocess runs: `python -m benchmarks.child floor IN OUT` or `read ENGINE IN`."""

from __future__ import annotations

import sys


def floor(src: str, out: str) -> int:
    """Read the workbook twice streaming with python-calamine-plus, write the values once (xlsxwriter)."""
    import xlsxwriter
    from python_calamine_plus import CalamineWorkbook, SheetTypeEnum

    wb = CalamineWorkbook.from_path(src)
    names = [m.name for m in wb.sheets_metadata if m.typ == SheetTypeEnum.WorkSheet]
    cells = 0
    for name in names:  # read 1: look at every value
        for row in wb.stream_sheet_by_name(name):
            cells += len(row)
    book = xlsxwriter.Workbook(out, {"constant_memory": True, "strings_to_formulas": False,
                                     "strings_to_numbers": False, "strings_to_urls": False})
    ws = book.add_worksheet("Out")
    r = 0
    for name in names:  # read 2: write every row
        for row in wb.stream_sheet_by_name(name):
            ws.write_row(r, 0, row)
            r += 1
    book.close()
    wb.close()
    print(cells, r)
    return 0


def read(engine: str, src: str) -> int:
    """Stream every row through the engine's own reader (normalization included)."""
    from pathlib import Path

    from ade_engine.runtime.gate import inspect_input
    from ade_engine.runtime.readers import open_workbook

    info = inspect_input(src, Path(src).name)
    n = 0
    with open_workbook(src, info, engine=engine) as reader:
        for sheet in reader.sheets():
            for _ in reader.iter_rows(sheet):
                n += 1
    print(n)
    return 0


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "floor":
        sys.exit(floor(sys.argv[2], sys.argv[3]))
    if cmd == "read":
        sys.exit(read(sys.argv[2], sys.argv[3]))
    sys.exit(f"unknown command {cmd!r}")
