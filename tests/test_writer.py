import datetime as dt
import decimal
import zipfile

import openpyxl
import pytest

from ade_engine.errors import AdeError
from ade_engine.runtime.writer import OutputWriter, WriterFix

CREATED = dt.datetime(2025, 11, 20, 14, 2, 11)


def write(path, rows, created=CREATED):
    writer = OutputWriter(path, "Normalized", created)
    fixes = [writer.write_row(r) for r in rows]
    writer.close()
    return fixes


def read_back(path):
    ws = openpyxl.load_workbook(path)["Normalized"]
    return [[c.value for c in row] for row in ws.iter_rows()], ws


def test_writes_partial_then_renames_into_place(tmp_path):
    final = tmp_path / "normalized.xlsx"
    writer = OutputWriter(final, "Normalized", CREATED)
    writer.write_row(["Name", "Dues"])
    writer.write_row(["Ada", 12])
    assert not final.exists()
    writer.close()
    assert final.exists() and not (tmp_path / "normalized.xlsx.partial").exists()
    assert read_back(final)[0] == [["Name", "Dues"], ["Ada", 12]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["normalized.xlsx"]  # no temp files left


def test_abort_removes_the_partial(tmp_path):
    final = tmp_path / "normalized.xlsx"
    writer = OutputWriter(final, "Normalized", CREATED)
    writer.write_row(["x"])
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_context_manager_aborts_on_error(tmp_path):
    final = tmp_path / "normalized.xlsx"
    with pytest.raises(RuntimeError):
        with OutputWriter(final, "Normalized", CREATED) as writer:
            writer.write_row(["x"])
            raise RuntimeError("boom")
    assert not final.exists() and not (tmp_path / "normalized.xlsx.partial").exists()


def test_values_keep_their_types_and_dates_read_back_as_dates(tmp_path):
    final = tmp_path / "out.xlsx"
    row = ["text", 42, 2.5, True, False, dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, 13, 30, 5),
           dt.time(6, 15), None, "", 0]
    assert write(final, [row]) == [[]]
    values, ws = read_back(final)
    got = values[0]
    assert got[:5] == ["text", 42, 2.5, True, False]
    assert got[5] == dt.datetime(2024, 1, 2) and ws["F1"].is_date
    assert got[6] == dt.datetime(2024, 1, 2, 13, 30, 5) and ws["G1"].is_date
    assert got[7] == dt.time(6, 15) and ws["H1"].is_date
    assert got[8] is None
    assert got[10] == 0


@pytest.mark.parametrize("text", ["=1+2", "=cmd|' /C calc'!A0", "+SUM(A1)", "-2+3", "@SUM(A1)", "=HYPERLINK(\"x\")"])
def test_formula_like_strings_are_literal_text(tmp_path, text):
    final = tmp_path / "out.xlsx"
    write(final, [[text, "-5", "+1"]])
    values, ws = read_back(final)
    assert values[0] == [text, "-5", "+1"]
    assert ws["A1"].data_type == "s"
    with zipfile.ZipFile(final) as zf:
        assert b"<f>" not in zf.read("xl/worksheets/sheet1.xml")


def test_fixes_are_reported_per_column_and_kind(tmp_path):
    final = tmp_path / "out.xlsx"
    aware = dt.datetime(2024, 1, 2, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    row = ["x" * 40_000, "a\x00b\x1fc\x0bd", float("nan"), float("inf"), aware, decimal.Decimal("NaN"),
           object.__new__(type("Thing", (), {"__str__": lambda self: "a thing"})), "ok\ttab\nline"]
    fixes = write(final, [row])[0]
    assert fixes == [WriterFix(0, "value_truncated"), WriterFix(1, "control_chars_removed"),
                     WriterFix(2, "non_finite_float"), WriterFix(3, "non_finite_float"),
                     WriterFix(4, "timezone_converted"), WriterFix(5, "bad_value_type"),
                     WriterFix(6, "bad_value_type")]
    values, _ = read_back(final)
    got = values[0]
    assert len(got[0]) == 32_767
    assert got[1] == "abcd"
    assert got[2] is None and got[3] is None
    assert got[4] == dt.datetime(2024, 1, 2, 14, 0)  # naive UTC
    assert got[5] == "NaN" and got[6] == "a thing"  # a Decimal Excel cannot hold is kept as its text
    assert got[7] == "ok\ttab\nline"  # legal whitespace is kept


def test_identical_rows_give_identical_workbook_content(tmp_path):
    rows = [["Name", "When", "Amount"], ["Ada", dt.date(2024, 1, 2), 1.5], ["=x", dt.datetime(2024, 5, 6, 7, 8), None]]
    a, b = tmp_path / "a.xlsx", tmp_path / "b" / "normalized.xlsx"
    b.parent.mkdir()
    write(a, rows)
    write(b, rows)
    with zipfile.ZipFile(a) as za, zipfile.ZipFile(b) as zb:
        assert za.namelist() == zb.namelist()
        for name in za.namelist():
            assert za.read(name) == zb.read(name), name
        core = za.read("docProps/core.xml").decode()
    assert "2025-11-20T14:02:11Z" in core and core.count("2025-11-20T14:02:11Z") == 2


def test_created_is_normalized_to_utc(tmp_path):
    final = tmp_path / "out.xlsx"
    write(final, [["x"]], created=dt.datetime(2025, 11, 20, 15, 2, 11, tzinfo=dt.timezone(dt.timedelta(hours=1))))
    with zipfile.ZipFile(final) as zf:
        assert b"2025-11-20T14:02:11Z" in zf.read("docProps/core.xml")


def test_column_and_row_limits(tmp_path):
    writer = OutputWriter(tmp_path / "out.xlsx", "Normalized", CREATED)
    with pytest.raises(AdeError) as exc:
        writer.write_row([1] * 16_385)
    assert exc.value.code == "output_column_limit"
    writer.write_row([1] * 16_384)
    writer._next_row = 1_048_576  # as if the sheet were full; writing a million rows here is too slow
    with pytest.raises(AdeError) as exc:
        writer.write_row([1])
    assert exc.value.code == "output_row_limit" and "1,048,575" in exc.value.message
    writer.abort()


def test_sheet_name_is_made_valid(tmp_path):
    final = tmp_path / "out.xlsx"
    writer = OutputWriter(final, "Q1/Q2: [draft] members and everything else", CREATED)
    writer.write_row(["x"])
    writer.close()
    name = openpyxl.load_workbook(final).sheetnames[0]
    assert len(name) <= 31 and not set("[]:*?/\\") & set(name)


def test_finite_decimal_is_written_as_a_number(tmp_path):
    final = tmp_path / "out.xlsx"
    assert write(final, [[decimal.Decimal("1234.50"), decimal.Decimal("-0.01")]]) == [[]]
    values, ws = read_back(final)
    assert values[0] == [1234.5, -0.01] and ws["A1"].data_type == "n"


def test_public_cell_writers_give_the_same_file(tmp_path, monkeypatch):
    """Without xlsxwriter's row/column implementations (another release), the public methods are used."""
    from ade_engine.runtime import writer as writer_mod

    rows = [["Name", "Joined", "Dues", "Active"], ["Ada", dt.date(2020, 1, 2), 12.5, True],
            ["Bob", dt.datetime(2021, 3, 4, 5, 6, 7), 3, False], [None, dt.time(8, 30), dt.timedelta(hours=30), "x"]]
    write(tmp_path / "direct.xlsx", rows)
    public = writer_mod._cell_writers

    def only_public(ws):
        class Public:
            def __getattr__(self, name):
                if name.startswith("_write_"):
                    raise AttributeError(name)
                return getattr(ws, name)
        return public(Public())

    monkeypatch.setattr(writer_mod, "_cell_writers", only_public)
    write(tmp_path / "public.xlsx", rows)
    assert (tmp_path / "direct.xlsx").read_bytes() == (tmp_path / "public.xlsx").read_bytes()
    assert read_back(tmp_path / "public.xlsx")[0][1] == ["Ada", dt.datetime(2020, 1, 2), 12.5, True]


def test_dates_outside_excel_range_become_text(tmp_path):
    final = tmp_path / "out.xlsx"
    fixes = write(final, [[dt.date(1899, 12, 31), dt.date(1900, 1, 1), dt.datetime(1850, 5, 6, 7, 8)]])[0]
    assert fixes == [WriterFix(0, "bad_value_type"), WriterFix(2, "bad_value_type")]
    values, _ = read_back(final)
    assert values[0] == ["1899-12-31", dt.datetime(1900, 1, 1), "1850-05-06T07:08:00"]


def test_write_only_row_file_gives_the_same_file(tmp_path, monkeypatch):
    """The write-only handle on xlsxwriter's row file changes nothing in the output, also when xlsxwriter
    does not look as expected (another release) and its own handle stays."""
    from ade_engine.runtime import writer as writer_mod

    rows = [["Name", "Joined", "Dues"]] + [[f"member {i}", dt.date(2020, 1, 1 + i % 28), i * 1.5] for i in range(3000)]
    write(tmp_path / "write-only.xlsx", rows)
    monkeypatch.setattr(writer_mod, "_write_only_rows", lambda ws: None)
    write(tmp_path / "as-is.xlsx", rows)
    assert (tmp_path / "write-only.xlsx").read_bytes() == (tmp_path / "as-is.xlsx").read_bytes()
    values, _ws = read_back(tmp_path / "write-only.xlsx")
    assert len(values) == 3001 and values[-1] == ["member 2999", dt.datetime(2020, 1, 4), 4498.5]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["as-is.xlsx", "write-only.xlsx"]


def test_abort_after_rows_leaves_nothing_behind(tmp_path):
    writer = OutputWriter(tmp_path / "normalized.xlsx", "Normalized", CREATED)
    for i in range(500):
        writer.write_row([f"row {i}", i])
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_dates_are_the_serials_xlsxwriter_would_write(tmp_path):
    """The writer turns dates, datetimes and times into Excel serials itself; the sheet XML is the same as
    when xlsxwriter converts them (epoch, the fictitious 1900-02-29, microseconds, the last Excel second)."""
    import random
    import re

    import xlsxwriter
    from xlsxwriter.utility import _datetime_to_excel_datetime

    from ade_engine.runtime.writer import DATE_FORMAT, DATETIME_FORMAT, DURATION_FORMAT, TIME_FORMAT, excel_serial

    rng = random.Random(11)
    values = [dt.date(1900, 1, 1), dt.date(1900, 2, 28), dt.date(1900, 3, 1), dt.date(9999, 12, 31),
              dt.datetime(1900, 1, 1, 6), dt.datetime(1900, 2, 28, 23, 59, 59, 999999), dt.datetime(1900, 3, 1, 0, 0, 0, 1),
              dt.datetime(9999, 12, 31, 23, 59, 59)]
    for _ in range(2000):
        day = dt.date(1900, 1, 1) + dt.timedelta(days=rng.randrange(2958465))
        values += [day, dt.datetime(day.year, day.month, day.day, rng.randrange(24), rng.randrange(60),
                                    rng.randrange(60), rng.choice([0, rng.randrange(10**6)]))]
    for v in values:
        assert excel_serial(v) == _datetime_to_excel_datetime(v, False, False), v

    times = [dt.time(0, 0), dt.time(23, 59, 59, 999999), dt.time(12, 0, 0, 1)] + [
        dt.time(rng.randrange(24), rng.randrange(60), rng.randrange(60), rng.choice([0, rng.randrange(10**6)]))
        for _ in range(500)]
    for v in times:
        assert excel_serial(v) == _datetime_to_excel_datetime(v, False, False), v
    values += times
    rows = [values[i:i + 4] for i in range(0, len(values), 4)]
    write(tmp_path / "ours.xlsx", rows)
    book = xlsxwriter.Workbook(str(tmp_path / "theirs.xlsx"), {"constant_memory": True})
    book.set_properties({"created": CREATED})
    ws = book.add_worksheet("Normalized")
    fmt = {dt.date: book.add_format({"num_format": DATE_FORMAT}),
           dt.datetime: book.add_format({"num_format": DATETIME_FORMAT}),
           dt.time: book.add_format({"num_format": TIME_FORMAT})}
    book.add_format({"num_format": DURATION_FORMAT})
    for r, row in enumerate(rows):
        for c, v in enumerate(row):
            ws.write_datetime(r, c, v, fmt[type(v)])
    book.close()

    def sheet_data(path):
        with zipfile.ZipFile(path) as zf:
            return re.search(rb"<sheetData>.*</sheetData>", zf.read("xl/worksheets/sheet1.xml"), re.S).group(0)

    assert sheet_data(tmp_path / "ours.xlsx") == sheet_data(tmp_path / "theirs.xlsx")
