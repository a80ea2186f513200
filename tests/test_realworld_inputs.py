"""The sample packages on spreadsheets shaped like real exports (tests/realworld_inputs.py): the tables a
user would see, which column became which field, how many rows were written, and no made-up
`required_field_unmapped` errors. Each input is generated into tmp_path and run through the real pipeline."""

from __future__ import annotations

import json
import threading
from datetime import date
from pathlib import Path

import openpyxl
import pytest

import realworld_inputs as inputs
from ade_engine.runtime.pipeline import run_pipeline
from pkgfactory import make_request

SAMPLES = Path(__file__).resolve().parents[1] / "sample_configs"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """run(builder name, package) -> Result; each input is built and run once per module."""
    done: dict[tuple[str, str], Result] = {}

    def get(name: str, package: str) -> Result:
        if (name, package) not in done:
            folder = tmp_path_factory.mktemp(name)
            source = inputs.BUILDERS[name](folder)
            job_dir = folder / "job"
            run_pipeline(make_request(job_dir, source, SAMPLES / package), {}, job_dir, threading.Event())
            done[(name, package)] = Result(job_dir, package)
        return done[(name, package)]

    return get


class Result:
    def __init__(self, job_dir: Path, package: str):
        self.artifact = json.loads((job_dir / "artifact.json").read_text(encoding="utf-8"))
        assert self.artifact["job"]["status"] == "succeeded", self.artifact["error"]
        sheet = json.loads((SAMPLES / package / "manifest.json").read_text())["engine"]["writer"]["output_sheet"]
        wb = openpyxl.load_workbook(job_dir / "normalized.xlsx", read_only=True)
        self.rows = [list(r) for r in wb[sheet].iter_rows(values_only=True)]
        wb.close()

    def tables(self, sheet: int = 1) -> list[dict]:
        return self.artifact["sheets"][sheet - 1]["tables"]

    def all_tables(self) -> list[dict]:
        return [t for s in self.artifact["sheets"] for t in s["tables"]]

    def mapping(self, table: dict) -> dict[str, str | None]:
        """{source column letter: target field or None}."""
        letter = {c["column_id"]: c["source_column"] for c in table["columns"]}
        return {letter[m["raw"]["column"]]: m["target_field"] for m in table["mapping"]}

    def engine_issues(self) -> list[tuple[str, str]]:
        return [(i["code"], i["target_field"]) for t in self.all_tables() for i in t["validation"]["issues"]
                if i.get("rule") == "engine"]

    def column(self, header: str) -> list:
        at = self.rows[0].index(header)
        return [r[at] for r in self.rows[1:]]

    def roles(self, sheet: int = 1) -> dict[int, str]:
        return {r["row_index"]: r["role"] for r in self.artifact["sheets"][sheet - 1]["row_classification"]}


ROSTER_FIELDS = ["member_id", "first_name", "last_name", "email", "phone", "hire_date", "status"]


def test_label_value_lines_and_footer_stay_out_of_the_table(run):
    """F2 / F7: "Report generated:" | datetime and "Run by:" | name are preamble, not a one-row table under
    the title; the "Prepared by:" footer is not a header-only table."""
    result = run("labelled_preamble", "member_roster")
    [table] = result.tables()
    assert (table["range"], table["header"]["row_indexes"], table["data_row_count"]) == ("B5:H17", [5], 12)
    assert result.mapping(table) == dict(zip("BCDEFGH", ["member_id", "last_name", "first_name", "email",
                                                         "phone", "hire_date", "status"]))
    roles = result.roles()
    assert (roles[2], roles[3], roles[19]) == ("preamble", "preamble", "trailing")
    assert result.engine_issues() == []
    assert len(result.rows) == 1 + 12 and result.rows[0] == [
        "Member ID", "First Name", "Last Name", "Email", "Phone", "Hire Date", "Status"]


def test_text_only_records_do_not_split_a_table_and_page_break_headers_still_merge(run):
    """F1: contacts without e-mail or phone are records of the open table; the repeated header (row 12) is
    still recognised as a repeat. F6: State (OR/WA/ID) is not a status. F10: Business Phone is the phone."""
    result = run("contacts_with_gaps", "member_roster")
    [table] = result.tables()
    assert (table["range"], table["header"]["row_indexes"], table["data_row_count"]) == ("A1:I18", [1], 16)
    assert result.roles()[12] == "repeated_header"
    assert result.mapping(table) == {"A": "first_name", "B": "last_name", "C": None, "D": None, "E": "email",
                                     "F": "phone", "G": None, "H": None, "I": None}
    assert result.engine_issues() == [("required_field_unmapped", "member_id")]  # the file has no ids
    assert result.column("First Name") == [inputs.member(n)["first"] for n in range(16)]
    assert "raw_Tomas" not in result.rows[0]


def test_header_labels_with_digits_keep_the_header_a_header(run):
    """F3: "Address 1" / "Phone 2" do not turn row 1 into data. F6: "Emp No" with plain numbers is the id."""
    result = run("numbered_headers", "member_roster")
    [table] = result.tables()
    assert (table["header"]["kind"], table["range"], table["data_row_count"]) == ("raw", "A1:K11", 10)
    assert result.mapping(table) == {"A": "member_id", "B": "last_name", "C": "first_name", "D": None, "E": None,
                                     "F": None, "G": "phone", "H": None, "I": "email", "J": "hire_date",
                                     "K": "status"}
    assert result.engine_issues() == []
    assert result.column("Member ID") == [str(inputs.member(n)["number"]) for n in range(10)]


def test_database_headers_map_by_name(run):
    """F4: camelCase, snake_case, upper case, "no" and "dt" abbreviations all map by header."""
    result = run("database_export", "member_roster")
    [table] = result.tables()
    assert result.mapping(table) == dict(zip("ABCDEFG", ROSTER_FIELDS))
    by_field = {m["target_field"]: m for m in table["mapping"]}
    for field in ROSTER_FIELDS:  # the header detector itself, not the value shape, carried each column
        assert any(c["rule"].startswith(f"columns.{field}:detect_header") for c in by_field[field]["contributors"])
    assert result.engine_issues() == []
    assert result.column("Status")[:3] == ["Active", "Active", "On Leave"]


def test_excel_subtotal_rows_are_not_employees(run):
    """F5: "<Team> Total" in column C and a trailing "Subtotal" are total rows; F2: "Pay Date:" | date is
    preamble; F3: the 401(k) column does not unsettle the header."""
    result = run("payroll_register", "payroll_remittance")
    [table] = result.tables()
    assert (table["range"], table["header"]["row_indexes"], table["data_row_count"]) == ("A4:I15", [4], 9)
    assert {"A": "employee_id", "B": "employee_name", "D": "period_start", "E": "period_end", "F": "gross_pay",
            "H": "deductions", "I": "net_pay"}.items() <= result.mapping(table).items()
    roles = result.roles()
    assert roles[2] == "preamble"
    assert [roles[r] for r in (8, 12, 16, 17)] == ["excluded", "excluded", "trailing", "trailing"]
    assert result.engine_issues() == []
    assert len(result.rows) == 1 + 9 and None not in result.column("Employee ID")


def test_help_and_lookup_sheets_add_no_tables(run):
    """F7: a data dictionary ("Field" | "Meaning") and a hidden sheet of drop-down lists yield no header
    rows, so no header-only tables, no raw_ columns and no required_field_unmapped errors."""
    result = run("with_help_and_lists", "member_roster")
    [table] = result.tables(1)
    assert (table["range"], table["data_row_count"]) == ("A1:F9", 8)
    assert result.tables(2) == [] and result.tables(3) == []
    assert result.engine_issues() == []
    assert not [h for h in result.rows[0] if h and h.startswith("raw_")]
    assert "header" not in set(result.roles(2).values()) | set(result.roles(3).values())


def test_numbers_codes_flags_phones_and_short_year_dates(run):
    """F6: Employee Number (plain numbers) is the id; the repeating Job Code is not; a Yes/No flag is not a
    status. F10: Work Phone wins over Home Phone. F9: "3-Apr-21" hire dates are dates."""
    result = run("hris_numbers_and_flags", "member_roster")
    [table] = result.tables()
    assert result.mapping(table) == {"A": "member_id", "B": "first_name", "C": "last_name", "D": None, "E": None,
                                     "F": "phone", "G": "email", "H": "hire_date", "I": None}
    assert result.engine_issues() == []
    assert [d.date() for d in result.column("Hire Date")] == [inputs.member(n)["hired"] for n in range(12)]
    assert result.column("Phone")[0] == "(541) 555-3100"
    issues = [i for t in result.all_tables() for i in t["validation"]["issues"] if i["target_field"] == "hire_date"]
    assert issues == []


@pytest.mark.parametrize("builder", ["paged_report", "titled_report"])
def test_a_printed_report_is_one_table_across_its_pages(run, builder):
    """Round 2, F1: the title / "Page N of 4" line repeated above every page's header is not part of the
    header, so the repeated headers merge into one table instead of one table per page."""
    result = run(builder, "member_roster")
    [table] = result.tables()
    assert (table["range"], table["header"]["row_indexes"], table["data_row_count"]) == ("A2:G111", [2], 100)
    assert result.mapping(table) == dict(zip("ABCDEFG", ROSTER_FIELDS))
    roles = result.roles()
    assert [roles[r] for r in (1, 29, 30, 57, 58, 85, 86)] == [
        "preamble", "excluded", "repeated_header", "excluded", "repeated_header", "excluded", "repeated_header"]
    assert result.engine_issues() == []
    assert result.column("Member ID") == [inputs.member(n)["id"] for n in range(100)]


def test_an_address_line_under_each_member_is_not_a_member(run):
    """Round 2, F3: the street / "City, ST zip" line in B:C under each record is left out; 12 members."""
    result = run("address_lines", "member_roster")
    [table] = result.tables()
    assert (table["range"], table["data_row_count"]) == ("A1:F24", 12)
    assert result.mapping(table) == dict(zip("ABCDEF", ["member_id", "last_name", "first_name", "phone", "email",
                                                        "hire_date"]))
    assert result.column("Last Name") == [inputs.member(n)["last"] for n in range(12)]
    assert result.engine_issues() == []
    assert not [i for t in result.all_tables() for i in t["validation"]["issues"] if i["target_field"] == "member_id"]


def test_a_code_legend_above_the_header_is_not_part_of_it(run):
    """Round 2, F4: "Status codes:" | "A = Active" | … right above the header stays out of the header block."""
    result = run("legend_above_header", "member_roster")
    [table] = result.tables()
    assert (table["range"], table["header"]["row_indexes"], table["data_row_count"]) == ("A10:H20", [10], 10)
    assert result.mapping(table) == dict(zip("ABCDEFGH", [*ROSTER_FIELDS, None]))
    assert result.roles()[9] == "preamble"
    assert not [h for h in result.rows[0] if h and "Active" in h]


def test_audit_columns_do_not_become_names(run):
    """Round 2, F2: "last_login_at" holds the synonym "last" but dates, so Last Name stays unmapped."""
    result = run("saas_users", "member_roster")
    [table] = result.tables()
    assert result.mapping(table) == {"A": "member_id", "B": None, "C": "email", "D": "phone", "E": "hire_date",
                                     "F": "status", "G": None, "H": None}
    assert ("required_field_unmapped", "last_name") in result.engine_issues()
    assert not [v for v in result.column("Last Name") if v]


def test_one_word_synonyms_still_map_when_the_values_agree(run):
    """Round 2, F2: "Name First" / "Name Last" (names) and "joined_at" (dates) still map."""
    result = run("name_parts_flattened", "member_roster")
    [table] = result.tables()
    assert result.mapping(table) == dict(zip("ABCDEF", ["member_id", "first_name", "last_name", "email",
                                                        "hire_date", "status"]))
    assert result.column("Last Name") == [inputs.member(n)["last"] for n in range(10)]


def test_payroll_one_word_synonyms_need_agreeing_values(run):
    """Round 2, F2 in payroll: "Paid To" (bank names) is not the period end; "Date From" (dates) is the
    period start and "Gross Wages" (amounts) the gross pay."""
    result = run("payroll_paid_to", "payroll_remittance")
    [table] = result.tables()
    assert result.mapping(table) == {"A": "employee_id", "B": "employee_name", "C": "period_start",
                                     "D": "gross_pay", "E": "deductions", "F": "net_pay", "G": None}
    assert result.engine_issues() == [("required_field_unmapped", "period_end")]


@pytest.mark.parametrize("package", ["member_roster", "payroll_remittance"])
def test_two_digit_years_parse_in_both_packages(package, monkeypatch):
    """F9 at the parser: d-Mon-yy, Mon-d-yy, dd.mm.yy (00-69 is 20xx, 70-99 is 19xx)."""
    monkeypatch.syspath_prepend(str(SAMPLES / package))
    import importlib
    import sys

    for name in [m for m in sys.modules if m.split(".")[0] == "columns"]:
        monkeypatch.delitem(sys.modules, name)
    dates = importlib.import_module("columns._dates")
    assert dates.parse_date("3-Apr-21") == date(2021, 4, 3)
    assert dates.parse_date("03 Apr 99") == date(1999, 4, 3)
    assert dates.parse_date("Apr 3, 21") == date(2021, 4, 3)
    assert dates.parse_date("03.04.21") == date(2021, 4, 3)
    assert dates.parse_date("15-Mar-2021") == date(2021, 3, 15)
    for name in [m for m in sys.modules if m.split(".")[0] == "columns"]:
        monkeypatch.delitem(sys.modules, name)


def test_shared_helpers_are_identical_in_both_packages():
    """A package ships alone, so the helpers are copies; they must not drift apart."""
    for rel in ("row_types/_cells.py", "row_types/header.py", "row_types/data.py", "row_types/total.py",
                "columns/_dates.py", "columns/_headers.py"):
        assert (SAMPLES / "member_roster" / rel).read_bytes() == (SAMPLES / "payroll_remittance" / rel).read_bytes(), rel
