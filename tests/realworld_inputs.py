"""Spreadsheets shaped like the ones people export from HR, payroll and contact systems, for
tests/test_realworld_inputs.py.

Each builder writes one file into a folder and returns its path. The output is deterministic (fixed
names, fixed dates, fixed workbook timestamps). Every person, id and address is made up. The shapes are
the ones that broke the sample packages on real files:
- "Label:" | value lines above and below the table;
- records that hold only text (a contact with no e-mail or phone) in the middle of a table;
- header labels that contain digits ("Address 1", "401(k)");
- snake_case and camelCase database headers, and abbreviations such as "Dt" or "#";
- Excel Data > Subtotal rows, where "<group> Total" sits in the grouped column;
- instruction and lookup sheets next to the real table;
- d-Mon-yy date text;
- several phone columns, numeric employee numbers, job codes and yes/no flags;
- printed reports that repeat a title / page line and the header on every page;
- a second line per record (the address under the member), and a code legend right above the header;
- audit columns whose names hold a one-word synonym ("last_login_at", "Paid To").
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from pathlib import Path

import openpyxl

STAMP = datetime(2025, 2, 14, 9, 30)
GIVEN = ["Ines", "Tomas", "Aylin", "Rafael", "Mirela", "Jonas", "Keiko", "Omar", "Sunita", "Pavel",
         "Greta", "Idris", "Lena", "Marco", "Nkechi", "Oren", "Paula", "Ravi", "Selma", "Teodor"]
FAMILY = ["Varga", "Olsen", "Demir", "Quispe", "Horvat", "Berg", "Tanaka", "Saleh", "Iyer", "Novak",
          "Lund", "Bello", "Kraus", "Ricci", "Eze", "Levi", "Moreau", "Pillai", "Yilmaz", "Popescu"]
TEAMS = ["Warehouse", "Accounts", "Outreach", "Facilities"]
PLACES = [("Salem", "OR"), ("Yakima", "WA"), ("Nampa", "ID"), ("Bend", "OR")]
STATUSES = ["Active", "Active", "On Leave", "Active", "Inactive"]


def member(n: int) -> dict:
    """The n-th made-up member (0-based); every field is a pure function of n."""
    first, last = GIVEN[n % len(GIVEN)], FAMILY[(n * 3) % len(FAMILY)]
    city, state = PLACES[n % len(PLACES)]
    return {"id": f"M-{20001 + n}", "number": 7300 + n, "first": first, "last": last,
            "email": f"{first.lower()}.{last.lower()}@coop.example", "phone": f"(541) 555-{3100 + n:04d}",
            "mobile": f"541.555.{4200 + n:04d}", "hired": date(2014, 2, 3) + timedelta(days=97 * n),
            "status": STATUSES[n % len(STATUSES)], "team": TEAMS[n % len(TEAMS)], "city": city, "state": state}


def _workbook() -> openpyxl.Workbook:
    wb = openpyxl.Workbook()
    wb.properties.created = wb.properties.modified = STAMP
    return wb


def _put(ws, row: int, col: int, values) -> None:
    for offset, value in enumerate(values):
        if value is not None:
            ws.cell(row, col + offset, value)


def _csv(path: Path, rows, *, bom: bool = False) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerows([["" if v is None else v for v in r] for r in rows])
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buf.getvalue().encode("utf-8"))
    return path


def labelled_preamble(folder: Path) -> Path:
    """Roster at B5:H17 under a merged title and two "Label:" | value lines; "Prepared by:" footer."""
    wb = _workbook()
    ws = wb.active
    ws.title = "Members"
    ws["A1"] = "Valley Growers Co-op - Member List"
    ws.merge_cells("A1:H1")
    _put(ws, 2, 1, ["Report generated:", STAMP])
    _put(ws, 3, 1, ["Run by:", "hr-scheduler"])
    _put(ws, 5, 2, ["Member #", "Family Name", "Given Name", "E-mail", "Telephone", "Date Joined", "Member Status"])
    for n in range(12):
        m = member(n)
        _put(ws, 6 + n, 2, [m["id"], m["last"], m["first"], m["email"], m["phone"], m["hired"], m["status"]])
    _put(ws, 19, 2, ["Prepared by:", "People Team"])
    path = folder / "labelled_preamble.xlsx"
    wb.save(path)
    return path


CONTACT_HEADER = ["First Name", "Last Name", "Organisation", "Job Title", "E-mail Address", "Business Phone",
                  "Mobile Phone", "City", "State"]


def contacts_with_gaps(folder: Path) -> Path:
    """Contact export: every third contact has no e-mail and no phone (text only); the header repeats once
    at a page break (row 12). 16 contacts in A1:I18."""
    rows = [CONTACT_HEADER]
    for n in range(16):
        m = member(n)
        title = ["Clerk", "Buyer", "Driver"][n % 3]
        if n % 3 == 1:  # no e-mail, no phones: every filled cell is text
            rows.append([m["first"], m["last"], "Valley Growers", title, None, None, None, m["city"], m["state"]])
        else:
            rows.append([m["first"], m["last"], "Valley Growers", title, m["email"], m["phone"],
                         m["mobile"] if n % 2 else None, m["city"], m["state"]])
        if n == 9:
            rows.append(CONTACT_HEADER)
    return _csv(folder / "contacts_with_gaps.csv", rows, bom=True)


def numbered_headers(folder: Path) -> Path:
    """Roster whose header holds "Address 1", "Address 2", "Phone 1", "Phone 2"; ids are plain numbers."""
    wb = _workbook()
    ws = wb.active
    ws.title = "Staff"
    ws.append(["Emp No", "Surname", "Forename", "Address 1", "Address 2", "City", "Phone 1", "Phone 2", "Email",
               "Start Date", "Status"])
    for n in range(10):
        m = member(n)
        ws.append([m["number"], m["last"], m["first"], f"{40 + n} Orchard Rd", "Unit 4" if n % 2 else None,
                   m["city"], m["phone"], m["mobile"] if n % 3 else None, m["email"], m["hired"], m["status"]])
    path = folder / "numbered_headers.xlsx"
    wb.save(path)
    return path


def database_export(folder: Path) -> Path:
    """CSV straight out of a database: camelCase, snake_case, SHOUTING and "Dt" abbreviations."""
    rows = [["EmployeeID", "firstName", "last_name", "EMAIL_ADDRESS", "phone-no", "hire_dt", "empStatus"]]
    for n in range(10):
        m = member(n)
        rows.append([m["id"], m["first"], m["last"], m["email"], m["phone"], m["hired"].isoformat(),
                     m["status"].upper()])
    return _csv(folder / "database_export.csv", rows)


def payroll_register(folder: Path) -> Path:
    """Payroll register with a "Pay Date:" line, a 401(k) column and Excel subtotal rows ("<Team> Total" in
    the Team column C, sums further right) plus a trailing "Subtotal" row. Header row 4, 9 employees."""
    wb = _workbook()
    ws = wb.active
    ws.title = "Register"
    ws["A1"] = "Payroll Register - Valley Growers"
    _put(ws, 2, 1, ["Pay Date:", date(2025, 2, 7)])
    _put(ws, 4, 1, ["Emp #", "Employee Name", "Team", "Period Start", "Period End", "Gross Pay", "401(k)",
                    "Total Deductions", "Net Pay"])
    row, n = 5, 0
    for team in TEAMS[:3]:
        sums = [0.0, 0.0, 0.0]
        for _ in range(3):
            m = member(n)
            gross = 2400.0 + 75 * n
            ded = round(gross * 0.22, 2)
            sums = [sums[0] + gross, sums[1] + ded, sums[2] + gross - ded]
            _put(ws, row, 1, [f"E-{5100 + n}", f"{m['first']} {m['last']}", team, date(2025, 1, 16),
                              date(2025, 1, 31), gross, round(gross * 0.05, 2), ded, round(gross - ded, 2)])
            row, n = row + 1, n + 1
        _put(ws, row, 3, [f"{team} Total"])
        _put(ws, row, 6, [sums[0], None, sums[1], sums[2]])
        row += 1
    _put(ws, row, 2, ["Subtotal"])
    path = folder / "payroll_register.xlsx"
    wb.save(path)
    return path


def with_help_and_lists(folder: Path) -> Path:
    """A roster sheet, a "Help" data-dictionary sheet and a hidden "Lists" sheet of drop-down values."""
    wb = _workbook()
    ws = wb.active
    ws.title = "Members"
    ws.append(["Member ID", "First Name", "Last Name", "Email", "Hire Date", "Status"])
    for n in range(8):
        m = member(n)
        ws.append([m["id"], m["first"], m["last"], m["email"], m["hired"], m["status"]])
    help_ = wb.create_sheet("Help")
    help_.append(["Filling in the member sheet"])
    help_.append([])
    help_.append(["Field", "Meaning"])
    help_.append(["Member ID", "The member's number, written like M-20001"])
    help_.append(["Email", "Address the co-op writes to"])
    help_.append(["Status", "Active, Inactive or On Leave"])
    lists = wb.create_sheet("Lists")
    lists.sheet_state = "hidden"
    lists.append(["Status", "Team", "City"])
    for status, team, (city, _) in zip(["Active", "Inactive", "On Leave", None], TEAMS, PLACES):
        lists.append([status, team, city])
    path = folder / "with_help_and_lists.xlsx"
    wb.save(path)
    return path


def hris_numbers_and_flags(folder: Path) -> Path:
    """Employee Number (plain numbers), a repeating Job Code, Home/Work phones, a Yes/No flag, and hire dates
    written as d-Mon-yy text (Excel's default date format once a sheet is saved as text)."""
    wb = _workbook()
    ws = wb.active
    ws.title = "Export"
    ws.append(["Employee Number", "First Name", "Last Name", "Job Code", "Home Phone", "Work Phone", "Email",
               "Hire Date", "Union Member"])
    for n in range(12):
        m = member(n)
        hired = m["hired"]
        ws.append([m["number"], m["first"], m["last"], f"JC{200 + n % 3}", m["mobile"], m["phone"], m["email"],
                   f"{hired.day}-{hired.strftime('%b')}-{hired.strftime('%y')}", ["Yes", "No"][n % 2]])
    path = folder / "hris_numbers_and_flags.xlsx"
    wb.save(path)
    return path


ROSTER_HEADER = ["Member ID", "First Name", "Last Name", "Email", "Phone", "Hire Date", "Status"]


def _roster_row(n: int) -> list:
    m = member(n)
    return [m["id"], m["first"], m["last"], m["email"], m["phone"], m["hired"], m["status"]]


def _paged(folder: Path, name: str, title_line) -> Path:
    """A printed report: 4 pages of 25 members, each page opening with `title_line(page)` above the header and
    closing with a blank line. 100 members, header rows 2, 30, 58, 86."""
    wb = _workbook()
    ws = wb.active
    ws.title = "Report"
    row = 1
    for page in range(4):
        _put(ws, row, 1, title_line(page + 1))
        _put(ws, row + 1, 1, ROSTER_HEADER)
        row += 2
        for n in range(25 * page, 25 * page + 25):
            _put(ws, row, 1, _roster_row(n))
            row += 1
        row += 1
    path = folder / f"{name}.xlsx"
    wb.save(path)
    return path


def paged_report(folder: Path) -> Path:
    """Report title in A and "Page N of 4" in G above every page's header."""
    return _paged(folder, "paged_report",
                  lambda page: ["Valley Growers Co-op - Member Roster", *[None] * 5, f"Page {page} of 4"])


def titled_report(folder: Path) -> Path:
    """Report title in A and "Confidential" in G above every page's header (two text cells with a gap)."""
    return _paged(folder, "titled_report",
                  lambda page: ["Valley Growers Co-op - Member Roster", *[None] * 5, "Confidential"])


def address_lines(folder: Path) -> Path:
    """Each member takes two lines: the record, then the street and "City, ST zip" in B:C. 12 members."""
    wb = _workbook()
    ws = wb.active
    ws.title = "Members"
    _put(ws, 1, 1, ["Member #", "Last Name", "First Name", "Phone", "Email", "Date Joined"])
    for n in range(12):
        m = member(n)
        _put(ws, 2 + 2 * n, 1, [m["id"], m["last"], m["first"], m["phone"], m["email"], m["hired"]])
        _put(ws, 3 + 2 * n, 2, [f"{100 + n} Oak St", f"{m['city']}, {m['state']} {97401 + n}"])
    path = folder / "address_lines.xlsx"
    wb.save(path)
    return path


def legend_above_header(folder: Path) -> Path:
    """Upload template: title, instructions, then a "Status codes:" legend in E9:H9 right above the header
    (row 10); 10 members with one-letter status codes."""
    wb = _workbook()
    ws = wb.active
    ws.title = "Upload"
    ws["A1"] = "VALLEY GROWERS CO-OP"
    ws["A3"] = "Fill in one row per member, starting on row 11. Do not rename the header row."
    _put(ws, 9, 5, ["Status codes:", "A = Active", "I = Inactive", "L = On Leave"])
    _put(ws, 10, 1, ["Member ID*", "First Name*", "Last Name*", "Email*", "Phone", "Hire Date", "Status",
                     "Branch"])
    for n in range(10):
        _put(ws, 11 + n, 1, _roster_row(n)[:6] + [member(n)["status"][0], "Salem"])
    path = folder / "legend_above_header.xlsx"
    wb.save(path)
    return path


def saas_users(folder: Path) -> Path:
    """SaaS user export with one full-name column and audit columns: last_login_at (ISO datetimes) and
    last_modified_by (account names). No first or last name column."""
    rows = [["id", "name", "email", "phone", "joined_at", "status", "last_login_at", "last_modified_by"]]
    for n in range(10):
        m = member(n)
        rows.append([m["id"], f"{m['first']} {m['last']}", m["email"], m["phone"], f"{m['hired']}T08:00:00Z",
                     m["status"].lower(), f"2025-02-{1 + n:02d}T08:{10 + n}:00Z", ["hr-sync", "admin"][n % 2]])
    return _csv(folder / "saas_users.csv", rows)


def name_parts_flattened(folder: Path) -> Path:
    """Headers as a flattened "Name" group ("Name First", "Name Last") and a snake_case "joined_at"."""
    rows = [["Member ID", "Name First", "Name Last", "Email", "joined_at", "Status"]]
    for n in range(10):
        m = member(n)
        rows.append([m["id"], m["first"], m["last"], m["email"], m["hired"].isoformat(), m["status"]])
    return _csv(folder / "name_parts_flattened.csv", rows)


def payroll_paid_to(folder: Path) -> Path:
    """Payroll export with "Date From" (no period end column), "Gross Wages" and a "Paid To" bank column."""
    rows = [["Employee ID", "Employee Name", "Date From", "Gross Wages", "Deductions", "Net Pay", "Paid To"]]
    for n in range(9):
        m = member(n)
        gross = 2400.0 + 75 * n
        rows.append([f"E-{5100 + n}", f"{m['first']} {m['last']}", "01/16/2025", f"{gross:.2f}",
                     f"{gross * 0.22:.2f}", f"{gross * 0.78:.2f}", ["Valley Credit Union", "First Harbor Bank"][n % 2]])
    return _csv(folder / "payroll_paid_to.csv", rows)


BUILDERS = {f.__name__: f for f in (labelled_preamble, contacts_with_gaps, numbered_headers, database_export,
                                    payroll_register, with_help_and_lists, hris_numbers_and_flags, paged_report,
                                    titled_report, address_lines, legend_above_header, saas_users,
                                    name_parts_flattened, payroll_paid_to)}
