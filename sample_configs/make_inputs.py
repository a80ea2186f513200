"""Generate the sample inputs in sample_configs/inputs/ — deterministic, re-runnable.

    python sample_configs/make_inputs.py [OUT_DIR]

Every file is built from the same small "truth" records that `expectations()` returns, so the end-to-end
tests (tests/test_samples_e2e.py) know what the engine must find — tables, headers, mappings, normalized
values and issues — from how the inputs were written, not from what an engine printed.
"""

from __future__ import annotations

import csv
import io
import re
import sys
import unicodedata
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path

import openpyxl

HERE = Path(__file__).resolve().parent
INPUTS = HERE / "inputs"
FIXED_TIME = datetime(2025, 3, 3, 8, 15, 0)
EXCEL_EPOCH = date(1899, 12, 30)
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]

# --------------------------------------------------------------------------- truth records

FIRSTS = ["Amara", "Bruno", "Chen", "Dalia", "Elliot", "Fatima", "Gareth", "Hana", "Ivan", "Jolene",
          "Kofi", "Lucia", "Mateo", "Nadia", "Oscar", "Priya", "Quinn", "Rosa", "Samir", "Tessa",
          "Umar", "Vera", "Wesley", "Ximena", "Yusuf", "Zara", "Aiden", "Beatriz", "Callum", "Dmitri",
          "Esme", "Farid", "Greta", "Hugo", "Ingrid", "Jonas", "Keiko", "Liam", "Maren", "Nikhil"]
LASTS = ["Okafor", "Lindqvist", "Wang", "Haddad", "Brooks", "Rahman", "Pryce", "Sato", "Petrov", "Marsh",
         "Mensah", "Ferreira", "Alvarez", "Karimi", "Nilsson", "Raman", "Doyle", "Castillo", "Aziz", "Hughes",
         "Farouk", "Novak", "Tran", "Ortega", "Demir", "Malik", "Byrne", "Costa", "Fraser", "Volkov",
         "Reid", "Nasser", "Berg", "Laurent", "Holm", "Weber", "Tanaka", "Murphy", "Kessler", "Iyer"]
DEPARTMENTS = ["Operations", "Finance", "Member Services", "IT", "Sales"]
# Accented names for the Windows-1252 CSV export (every character exists in cp1252).
CSV_PEOPLE = [("Élodie", "Marchand"), ("François", "Lefèvre"), ("Jürgen", "Müller"), ("Søren", "Ågård"),
              ("Zoë", "Brontë"), ("José", "Nuñez"), ("Ana", "Conceição"), ("Björn", "Sjöberg"),
              ("Renée", "Dubois"), ("Inés", "Ibáñez"), ("Noël", "Côté"), ("Chloé", "Gagné")]


def ascii_fold(text):
    """"Søren Ågård" -> "soren agard" for e-mail addresses."""
    text = text.replace("ø", "o").replace("Ø", "O")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def member(i, first=None, last=None):
    first = first or FIRSTS[(i - 1) % len(FIRSTS)]
    last = last or LASTS[(i - 1) % len(LASTS)]
    if i % 7 == 3:
        status = "On Leave"
    elif i % 5 == 0:
        status = "Inactive"
    else:
        status = "Active"
    digits = f"555{100 + i:03d}{(i * 7919) % 10000:04d}"
    return {
        "member_id": f"M-{10000 + i}",
        "first_name": first,
        "last_name": last,
        "email": f"{ascii_fold(first)}.{ascii_fold(last)}@northwind.example",
        "phone": f"({digits[:3]}) {digits[3:6]}-{digits[6:]}",
        "phone_digits": digits,
        "hire_date": date(1998 + i % 25, 1 + i % 12, 1 + (i * 7) % 28),
        "status": status,
        "department": DEPARTMENTS[i % 5],
        "preferred": first[:3] if i % 4 == 1 else None,
    }


def employee(i, period):
    start, end = period
    gross = 3000 + (i * 137) % 2000 + (0.5 if i % 2 else 0.25)
    deductions = round(gross * 0.22, 2)
    return {
        "employee_id": f"E-{2000 + i}",
        "employee_name": f"{FIRSTS[(i + 9) % 40]} {LASTS[(i + 17) % 40]}",
        "period_start": start,
        "period_end": end,
        "gross_pay": gross,
        "deductions": deductions,
        "net_pay": round(gross - deductions, 2),
    }


PERIOD_A = (date(2025, 3, 1), date(2025, 3, 15))
PERIOD_B = (date(2025, 3, 16), date(2025, 3, 31))
ROSTER_FIELDS = ["member_id", "first_name", "last_name", "email", "phone", "hire_date", "status"]
PAYROLL_FIELDS = ["employee_id", "employee_name", "period_start", "period_end", "gross_pay", "deductions",
                  "net_pay"]

# --------------------------------------------------------------------------- raw presentations


def serial(d):
    return (d - EXCEL_EPOCH).days


def messy_id(i, value):
    num = value.split("-")[1]
    return [f"m{num}", f" M-{num} ", f"M {num}", value, value, value][i % 6]


def messy_name(i, name, modulus):
    return [name.upper(), name.lower(), f"  {name} ", name, name][i % modulus]


def messy_email(i, value):
    if i % 3 == 0:
        local, domain = value.split("@")
        return f"{local.title()}@{domain.title()}"
    return f" {value} " if i % 3 == 1 else value


def messy_phone(i, digits):
    a, b, c = digits[:3], digits[3:6], digits[6:]
    return [int(digits), f"{a}.{b}.{c}", f"+1 {a} {b} {c}", f"{a}-{b}-{c}", f"({a}) {b}-{c}"][i % 5]


def messy_date(i, d):
    return [datetime(d.year, d.month, d.day), serial(d), f"{d.month:02d}/{d.day:02d}/{d.year}", d.isoformat(),
            f"{d.day}-{MONTHS[d.month - 1][:3]}-{d.year}", f"{MONTHS[d.month - 1]} {d.day}, {d.year}"][i % 6]


def messy_status(i, status):
    return {"Active": ["Active", "ACTIVE", "active ", "A", "Current"][i % 5],
            "Inactive": ["Inactive", "Terminated", "Resigned", "INACTIVE"][i % 4],
            "On Leave": ["On Leave", "LOA", "on leave", "Leave"][i % 4]}[status]


def money_text(amount):
    text = f"${abs(amount):,.2f}"
    return f"({text})" if amount < 0 else text


# --------------------------------------------------------------------------- helpers


def col_letter(n):
    out = ""
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def new_workbook():
    wb = openpyxl.Workbook()
    wb.properties.creator = "sample_configs/make_inputs.py"
    wb.properties.created = FIXED_TIME
    return wb


def save_workbook(wb, path):
    """Save, then rewrite the zip with fixed timestamps so re-running gives the same bytes."""
    buffer = io.BytesIO()
    wb.save(buffer)
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                              rb"\g<1>" + stamp.encode() + rb"\g<2>", data)
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, data)
    path.write_bytes(out.getvalue())


def put_row(ws, row, values, first_col=1):
    for offset, value in enumerate(values):
        if value is not None:
            ws.cell(row=row, column=first_col + offset, value=value)


def table(*, range_, data_range, kind, header_row, header_rows, headers, mapped, unmapped, rows,
          issues=(), hook_issues=(), appended=None):
    """Expectation for one table. rows: [(sheet_row, {field: normalized value}, {appended header: raw})]."""
    return {"range": range_, "data_range": data_range, "header_kind": kind, "header_row_index": header_row,
            "header_row_indexes": header_rows, "source_headers": headers, "mapped": mapped,
            "unmapped": unmapped, "rows": rows, "issues": list(issues), "hook_issues": list(hook_issues),
            "appended": appended or []}


# --------------------------------------------------------------------------- member roster inputs

ROSTER_LABELS = ["Member ID", "First Name", "Last Name", "Email", "Phone", "Hire Date", "Status"]


def roster_clean(out):
    wb = new_workbook()
    ws = wb.active
    ws.title = "Members"
    put_row(ws, 1, ROSTER_LABELS)
    rows = []
    for i in range(1, 26):
        m = member(i)
        put_row(ws, i + 1, [m["member_id"], m["first_name"], m["last_name"], m["email"], m["phone"],
                            m["hire_date"], m["status"]])
        rows.append((i + 1, {f: m[f] for f in ROSTER_FIELDS}, {}))
    for letter, width in zip("ABCDEFG", (12, 14, 14, 34, 16, 12, 10)):
        ws.column_dimensions[letter].width = width
    save_workbook(wb, out / "roster_clean.xlsx")
    return {
        "package": "member_roster",
        "sheets": [{"name": "Members", "hidden": False, "tables": [table(
            range_="A1:G26", data_range="A2:G26", kind="raw", header_row=1, header_rows=[1],
            headers=ROSTER_LABELS, mapped=dict(zip(ROSTER_FIELDS, "ABCDEFG")), unmapped={}, rows=rows)]}],
        "roles": {1: {1: "header", 2: "first_data"}},
        "leaks": leak_values(rows),
        "appended_headers": [],
    }


def roster_messy(out):
    wb = new_workbook()
    ws = wb.active
    ws.title = "Roster"
    headers = ["Emp ID", "Given name", "Surname", "Preferred Name", "Department", "E-mail Address", "Phone",
               "Date of Hire", "Status"]
    ws["A1"] = "Northwind Co-operative — Member Roster"
    ws.merge_cells("A1:I1")
    ws["A2"] = "Exported 2025-03-03 08:15 from HRIS — all departments"

    def header_block(top):
        ws.cell(row=top, column=6, value="Contact")
        ws.merge_cells(start_row=top, start_column=6, end_row=top, end_column=7)
        ws.cell(row=top, column=8, value="Employment")
        ws.merge_cells(start_row=top, start_column=8, end_row=top, end_column=9)
        put_row(ws, top + 1, headers)

    header_block(4)
    # Sheet row of each member: blank row 14, note row 19, repeated header 26-27, blank row 34.
    layout = {}
    row = 6
    for i in range(1, 31):
        if i == 9:
            row += 1            # blank row 14
        if i == 13:
            row += 1            # note row 19
        if i == 19:
            row += 2            # repeated header block 26-27
        if i == 25:
            row += 1            # blank row 34
        layout[i] = row
        row += 1
    ws.cell(row=19, column=1, value="Note: rows below were re-keyed after the March audit")
    header_block(26)
    ws.cell(row=41, column=1, value="Total members")
    ws.cell(row=41, column=2, value=30)
    ws.cell(row=42, column=1, value="Confidential — internal use only")

    rows, issues, leaks = [], [], []
    for i in range(1, 31):
        m = member(i)
        truth = {f: m[f] for f in ROSTER_FIELDS}
        raw_id = messy_id(i, m["member_id"])
        raw_email = messy_email(i, m["email"])
        raw_hire = messy_date(i, m["hire_date"])
        raw_status = messy_status(i, m["status"])
        r = layout[i]
        if i == 5:
            raw_email, truth["email"] = None, None
            issues.append(("email", r, "required_missing", "error"))
        if i == 9:
            raw_email = f"{m['first_name']}.{m['last_name']}(at)northwind.example"
            truth["email"] = raw_email.lower()
            issues.append(("email", r, "pattern_mismatch", "error"))
        if i == 14:
            raw_id, truth["member_id"] = member(13)["member_id"], member(13)["member_id"]
            issues.append(("member_id", r, "duplicate_value", "error"))
        if i == 16:
            raw_id, truth["member_id"] = "10016", "10016"
            issues.append(("member_id", r, "pattern_mismatch", "warning"))
        if i == 20:
            raw_hire, truth["hire_date"] = "TBD", "TBD"
            issues.append(("hire_date", r, "invalid_format", "error"))
        if i == 22:
            raw_hire = truth["hire_date"] = date(1965, 5, 1)
            issues.append(("hire_date", r, "out_of_range", "warning"))
        if i == 25:
            raw_status, truth["status"] = "Suspended", "Suspended"
            issues.append(("status", r, "invalid_format", "warning"))
        put_row(ws, r, [raw_id, messy_name(i, m["first_name"], 5), messy_name(i, m["last_name"], 4),
                        m["preferred"], m["department"], raw_email, messy_phone(i, m["phone_digits"]),
                        raw_hire, raw_status])
        rows.append((r, truth, {"raw_Preferred_Name": m["preferred"], "raw_Department": m["department"]}))
        leaks += [raw_id, raw_email, m["phone_digits"]]

    hidden = wb.create_sheet("Former members")
    hidden.sheet_state = "hidden"
    hidden_headers = ["Member ID", "First Name", "Last Name", "Email", "Status", "Left On"]
    put_row(hidden, 1, hidden_headers)
    hidden_rows = []
    for n, i in enumerate(range(31, 35)):
        m = member(i)
        left_on = date(2024, 1 + n * 3, 28)
        raw_status = ["Terminated", "Retired", "Inactive", "Resigned"][n]
        put_row(hidden, n + 2, [m["member_id"], m["first_name"], m["last_name"], m["email"], raw_status, left_on])
        truth = {f: m[f] for f in ROSTER_FIELDS}
        truth.update(phone=None, hire_date=None, status="Inactive")
        hidden_rows.append((n + 2, truth, {"raw_Left_On": left_on}))
    save_workbook(wb, out / "roster_messy.xlsx")

    flat = ["Emp ID", "Given name", "Surname", "Preferred Name", "Department", "Contact E-mail Address",
            "Contact Phone", "Employment Date of Hire", "Employment Status"]
    return {
        "package": "member_roster",
        "sheets": [
            {"name": "Roster", "hidden": False, "tables": [table(
                range_="A4:I40", data_range="A6:I40", kind="raw", header_row=5, header_rows=[4, 5],
                headers=flat, mapped=dict(zip(ROSTER_FIELDS, "ABCFGHI")),
                unmapped={"D": "unmapped_low_confidence", "E": "unmapped_no_signal"},
                rows=rows, issues=issues)]},
            {"name": "Former members", "hidden": True, "tables": [table(
                range_="A1:F5", data_range="A2:F5", kind="raw", header_row=1, header_rows=[1],
                headers=hidden_headers,
                mapped={"member_id": "A", "first_name": "B", "last_name": "C", "email": "D", "status": "E"},
                unmapped={"F": "unmapped_low_confidence"}, rows=hidden_rows)]},
        ],
        "roles": {1: {1: "preamble", 2: "preamble", 4: "header", 5: "header", 6: "first_data", 19: "excluded",
                      26: "repeated_header", 27: "repeated_header", 41: "trailing", 42: "trailing"},
                  2: {1: "header", 2: "first_data"}},
        "leaks": leaks + leak_values(rows) + leak_values(hidden_rows),
        "appended_headers": ["raw_Preferred_Name", "raw_Department", "raw_Left_On"],
    }


def roster_export_csv(out):
    header = ["Member # ", "First Name ", "Last Name ", "E-mail ", "Phone ", "Start Date ", "Status ", "Notes "]
    notes = {2: "Prefers post;\nno e-mail newsletters", 5: "Transferred from the Lyon office\neffective April",
             9: "Works part-time (Mon–Wed)"}
    date_styles = [lambda d: d.isoformat(), lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
                   lambda d: f"{d.month:02d}/{d.day:02d}/{d.year}", lambda d: f"{d.day}-{MONTHS[d.month - 1][:3]}-{d.year}"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", quotechar='"', quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(header)
    rows, issues, leaks = [], [], []
    for n, (first, last) in enumerate(CSV_PEOPLE):
        i = 35 + n
        m = member(i, first, last)
        truth = {f: m[f] for f in ROSTER_FIELDS}
        raw_email = m["email"]
        raw_hire = date_styles[n % 4](m["hire_date"])
        if n == 6:
            raw_email = truth["email"] = m["email"].replace("@", ".")
            issues.append(("email", n + 2, "pattern_mismatch", "error"))
        if n == 10:                      # day > 12: only valid day-first although DATE_ORDER is MDY
            truth["hire_date"] = date(2019, 12, 31)
            raw_hire = "31/12/2019"
        a, b, c = m["phone_digits"][:3], m["phone_digits"][3:6], m["phone_digits"][6:]
        raw_phone = [f"{a}-{b}-{c}", f"+1 ({a}) {b} {c}", f"{a} {b} {c}"][n % 3]
        raw_status = messy_status(i, m["status"]).upper() if n % 2 else messy_status(i, m["status"])
        writer.writerow([m["member_id"], first.upper() if n % 3 == 1 else first, last, raw_email, raw_phone,
                         raw_hire, raw_status, notes.get(n)])
        rows.append((n + 2, truth, {"raw_Notes": notes.get(n)}))
        leaks += [raw_email, raw_phone, raw_hire, m["member_id"]]
    (out / "roster_export.csv").write_bytes(buffer.getvalue().encode("cp1252"))
    return {
        "package": "member_roster",
        "sheets": [{"name": "roster_export", "hidden": False, "tables": [table(
            range_="A1:H13", data_range="A2:H13", kind="raw", header_row=1, header_rows=[1],
            headers=[h.strip() for h in header],
            mapped=dict(zip(ROSTER_FIELDS, "ABCDEFG")), unmapped={"H": "unmapped_no_signal"},
            rows=rows, issues=issues)]}],
        "roles": {1: {1: "header", 2: "first_data"}},
        "leaks": leaks + leak_values(rows),
        "appended_headers": ["raw_Notes"],
    }


# --------------------------------------------------------------------------- payroll inputs

PAYROLL_LABELS = ["Employee ID", "Employee Name", "Period Start", "Period End", "Gross Pay", "Deductions",
                  "Net Pay"]


def payroll_values(e):
    return [e[f] for f in PAYROLL_FIELDS]


def payroll_two_tables(out):
    wb = new_workbook()
    ws = wb.active
    ws.title = "Remittance"
    ws["A1"] = "Payroll remittance — pay period ending 2025-03-15"
    put_row(ws, 3, PAYROLL_LABELS)
    staff, hook_issues = [], []
    for i in range(1, 11):
        e = employee(i, PERIOD_A)
        raw = payroll_values(e)
        if i == 4:                                   # net does not add up: caught by the hook only
            raw[6] = e["net_pay"] = round(e["net_pay"] + 100, 2)
            hook_issues.append(("net_pay", i + 3, "net_pay_mismatch", "error"))
        put_row(ws, i + 3, raw)
        staff.append((i + 3, dict(e), {}))
    put_row(ws, 14, ["Subtotal", None, None, None, round(sum(r[1]["gross_pay"] for r in staff), 2),
                     round(sum(r[1]["deductions"] for r in staff), 2), round(sum(r[1]["net_pay"] for r in staff), 2)])
    ws["A17"] = "Contractors"
    put_row(ws, 18, ["Emp #", "Name", "From", "To", "Gross", "Tax & Deductions", "Net", "Cheque No"])
    contractors, issues = [], []
    for n in range(1, 7):
        first, last = FIRSTS[(n + 20) % 40], LASTS[(n + 3) % 40]
        gross = 1200 + n * 111.5
        deductions = round(gross * 0.1, 2)
        start, end = PERIOD_A
        r = n + 18
        if n == 3:
            deductions = -12.0                       # refund shown in accounting brackets: "(12.00)"
            issues.append(("deductions", r, "out_of_range", "warning"))
        if n == 5:
            gross, deductions = 0.0, 45.0            # fee only: negative net
            issues.append(("net_pay", r, "out_of_range", "warning"))
        if n == 6:
            start, end = end, start
            hook_issues.append(("period_end", r, "period_reversed", "error"))
        net = round(gross - deductions, 2)
        name_raw = f"{last.upper()}, {first}" if n % 2 else f"{first} {last}"
        put_row(ws, r, [f"C-{300 + n}", name_raw, f"{start.month:02d}/{start.day:02d}/{start.year}",
                        f"{end.month:02d}/{end.day:02d}/{end.year}", money_text(gross),
                        "(12.00)" if n == 3 else money_text(deductions),
                        money_text(net), 100230 + n])
        contractors.append((r, {"employee_id": f"C-{300 + n}", "employee_name": f"{first} {last}",
                                "period_start": start, "period_end": end, "gross_pay": gross,
                                "deductions": deductions, "net_pay": net}, {"raw_Cheque_No": 100230 + n}))
    put_row(ws, 25, ["Total", None, None, None, money_text(sum(c[1]["gross_pay"] for c in contractors)),
                     None, money_text(sum(c[1]["net_pay"] for c in contractors))])
    save_workbook(wb, out / "payroll_two_tables.xlsx")
    return {
        "package": "payroll_remittance",
        "sheets": [{"name": "Remittance", "hidden": False, "tables": [
            table(range_="A3:G13", data_range="A4:G13", kind="raw", header_row=3, header_rows=[3],
                  headers=PAYROLL_LABELS, mapped=dict(zip(PAYROLL_FIELDS, "ABCDEFG")), unmapped={},
                  rows=staff, hook_issues=[h for h in hook_issues if h[1] < 14]),
            table(range_="A18:H24", data_range="A19:H24", kind="raw", header_row=18, header_rows=[18],
                  headers=["Emp #", "Name", "From", "To", "Gross", "Tax & Deductions", "Net", "Cheque No"],
                  mapped=dict(zip(PAYROLL_FIELDS, "ABCDEFG")), unmapped={"H": "unmapped_low_confidence"},
                  rows=contractors, issues=issues, hook_issues=[h for h in hook_issues if h[1] > 14]),
        ]}],
        "roles": {1: {1: "preamble", 3: "header", 4: "first_data", 14: "trailing", 17: "trailing",
                      18: "header", 19: "first_data", 25: "trailing"}},
        "leaks": leak_values(staff) + leak_values(contractors),
        "appended_headers": ["raw_Cheque_No"],
    }


def payroll_multi_sheet(out):
    wb = new_workbook()
    first = wb.active
    first.title = "Mar 1-15"
    second = wb.create_sheet("Mar 16-31")
    wb.create_sheet("Notes")                          # left empty on purpose
    put_row(first, 1, PAYROLL_LABELS)
    second_headers = ["Staff ID", "Employee", "Pay Period Start", "Pay Period End", "Gross", "Total Deductions",
                      "Net Pay"]
    put_row(second, 1, second_headers)
    rows_a, rows_b, issues = [], [], []
    for i in range(1, 9):
        e = employee(i, PERIOD_A)
        put_row(first, i + 1, payroll_values(e))
        rows_a.append((i + 1, dict(e), {}))
        e = employee(i, PERIOD_B)
        raw = payroll_values(e)
        raw[2], raw[3] = e["period_start"].isoformat(), e["period_end"].isoformat()
        if i == 8:                                    # paid twice in the period: same id again
            raw[0] = e["employee_id"] = "E-2007"
            issues.append(("employee_id", i + 1, "duplicate_value", "warning"))
        put_row(second, i + 1, raw)
        rows_b.append((i + 1, dict(e), {}))
    save_workbook(wb, out / "payroll_multi_sheet.xlsx")
    mapped = dict(zip(PAYROLL_FIELDS, "ABCDEFG"))
    return {
        "package": "payroll_remittance",
        "sheets": [
            {"name": "Mar 1-15", "hidden": False, "tables": [table(
                range_="A1:G9", data_range="A2:G9", kind="raw", header_row=1, header_rows=[1],
                headers=PAYROLL_LABELS, mapped=mapped, unmapped={}, rows=rows_a)]},
            {"name": "Mar 16-31", "hidden": False, "tables": [table(
                range_="A1:G9", data_range="A2:G9", kind="raw", header_row=1, header_rows=[1],
                headers=second_headers, mapped=mapped, unmapped={}, rows=rows_b, issues=issues)]},
            {"name": "Notes", "hidden": False, "tables": []},
        ],
        "roles": {1: {1: "header", 2: "first_data"}, 2: {1: "header", 2: "first_data"}},
        "leaks": leak_values(rows_a) + leak_values(rows_b),
        "appended_headers": [],
    }


def payroll_offset(out):
    wb = new_workbook()
    ws = wb.active
    ws.title = "Export"
    ws["C1"] = "Remittance advice — ACH batch 2025-03-31"
    headers = ["Employee #", "Payee Name", "Period From", "Period To", "Gross Earnings", "Withholdings",
               "Amount Paid"]
    put_row(ws, 4, headers, first_col=3)
    rows, issues = [], []
    for i in range(1, 13):
        e = employee(i + 10, PERIOD_B)
        first, last = e["employee_name"].split(" ")
        raw = payroll_values(e)
        raw[1] = f"{last.upper()}, {first.upper()}"
        if i % 3 == 0:
            raw[4], raw[6] = f"{e['gross_pay']:,.2f}", f"{e['net_pay']:,.2f}"
        if i == 9:
            raw[6] = e["net_pay"] = None
            issues.append(("net_pay", i + 4, "required_missing", "error"))
        put_row(ws, i + 4, raw, first_col=3)
        rows.append((i + 4, dict(e), {}))
    save_workbook(wb, out / "payroll_offset.xlsx")
    return {
        "package": "payroll_remittance",
        "sheets": [{"name": "Export", "hidden": False, "tables": [table(
            range_="C4:I16", data_range="C5:I16", kind="raw", header_row=4, header_rows=[4], headers=headers,
            mapped=dict(zip(PAYROLL_FIELDS, "CDEFGHI")), unmapped={}, rows=rows, issues=issues)]}],
        "roles": {1: {1: "preamble", 4: "header", 5: "first_data"}},
        "leaks": leak_values(rows),
        "appended_headers": [],
    }


def payroll_no_header(out):
    wb = new_workbook()
    ws = wb.active
    ws.title = "ACH export"
    rows, issues = [], []
    for i in range(1, 10):
        e = employee(i + 20, PERIOD_A)
        raw = payroll_values(e)
        if i == 3:
            raw[4] = e["gross_pay"] = "n/a"
            issues.append(("gross_pay", i, "invalid_format", "error"))
        put_row(ws, i, raw)
        rows.append((i, dict(e), {}))
    save_workbook(wb, out / "payroll_no_header.xlsx")
    return {
        "package": "payroll_remittance",
        "sheets": [{"name": "ACH export", "hidden": False, "tables": [table(
            range_="A1:G9", data_range="A1:G9", kind="synthetic", header_row=None, header_rows=[],
            headers=[f"Column {n}" for n in range(1, 8)], mapped=dict(zip(PAYROLL_FIELDS, "ABCDEFG")),
            unmapped={}, rows=rows, issues=issues)]}],
        "roles": {1: {1: "first_data"}},
        "leaks": leak_values(rows),
        "appended_headers": [],
    }


# --------------------------------------------------------------------------- expectations


STATUS_WORDS = {"Active", "Inactive", "On Leave"}     # config vocabulary: validator messages name them


def leak_values(rows):
    """Distinctive data values that must never show up in artifact.json."""
    found = []
    for _, truth, appended in rows:
        for value in list(truth.values()) + list(appended.values()):
            if isinstance(value, date):
                found.append(value.isoformat())
            elif isinstance(value, float) and not value.is_integer():
                found.append(repr(value))
            elif isinstance(value, str) and len(value) >= 4 and value not in STATUS_WORDS:
                found.append(value)
    return found


BUILDERS = {
    "roster_clean.xlsx": roster_clean,
    "roster_messy.xlsx": roster_messy,
    "roster_export.csv": roster_export_csv,
    "payroll_two_tables.xlsx": payroll_two_tables,
    "payroll_multi_sheet.xlsx": payroll_multi_sheet,
    "payroll_offset.xlsx": payroll_offset,
    "payroll_no_header.xlsx": payroll_no_header,
}


def build_all(out_dir=INPUTS):
    """Write every input into out_dir; return {file name: expectation}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return {name: build(out_dir) for name, build in BUILDERS.items()}


def expectations(tmp_dir):
    """Expectations for every input (builds a throw-away copy into tmp_dir to compute them)."""
    return build_all(tmp_dir)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else INPUTS
    for name in build_all(target):
        print(target / name)
