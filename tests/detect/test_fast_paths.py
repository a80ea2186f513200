"""The cheap per-row paths of structure detection give the same answers as the full rules.

Long sheets are classified cell by cell only where needed: plain numbers skip the regexes, a row streaming past
an open table is judged by its value types, an established body is tested for a new header only where its shape
breaks, and a package's label matcher screens out value cells. These tests hold each shortcut to the slow answer.
"""

import datetime as dt

from ade_engine.detect import detect_layout
from ade_engine.detect.cells import NUMBER, YEAR, _text_kind, kind
from ade_engine.detect.headers import LabelMatcher, match_header
from ade_engine.detect.lines import Line, body_row
from ade_engine.runtime.structure import LayoutScanner


def rows(*lines):
    return [(i, list(cells)) for i, cells in enumerate(lines, 1) if cells is not None]


def test_plain_numbers_and_years_with_footnote_digits_keep_their_kind():
    assert _text_kind("12253.0") == NUMBER and _text_kind("-4.2") == NUMBER and _text_kind("0.5") == NUMBER
    assert _text_kind("1999") == YEAR and _text_kind("2000.0") == YEAR
    # a year with a footnote digit glued to it ("2013" + note 1) is a year, not the number 20131
    assert _text_kind("20131") == YEAR and _text_kind("19992") == YEAR
    assert _text_kind("30131") == NUMBER
    # but a longer run of digits that starts like a year is a number (a coordinate, an amount)
    assert _text_kind("198114") == NUMBER and _text_kind("1801033") == NUMBER
    # forms float() reads but a table does not write as numbers keep their old kinds
    assert _text_kind("infinity") != NUMBER and _text_kind("1_000") != NUMBER
    assert _text_kind("9" * 41) != NUMBER  # longer than any number cell


def test_a_streamed_row_is_judged_like_a_full_line():
    samples = [
        ["M-00001", "Ada", 123.5, dt.date(2020, 1, 1)],
        ["Ada", "Lovelace", "ada@example.org"],
        ["Total", 10.0, 20.0],
        ["Grand total", "1,200", "3"],
        ["North", 2019, 2020],  # years beside one label: only the full rules can tell
        ["Name", "Email", "Amount"],
        ["a", "12", "x"],
        [None, None, "7"],
        [True, "yes"],
        [None, "n/a", "-"],
    ]
    for cells in samples:
        line = Line(1, cells)
        fast = body_row(cells)
        if fast is not None:
            assert fast == (line.datalike and not line.is_total()), cells


def test_an_established_body_still_ends_at_the_next_tables_header():
    body = [[f"item {i}", str(i), str(i * 2)] for i in range(60)]
    second = [[f"thing {i}", str(i + 1), str(i * 3)] for i in range(5)]
    layout = detect_layout(rows(["Item", "Count", "Double"], *body, ["Thing", "Number", "Triple"], *second))
    assert [(t.header_rows, t.first_data_row, t.last_data_row) for t in layout.tables] == [
        ([1], 2, 61), ([62], 63, 67)]


def test_a_long_stream_of_numeric_rows_stays_one_table_past_the_window():
    scanner = LayoutScanner("s1", window=100)
    scanner.feed(1, ["Id", "Name", "Salary", "Start"])
    for r in range(2, 2002):
        scanner.feed(r, [f"M-{r:05d}", "Ada" if r % 3 else None, 1000.0 + r, dt.date(2020, 1, 1 + r % 28)])
    scanner.feed(2003, ["Total", None, 5.0, None])
    result = scanner.finish()
    assert len(result.tables) == 1 and result.tables[0].data_row_count == 2000


def test_label_matcher_agrees_with_match_header_and_skips_values():
    names = ["Name", "full name", "customer", "Email", "e-mail", "email address", "Amount", "total"]
    matcher = LabelMatcher(names)
    texts = ["Name", "NAME (1)", "Full Nmae", "Customer²", "E-Mail", "Email Adress", "Amount ($)", "Amont",
             "Total", "Tonal", "Date", "Game", "M-00001", "(555) 555-0100", "ada@example.org", "Local 12",
             "Employee Email Address", ""]
    for text in texts:
        assert matcher(text) == (match_header(text, names) >= 0.9), text
    assert not matcher(12.5) and not matcher(None)


def test_kind_of_python_values_is_unchanged():
    assert kind(2019) == YEAR and kind(12.5) == NUMBER and kind(30000) == NUMBER


def test_a_header_at_the_end_of_a_window_is_found_with_its_body_in_the_next():
    scanner = LayoutScanner("s1", window=60)
    scanner.feed(1, ["Id", "Amount"])
    for r in range(2, 50):
        scanner.feed(r, [f"x{r}", str(r * 3)])
    for r in range(51, 60):
        scanner.feed(r, [f"Note {r}: the figures above are provisional and may change"])
    scanner.feed(60, ["Region", "Sales", "Staff"])  # the 59th and 60th rows: the window ends here
    scanner.feed(61, [None, "(USD)", "(people)"])
    for r in range(62, 90):
        scanner.feed(r, [f"R{r}", str(r * 10), str(r)])
    result = scanner.finish()
    assert [([h for h, _ in t.header_rows], t.first_data_row, t.last_data_row) for t in result.tables] == [
        ([1], 2, 49), ([60, 61], 62, 89)]


def _template_known_labels():
    import importlib.util
    from pathlib import Path

    import ade_engine

    path = Path(ade_engine.__file__).parent / "packages" / "templates" / "default" / "row_types" / "known_labels.py"
    spec = importlib.util.spec_from_file_location("template_known_labels", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.detect_known_labels


def test_the_template_calls_a_row_a_header_when_it_names_two_different_fields():
    import json
    from pathlib import Path

    import ade_engine

    manifest = json.loads((Path(ade_engine.__file__).parent / "packages" / "templates" / "default"
                           / "manifest.json").read_text())
    detect = _template_known_labels()
    assert detect(row_values_sample=["Full Name", "E-mail", "Amount"], manifest=manifest)["scores"] == {"header": 0.6}
    assert detect(row_values_sample=["Nmae", "Emial adress", None], manifest=manifest)["scores"] == {}
    # a totals row repeats one field's synonym: not a header
    assert detect(row_values_sample=["2001 Q2", "Total", "*Total", "15,683"], manifest=manifest)["scores"] == {}
    assert detect(row_values_sample=["M-00001", "Ada", "ada@example.org", 12.5], manifest=manifest)["scores"] == {}


def test_label_matcher_tags_say_which_field_a_cell_names():
    matcher = LabelMatcher([("Amount", "amount"), ("total", "amount"), ("Email", "email")])
    assert matcher.tag_of("TOTAL") == "amount" and matcher.tag_of("e-mail") == "email"
    assert matcher.tag_of("Region") is None and matcher("Amount (1)")


def test_an_escaped_line_break_alone_is_an_empty_value():
    from ade_engine.detect.cells import NULL

    assert _text_kind("\\n") == NULL and _text_kind("\\t") == NULL
    layout = detect_layout(rows(
        ["State", "Code", "2005", "2006"],
        ["Wisconsin", "WI", "105.0", "266.0"],
        ["Wyoming", "WY", "154.0", "491.0"],
        [None, None, "\\n", "\\n"],
        [None, None, "\\n", "\\n"],
    ))
    assert [(t.header_rows, t.first_data_row, t.last_data_row) for t in layout.tables] == [([1], 2, 5)]
