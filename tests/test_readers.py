import datetime as dt

import openpyxl
import pytest
from openpyxl.chart import BarChart, Reference

from ade_engine.errors import InputError
from ade_engine.runtime.gate import inspect_input
from ade_engine.runtime.readers import SheetRef, open_workbook

import badfiles

ENGINES = ["calamine", "openpyxl"]

# Raw cells only a hand-written sheet has: error values, a float stored as "3.0", exponent
# notation, a cached formula string, a false boolean, an error from a formula, an inline string,
# a formula never calculated, and whitespace-only text.
RAW_ROW = ('<row r="40"><c r="A40" t="e"><v>#N/A</v></c><c r="B40"><v>3.0</v></c><c r="C40"><v>1E3</v></c>'
           '<c r="D40" t="str"><f>"a"&amp;"b"</f><v>ab</v></c><c r="E40" t="b"><v>0</v></c>'
           '<c r="F40" t="e"><f>1/0</f><v>#DIV/0!</v></c><c r="G40" t="inlineStr"><is><t>inline</t></is></c>'
           '<c r="H40"><f>1+1</f></c><c r="I40" t="inlineStr"><is><t>   </t></is></c>'
           '<c r="J40"><v>-1.5E-3</v></c></row>')


def read_all(path, engine, name=None):
    info = inspect_input(path, name or path.name)
    with open_workbook(path, info, engine=engine) as reader:
        return reader.sheets(), {s.name: list(reader.iter_rows(s)) for s in reader.sheets()}


@pytest.fixture
def fixture_workbook(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Types"
    values = [
        ("text", "Ada"), ("padded", "  Bob  "), ("int", 42), ("neg", -7), ("float", 2.5), ("intfloat", 3.0),
        ("big", 1e20), ("bool", True), ("date", dt.date(2024, 1, 2)), ("midnight", dt.datetime(2024, 1, 2)),
        ("datetime", dt.datetime(2024, 1, 2, 13, 30, 5)), ("time", dt.time(6, 15)),
        ("duration", dt.timedelta(hours=30)), ("empty", ""), ("spaces", "   "), ("newline", "\n\t"),
        ("formula-like", "=SUM(A1:A2)"), ("unicode", "Zürich €"),
    ]
    for i, (label, value) in enumerate(values, start=1):
        ws.cell(row=i, column=1, value=label)
        c = ws.cell(row=i, column=3, value=value)
        if label == "formula-like":
            c.data_type = "s"  # stored as text, as a user would type '=SUM(...
    for i, fmt in ((11, "yyyy-mm-dd hh:mm:ss"), (12, "hh:mm"), (13, "[h]:mm:ss")):
        ws.cell(row=i, column=3).number_format = fmt
    serials = wb.create_sheet("Serials")
    for i, (serial, fmt) in enumerate([(45000, "mm-dd-yy"), (45000.5, "d-mmm-yy"), (0.25, "h:mm AM/PM"),
                                       (45000, "0.00"), (45000, "[$-409]mmmm d, yyyy;@"), (2, "0%")], start=1):
        serials.cell(row=i, column=1, value=serial).number_format = fmt
    c4 = wb.create_sheet("StartsAtC4")
    c4["C4"], c4["D4"], c4["E6"] = "Name", "Dues", 12
    row3 = wb.create_sheet("FirstRow3")
    row3["A3"], row3["B5"] = "x", 7
    hidden = wb.create_sheet("Hidden")
    hidden.sheet_state = "hidden"
    hidden["A1"] = "secret tab"
    chart = wb.create_chartsheet("Chart")
    bar = BarChart()
    bar.add_data(Reference(row3, min_col=2, min_row=1, max_row=5))
    chart.add_chart(bar)
    wb.create_sheet("Empty")
    base = tmp_path / "base.xlsx"
    wb.save(base)
    return badfiles.rewrite_member(base, tmp_path / "fixture.xlsx", "xl/worksheets/sheet1.xml",
                                   lambda x: x.replace("</sheetData>", RAW_ROW + "</sheetData>"))


def typed(rows):
    return [(n, [(type(v).__name__, v) for v in cells]) for n, cells in rows]


def test_both_engines_yield_identical_values_and_types(fixture_workbook):
    cal_sheets, cal_rows = read_all(fixture_workbook, "calamine")
    opx_sheets, opx_rows = read_all(fixture_workbook, "openpyxl")
    assert cal_sheets == opx_sheets
    assert cal_rows.keys() == opx_rows.keys()
    for name in cal_rows:
        assert typed(cal_rows[name]) == typed(opx_rows[name]), name


def test_values_and_normalization(fixture_workbook):
    for engine in ENGINES:
        _, rows = read_all(fixture_workbook, engine)
        by_label = {cells[0]: (cells[2] if len(cells) > 2 else None) for _, cells in rows["Types"] if cells[0]}
        assert by_label["text"] == "Ada"
        assert by_label["padded"] == "  Bob  "  # non-blank text is passed unchanged
        assert by_label["int"] == 42 and type(by_label["int"]) is int
        assert type(by_label["float"]) is float
        assert by_label["bool"] is True
        assert by_label["date"] == dt.date(2024, 1, 2) and type(by_label["date"]) is dt.date
        assert type(by_label["midnight"]) is dt.date  # a midnight date-time reads as a date in both engines
        assert by_label["datetime"] == dt.datetime(2024, 1, 2, 13, 30, 5)
        assert by_label["time"] == dt.time(6, 15)
        assert by_label["duration"] == dt.timedelta(hours=30)
        assert by_label["formula-like"] == "=SUM(A1:A2)"
        assert by_label["unicode"] == "Zürich €"
        for blank in ("empty", "spaces", "newline"):
            assert by_label[blank] is None
        raw = dict(rows["Types"])[40]
        assert raw == ["#N/A", 3.0, 1000.0, "ab", False, "#DIV/0!", "inline", None, None, -0.0015]
        assert type(raw[1]) is float


def test_rows_are_sheet_rows_from_column_a(fixture_workbook):
    for engine in ENGINES:
        sheets, rows = read_all(fixture_workbook, engine)
        assert rows["StartsAtC4"] == [(4, [None, None, "Name", "Dues"]), (6, [None, None, None, None, 12])]
        assert rows["FirstRow3"] == [(3, ["x"]), (5, [None, 7])]
        assert rows["Empty"] == []
        # chart sheets are skipped; indexes are 1-based in workbook order; hidden tabs are flagged
        assert [s.name for s in sheets] == ["Types", "Serials", "StartsAtC4", "FirstRow3", "Hidden", "Empty"]
        assert sheets[4] == SheetRef(5, "Hidden", True)
        assert [s.index for s in sheets] == [1, 2, 3, 4, 5, 6]
        assert not any(s.hidden for s in sheets if s.name != "Hidden")


def test_auto_uses_calamine_and_streams(fixture_workbook):
    info = inspect_input(fixture_workbook, "fixture.xlsx")
    with open_workbook(fixture_workbook, info) as reader:
        assert reader.engine == "calamine"
        sheet = reader.sheets()[0]
        list(reader.iter_rows(sheet))
        assert reader.read_mode(sheet) == "streaming"
        # a sheet can be read twice (Pass 1 and Passes 3-5)
        assert list(reader.iter_rows(sheet)) == list(reader.iter_rows(sheet.name))


def test_huge_declared_dimension_allocates_only_real_cells(tmp_path):
    path = badfiles.huge_dimension(tmp_path, rows=200)
    for engine in ENGINES:
        info = inspect_input(path, path.name)
        with open_workbook(path, info, engine=engine) as reader:
            rows = list(reader.iter_rows(reader.sheets()[0]))
            assert len(rows) == 201
            assert max(len(cells) for _, cells in rows) == 2
            # calamine would pad every row to the claimed 16,384 columns: that sheet goes to openpyxl
            assert reader.engine_used["Members"] == "openpyxl"


@pytest.mark.parametrize("engine", ENGINES)
def test_row_beyond_the_grid_is_unreadable(tmp_path, engine):
    path = badfiles.row_beyond_grid(tmp_path)
    info = inspect_input(path, path.name)
    with open_workbook(path, info, engine=engine) as reader, pytest.raises(InputError) as exc:
        list(reader.iter_rows(reader.sheets()[0]))
    assert exc.value.code == "input_unreadable"
    assert "1,048,577" in exc.value.message and "tall.xlsx" in exc.value.message


@pytest.mark.parametrize("engine", ENGINES)
def test_cell_beyond_the_grid_is_unreadable(tmp_path, engine):
    path = badfiles.cell_beyond_grid(tmp_path)
    info = inspect_input(path, path.name)
    with open_workbook(path, info, engine=engine) as reader, pytest.raises(InputError) as exc:
        list(reader.iter_rows(reader.sheets()[0]))
    assert exc.value.code == "input_unreadable" and "16,384" in exc.value.message


@pytest.mark.parametrize("engine", ENGINES)
def test_damaged_sheet_xml_is_unreadable(tmp_path, engine):
    base = badfiles.simple_workbook(tmp_path)
    path = badfiles.rewrite_member(base, tmp_path / "damaged.xlsx", "xl/worksheets/sheet1.xml",
                                   lambda x: x[: x.index("<row r=\"2\"") + 20])
    info = inspect_input(path, path.name)
    with pytest.raises(InputError) as exc:
        with open_workbook(path, info, engine=engine) as reader:
            list(reader.iter_rows(reader.sheets()[0]))
    assert exc.value.code == "input_unreadable" and "damaged.xlsx" in exc.value.message


def test_csv_windows_1252(tmp_path):
    path = badfiles.csv_windows_1252(tmp_path)
    sheets, rows = read_all(path, "auto")
    assert sheets == [SheetRef(1, "villes", False)]
    assert rows["villes"] == [(1, ["Ville", "Montant"]), (2, ["Montréal", "€ 12"]), (3, ["Québec", "5"])]


def test_csv_semicolon_bom_all_strings(tmp_path):
    path = badfiles.csv_semicolon_bom(tmp_path)
    _, rows = read_all(path, "auto")
    assert rows["export"] == [(1, ["Name", "Amount", "City"]), (2, ["Ada", "1,5", "Zürich"]),
                              (3, ["Bob", "2", "Genève"])]


def test_csv_blanks_trim_and_record_numbers(tmp_path):
    path = tmp_path / "a very long file name that goes past thirty-one characters.csv"
    path.write_text('a,b,,\n , ,\n"multi\nline",x\n\n1,2,3\n', encoding="utf-8")
    sheets, rows = read_all(path, "auto", name=path.name)
    assert sheets[0].name == path.stem[:31] and len(sheets[0].name) == 31
    assert rows[sheets[0].name] == [(1, ["a", "b"]), (3, ["multi\nline", "x"]), (5, ["1", "2", "3"])]


def test_xlsm_reads_like_xlsx(tmp_path):
    base = badfiles.simple_workbook(tmp_path)
    xlsm = badfiles.rewrite_member(base, tmp_path / "m.xlsm", "[Content_Types].xml",
                                   lambda x: x.replace("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml", "application/vnd.ms-excel.sheet.macroEnabled.main+xml"))
    for engine in ENGINES:
        _, rows = read_all(xlsm, engine)
        assert rows["Members"][0] == (1, ["Name", "Joined", "Dues"])


@pytest.mark.parametrize("engine", ["auto", "calamine", "openpyxl"])
@pytest.mark.parametrize("builder", [badfiles.encrypted_workbook, badfiles.legacy_xls, badfiles.empty_file,
                                     lambda d: badfiles.not_a_workbook(d, "zip")])
def test_readers_fail_cleanly_even_without_the_gate(tmp_path, engine, builder):
    # The gate refuses these first; a reader handed one anyway must still raise InputError, not crash.
    from ade_engine.runtime.gate import InputInfo

    path = builder(tmp_path)
    forged = InputInfo(format="xlsx", size_bytes=path.stat().st_size, sha256="0" * 64, original_name=path.name)
    with pytest.raises(InputError) as exc:
        with open_workbook(path, forged, engine=engine) as reader:
            for sheet in reader.sheets():
                list(reader.iter_rows(sheet))
    assert exc.value.code == "input_unreadable" and path.name in exc.value.message
