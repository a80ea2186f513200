"""Table segmentation and line roles of ade_engine.detect on small sheets shaped like real ones, and bad input."""

from ade_engine.detect import detect_layout
from ade_engine.runtime.structure import LayoutScanner


def rows(*lines):
    """1-based rows; None lines are blank rows (left out, as readers do)."""
    return [(i, list(cells)) for i, cells in enumerate(lines, 1) if cells is not None]


def spans(layout):
    return [(t.header_rows, t.first_data_row, t.last_data_row) for t in layout.tables]


def test_title_stacked_header_over_blank_lines_section_rows_totals_and_footnotes():
    layout = detect_layout(rows(
        ["Table 12. Arrivals by region: 2020"],
        None,
        ["Region", "Arrivals", None, "Change"],
        None,
        [None, "2019", "2020", "Percent"],
        ["North", None, None, None],
        ["Alpha", "120", "130", "8.3"],
        ["Beta", "90", "(NA)", "-"],
        None,
        ["South", None, None, None],
        ["Gamma", "1,200", "1,150", "-4.2"],
        ["Total", "1,410", "1,280", "-9.2"],
        None,
        ["1 Provisional figures."],
        ["Source: a statistics office."],
    ))
    assert spans(layout) == [([3, 5], 6, 12)]
    roles = layout.roles()
    assert roles[1] in ("title", "metadata") and roles[3] == roles[5] == "header"
    assert roles[6] == roles[10] == "group" and roles[12] == "total"
    assert roles[14] == roles[15] == "note"
    assert all(d.reason and 0 <= d.score <= 1 for d in layout.decisions.values())


def test_several_tables_with_repeated_headers_and_titles_between():
    layout = detect_layout(rows(
        ["Males"],
        ["Name", "Age", "Score"],
        ["a", "31", "4.5"],
        ["b", "40", "3.0"],
        None,
        ["Females"],
        ["Name", "Age", "Score"],
        ["c", "29", "4.1"],
        ["d", "35", "3.9"],
    ))
    assert spans(layout) == [([2], 3, 4), ([7], 8, 9)]


def test_header_with_footnote_digits_and_year_row_above_numbers():
    layout = detect_layout(rows(
        ["2002 Rank", "Employer", "Employees(1)", "2001 Rank"],
        ["1", "Harbour College", "8722", "1"],
        ["2", "City Works", "2934", "3"],
        ["3", "Mill Labs", "1882", "8"],
    ))
    assert spans(layout) == [([1], 2, 4)]
    years = detect_layout(rows(["Item", "2019", "2020", "2021"], ["Wheat", "1.5", "1.7", "1.2"],
                               ["Rice", "2.5", "2.1", "2.2"]))
    assert spans(years) == [([1], 2, 3)]


def test_text_only_table_and_headerless_table():
    text = detect_layout(rows(["Code", "Meaning", "Owner"], ["A", "Active", "HR"], ["I", "Inactive", "HR"],
                              ["R", "Retired", "Payroll"]))
    assert spans(text) == [([1], 2, 4)]
    bare = detect_layout(rows(["Exported 3 May"], ["x1", "10", "20"], ["x2", "11", "21"]))
    assert spans(bare) == [([], 2, 3)]


def test_bad_input_finishes_with_a_note_and_no_crash():
    all_text = detect_layout(rows(*[["words and more words"] for _ in range(300)]))
    assert all_text.tables == [] and "no table found" in all_text.notes[0]
    numbers = detect_layout(rows(*[[str(i), str(i * 2), str(i * 3)] for i in range(500)]))
    assert spans(numbers) == [([], 1, 500)]
    one_column = detect_layout(rows(["Amount"], *[[str(i)] for i in range(200)]))
    assert len(one_column.tables) == 1 and one_column.tables[0].last_data_row == 201
    wide = detect_layout(rows([f"h{i}" for i in range(10_000)], *[[str(i)] * 10_000 for i in range(5)]))
    assert len(wide.tables) == 1 and any("10000" not in n and "1024 columns" in n for n in wide.notes)
    header_only = detect_layout(rows(["Name", "Email", "Amount"]))
    assert header_only.tables == [] and header_only.notes
    repeated = detect_layout(rows(*[["Name", "Email", "Amount"] for _ in range(1000)]))
    assert len(repeated.tables) <= 1


def test_layout_scanner_streams_past_its_window_and_records_reasons_not_values():
    scanner = LayoutScanner("s1", window=50)
    scanner.feed(1, ["Staff list"])
    scanner.feed(2, ["Name", "Amount"])
    for r in range(3, 1003):
        scanner.feed(r, [f"person {r}", r * 1.5])
    scanner.feed(1004, ["Total", 1.0])
    scanner.feed(1006, ["Source: payroll export"])
    result = scanner.finish()
    assert len(result.tables) == 1
    table = result.tables[0]
    assert [r for r, _ in table.header_rows] == [2] and table.first_data_row == 3 and table.last_data_row == 1002
    assert table.data_row_count == 1000
    text = repr(result.row_classification)
    assert "person" not in text and "payroll" not in text and "Staff" not in text
    assert {e["label"] for e in result.row_classification} >= {"title", "header", "data"}


def test_a_spanning_parent_row_holding_a_code_stays_in_the_header():
    # "FY14" reads as a code (a value), but the row is mostly text over the header: its upper row
    layout = detect_layout(rows(
        ["Baseline request"],
        [None, "Biennial Total", None, "FY14", None, "FY 15", None],
        [None, "Gen Rev", "Other", "Gen Rev", "Other", "Gen Rev", "Other"],
        ["A.1 Coordination", "44", "0", "18", "0", "30", "4"],
        ["A.2 Loans", "0", "5", "0", "5", "0", "5"],
        ["A.3 Grants", "22", "0", "9", "0", "16", "0"],
    ))
    assert spans(layout) == [([2, 3], 4, 6)]


def test_text_only_records_inside_a_body_do_not_split_the_table():
    # records of a text-heavy table: some rows carry a value, the others only texts shaped like the body's
    body = []
    for i in range(12):
        code = f"C{chr(65 + i)}X"
        body.append([f"Country {chr(65 + i)}", code, "Tariff rate, all products", "TM.TAX.MRCH"]
                    + ([f"{i}.5", f"{i}.7"] if i % 3 != 2 else []))
    layout = detect_layout(rows(["Country Name", "Country Code", "Indicator Name", "Indicator Code", "1960",
                                 "1961"], *body))
    assert spans(layout) == [([1], 2, 13)]


def test_one_cell_lines_wrapping_a_record_stay_in_the_body():
    layout = detect_layout(rows(
        ["Start", "End", "Length", "Description", "Values"],
        ["1", "11", "11", "Name", "alpha"],
        ["12", "12", "1", "Gender", "F=Female"],
        [None, None, None, None, "M=Male"],
        [None, None, None, None, "X=Other"],
        [None, None, None, None, "U=Unknown"],
        [None, None, None, None, "N=Not stated"],
        [None, None, None, None, "blank=unknown"],
        ["13", "14", "2", "Grade", "numeric"],
        ["15", "20", "6", "filler", "blank"],
    ))
    assert spans(layout) == [([1], 2, 10)]


def test_two_leading_cells_with_a_sentence_above_a_header_are_context():
    layout = detect_layout(rows(
        ["VT", "B12. Profile of the people questioned"],
        ["BT", "Base: all respondents who answered the question on training"],
        ["COL1", None, None, "Framework", None, None],
        ["COL", None, "Total", "Health", "Retail", "Other"],
        ["UNR", "Unweighted row", "251", "45", "91", "8"],
        ["PTR", "Total", "2656", "454", "617", "43"],
        ["PRC", "Recruited", "1897", "277", "530", "40"],
    ))
    assert spans(layout) == [([3, 4], 5, 7)]


def test_stub_column_header_and_section_row_under_a_header_across_blank_lines():
    layout = detect_layout(rows(
        ["Table 7. Occupations"],
        None,
        [None, "Employment (1,000)", None, "Change", None],
        None,
        None,
        ["Occupation"],
        [None, "2006", "2016", "Number", "Percent"],
        None,
        None,
        ["FASTEST GROWING"],
        ["Network analysts", "262", "402", "140", "53.4"],
        ["Home aides", "767", "1156", "389", "50.6"],
        ["Nurses", "787", "1171", "384", "48.7"],
    ))
    assert spans(layout) == [([3, 6, 7], 10, 13)]
    assert layout.roles()[10] == "group"


def test_units_rows_belong_to_the_header():
    layout = detect_layout(rows(
        [None, "Planned", None, "Unplanned", None, "Total"],
        ["Year / Unit", "n", "(%)", "n", "(%)", "n", "(%)"],
        ["A", "162", "(25.0)", "59", "(9.1)", "647", "(100.0)"],
        ["B", "2", "(0.8)", "2", "(0.8)", "265", "(100.0)"],
        ["C", "49", "(16.6)", "26", "(8.8)", "296", "(100.0)"],
    ))
    assert spans(layout) == [([1, 2], 3, 5)]
    thousands = detect_layout(rows(
        ["Award", "Total", "Mothers", "Fathers"],
        ["unit indicator", "(1,000)", "(1,000)", "(1,000)"],
        ["Total", "13383", "11291", "2092"],
        ["With support", "7916", "7110", "807"],
        ["Received", "5119", "4639", "480"],
    ))
    assert spans(thousands) == [([1, 2], 3, 5)]
    # a row of "(NA)" is data, not units
    na = detect_layout(rows(["Item", "2001", "2002", "2003"], ["Beef", "3.2", "3.4", "3.6"],
                            ["Veal", "(NA)", "(NA)", "(NA)"], ["Pork", "2.1", "2.2", "2.4"]))
    assert spans(na) == [([1], 2, 4)]


def test_a_header_of_codes_over_sparse_number_columns_starts_a_table():
    layout = detect_layout(rows(
        ["Accounting", "SU07", "FA07", "SP08", "SU08"],
        ["ACCT-075", None, "4.4", "3.0", None],
        ["ACCT-076", "1.2", None, None, "5.7"],
        ["ACCT-077", None, None, "1.8", "2.2"],
        ["ACCT-080", "0.9", None, None, None],
        ["Drug Studies", "SU07", "FA07", "SP08", "SU08"],
        ["ADS-090", None, "0.2", "0.9", None],
        ["ADS-101", "1.3", None, None, "4.2"],
        ["ADS-102", None, "2.5", None, "1.1"],
    ))
    assert spans(layout) == [([1], 2, 5), ([6], 7, 9)]


def test_age_bands_and_period_rows_stack_into_the_header():
    layout = detect_layout(rows(
        ["Table 1A: learners by ethnicity"],
        [None, "Funded Learners", None, None, None, None, None],
        [None, "2008/09", None, None, None, None, None],
        [None, "Under 19", None, "19-24", None, "25+", None],
        ["Ethnicity", "Number", "% of Total", "Number", "% of Total", "Number", "% of Total"],
        ["Asian", "73,630", "6.9%", "56,270", "7.4%", "243,990", "8.1%"],
        ["Black", "50,580", "4.7%", "41,300", "5.4%", "182,490", "6.1%"],
        ["Mixed", "31,600", "3.0%", "18,720", "2.5%", "43,310", "1.4%"],
    ))
    assert spans(layout) == [([2, 3, 4, 5], 6, 8)]
    dated = detect_layout(rows(
        ["26. Trade payables"],
        [None, None, "31 March 2011", None, "31 March 2010", None],
        [None, "Note", "Core", "Consolidated", "Core", "Consolidated"],
        ["Taxation", None, "36", "36", "63", "63"],
        ["Trade payables", None, "51,569", "71,961", "14,052", "186,941"],
    ))
    assert spans(dated) == [([2, 3], 4, 5)]


def test_text_rows_over_a_section_row_and_values_are_a_stacked_header_not_a_text_table():
    layout = detect_layout(rows(
        ["Table 4: expected progress"],
        [None, "State-funded schools", None, "Mainstream schools", None],
        [None, "Reading", None, "Writing", None],
        [None, "Number eligible", "Percentage", "Number eligible", "Percentage"],
        ["All pupils"],
        ["2009", "..", "..", "547,895", "80"],
        ["2010", "..", "..", "395,306", "82"],
        ["2011", "..", "..", "529,602", "83"],
    ))
    assert spans(layout) == [([2, 3, 4], 5, 8)]


def test_a_row_of_month_dates_over_figures_is_a_header():
    layout = detect_layout(rows(
        ["Table 2: deaths"],
        [None, "Dec 07", "Dec 08", "Dec 09", "Dec 10"],
        ["Self-inflicted", "91", "61", "61", "58"],
        ["Natural causes", "89", "99", "104", "126"],
        ["Other", "5", "6", "4", "14"],
    ))
    assert spans(layout) == [([2], 3, 5)]


def test_a_numbered_caption_beside_its_title_is_not_a_header_row():
    layout = detect_layout(rows(
        ["Table 4.1", "Conversion factors"],
        ["Sector", "Source", "Fuel", "Year", "kgCO2e per kWh", None, None],
        [None, None, None, None, "CO2", "CH4", "GHG"],
        ["Domestic", "Electricity", "Generation", "2017", "0.28088", "0.00660", "0.2831"],
        [None, None, "T&D losses", "2017", "0.02394", "0.00006", "0.0241"],
        [None, "Gas", "Natural gas", "2017", "0.18362", "0.00024", "0.1840"],
    ))
    assert spans(layout) == [([2, 3], 4, 6)]


def test_a_stub_label_over_section_rows_and_a_header_over_a_section_row():
    layout = detect_layout(rows(
        ["Table 2.2 - Cautions by ethnicity"],
        [None, None, "White", None, "Black", None, "Asian"],
        ["Offence"],
        ["Higher tier offences"],
        ["Wasting police time", None, "1,679", None, "41", None, "130"],
        ["Misuse of public telecoms", None, "528", None, "3", None, "15"],
        ["False alarm", None, "25", None, "2", None, "4"],
    ))
    assert spans(layout) == [([2, 3], 4, 7)]
    quarters = detect_layout(rows(
        ["Table 13"],
        [None, None, "2011", "2012", "2013", None, "2015", "2016"],
        [None, None, None, None, None, None, "Q4", "Q1"],
        ["Periodical payments"],
        [None, "Uncontested", "8,611", "8,595", "7,752", None, "1,631", "1,595"],
        [None, "Contested", "801", "872", "828", None, "205", "178"],
        [None, "Other", "101", "72", "28", None, "25", "17"],
    ))
    assert spans(quarters) == [([2, 3], 4, 7)]


def test_a_bracketed_units_line_under_the_header_and_a_section_row_after_many_blank_lines():
    layout = detect_layout(rows(
        ["Source", "1989", "1990", "1991"],
        None,
        None,
        [None, "(Million kilowatts)"],
        ["Net capacity", "721.8", "734.1", "739.9"],
        ["Coal", "303.1", "307.4", "307.4"],
        ["Petroleum", "79.1", "77.9", "74.2"],
    ))
    assert spans(layout) == [([1, 4], 5, 7)]
    far = detect_layout(rows(
        ["Type of fuel", "Unit", "1980", "1981"],
        None, None, None, None,
        ["CONSUMPTION"],
        ["Total", "Quads", "9.32", "9.29"],
        ["Per household", "Millions", "114.0", "112.0"],
    ))
    assert spans(far) == [([1], 6, 8)]


def test_numbers_that_start_like_years_do_not_split_a_column_of_figures():
    layout = detect_layout(rows(
        ["Chrom", "Start", "End"],
        ["10p", "1798577", "1798742"],
        ["10p", "1801033", "1801170"],
        ["12q", "198114", "198237"],
        ["12q", "469798", "469950"],
        ["12q", "504781", "505011"],
    ))
    assert spans(layout) == [([1], 2, 6)]


def test_a_source_or_navigation_line_of_two_cells_above_a_header_is_not_part_of_it():
    layout = detect_layout(rows(
        ["Chart title", "Households placed in temporary accommodation"],
        ["Source", "DCLG, P1E returns"],
        ["Year", "Quarter", "Bed and breakfast", "Hostels", "Total"],
        ["2002", "Q1", "1,200", "3,400", "4,600"],
        ["2002", "Q2", "1,300", "3,300", "4,600"],
        ["2002", "Q3", "1,100", "3,500", "4,600"],
    ))
    assert spans(layout) == [([3], 4, 6)]


def test_a_stub_label_on_top_of_a_header_that_leaves_the_first_column_empty():
    layout = detect_layout(rows(
        ["Table 727. Prices of commodities"],
        None,
        ["See notes"],
        None,
        ["Commodity"],
        [None, "1995", "2000", "2002", "2003"],
        None,
        ["All commodities", "101.4", "100.2", "94.1", "96.2"],
        ["Food", "102.0", "99.8", "93.5", "95.0"],
        ["Fuel", "98.1", "104.3", "99.0", "97.7"],
    ))
    assert spans(layout) == [([5, 6], 8, 10)]
    # the first line of a sheet is its title, even when short
    top = detect_layout(rows(
        ["Cheshire County"],
        [None, "Democratic", "Republican", "Total"],
        ["Alstead", "486", "334", "1427"],
        ["Chesterfield", "871", "795", "3007"],
    ))
    assert spans(top) == [([2], 3, 4)]


def test_a_text_table_with_a_code_in_one_record_stays_one_table():
    layout = detect_layout(rows(
        ["Country Name", "Country Code", "Region"],
        ["Aruba", "ABW", "Caribbean"],
        ["Angola", "AGO", "Africa"],
        ["Armenia", "AM1", "Asia"],
        ["Albania", "ALB", "Europe"],
        ["Andorra", "AND", "Europe"],
    ))
    assert spans(layout) == [([1], 2, 6)]


def test_the_sheets_first_line_of_one_text_cell_is_a_title_even_right_of_the_first_column():
    layout = detect_layout(rows(
        [None, "Student-teacher ratios"],
        [None, "Local education agency", "Median ratio", "Median adult ratio"],
        ["1", "Alpine", "22.5", "21.2"],
        ["2", "Bayside", "18.0", "17.1"],
        ["3", "Cedar", "19.4", "18.8"],
    ))
    assert spans(layout) == [([2], 3, 5)]
    assert layout.roles()[1] == "title"


def test_a_stub_label_under_the_header_set_apart_from_the_rows_by_a_blank_line():
    layout = detect_layout(rows(
        ["See notes"],
        None,
        [None, "Number of farms", "Acreage (1,000)"],
        ["Size and usage"],
        None,
        ["Total acres used", "20437", "2577.4"],
        ["1 to 9 acres", "9251", "29.2"],
        ["10 to 49 acres", "4994", "115.2"],
    ))
    assert spans(layout) == [([3, 4], 6, 8)]


def test_two_rows_of_period_labels_over_figures_are_both_header_rows():
    layout = detect_layout(rows(
        ["Table 5.9: recalls"],
        ["Recalled in period", "30-Sep-16", "31-Dec-16", "31-Mar-17", "30-Jun-17"],
        ["Not returned by", "31-Dec-16", "31-Mar-17", "30-Jun-17", "30-Sep-17"],
        ["All offences", "1,504", "1,516", "1,538", "1,584"],
        ["Violence", "217", "218", "230", "246"],
        ["Murder", "18", "19", "21", "23"],
    ))
    assert spans(layout) == [([2, 3], 4, 6)]


def test_revision_marks_under_a_header_belong_to_it():
    layout = detect_layout(rows(
        ["Table 2: deaths in custody"],
        [None, "12 months ending"],
        [None, "Dec 13", "Dec 14", "Dec 15", "Dec 16"],
        [None, None, None, "(r)", "(p)"],
        ["MALES AND FEMALES"],
        ["Total", "215", "243", "257", "354"],
        ["Self-inflicted", "76", "89", "90", "119"],
    ))
    assert spans(layout) == [([2, 3, 4], 5, 7)]


def test_fiscal_year_labels_read_as_years_in_a_stacked_header():
    layout = detect_layout(rows(
        ["Dollars in millions"],
        None,
        ["CROP YEAR 2003", "FY03", None, "FY03", None, "FY03"],
        [None, "12 months", None, "4th Qtr", None, "3rd Qtr"],
        None,
        ["Net sales", "4936.0", None, "1307.0", None, "1470.0"],
        ["Cost of sales", "4012.5", None, "1100.2", None, "1201.9"],
        ["Gross margin", "923.5", None, "206.8", None, "268.1"],
    ))
    assert spans(layout) == [([3, 4], 6, 8)]


def test_figures_in_the_year_range_inside_a_body_stay_data():
    layout = detect_layout(rows(
        ["Country", "2005", "2006", "2007"],
        ["Brazil", "100.0", "190.0", "180.0"],
        ["India", "120.0", "220.0", "160.0"],
        ["Mexico", "130.0", "210.0", "150.0"],
        ["Other countries", "2000.0", "2100.0", "2000.0"],
        None,
        ["Source: a statistics office."],
    ))
    assert spans(layout) == [([1], 2, 5)]


def test_figures_that_happen_to_count_up_are_not_column_numbers():
    layout = detect_layout(rows(
        ["Benefit", "2005", "2006", "2007"],
        ["CAREGIVING LEAVE"],
        ["Return to work gradually", "57.0", "56.0", "54.0"],
        None,
        ["TIME OFF"],
        ["Personal time off", "45.0", "46.0", "47.0"],
        ["Compensatory time", "18.0", "21.0", "9.0"],
    ))
    assert spans(layout) == [([1], 2, 7)]
    numbered = detect_layout(rows(["Item", "1", "2", "3"], ["Wheat", "10", "12", "9"], ["Rice", "7", "8", "6"]))
    assert spans(numbered) == [([1], 2, 3)]
