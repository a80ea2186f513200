"""Deterministic messy member-roster workbook: N rows × 20 columns (`python -m benchmarks.generate N OUT`).

3 preamble rows, alias headers (not the target labels), mixed ints/floats/dates/strings with stray
spaces, blank cells and rows, a footer note — the shape real exports have.
"""

from __future__ import annotations

import datetime as dt
import random
import sys
from pathlib import Path

HEADERS = [
    "Emp ID", "Given Name", "Surname", "E-mail Address", "Telephone", "Date Joined", "Employment Status",
    "Department", "Region", "Annual Salary", "Hours/Week", "Age", "Rate", "Badge Colour", "Shift Start",
    "Manager", "Cost Centre", "Union Local", "Last Review", "Notes",
]
FIRST = ["Ada", "Bob", "Chloé", "Dmitri", "Eve", "Farah", "Gus", "Hana", "Ivan", "Jin", "Kofi", "Lena", "Mateo"]
LAST = ["Lovelace", "Smith", "Nguyen", "O'Brien", "García", "Kowalski", "Tremblay", "Okafor", "Singh", "Müller"]
DEPTS = ["Finance", "Operations", "HR", "Sales", "IT", " Logistics ", "Research"]
REGIONS = ["North", "South", "East", "West", "Central"]
STATUS = ["Active", "active ", "Inactive", "On Leave", "TERMINATED", "Retired"]


def generate(path: str | Path, rows: int, seed: int = 20251120) -> Path:
    """Write the workbook (xlsxwriter, constant memory) and return its path; same seed → same cells."""
    import xlsxwriter

    rng = random.Random(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False,
                                         "strings_to_formulas": False, "strings_to_urls": False})
    wb.set_properties({"created": dt.datetime(2025, 1, 1)})
    ws = wb.add_worksheet("Roster Export")
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    time_fmt = wb.add_format({"num_format": "hh:mm"})
    ws.write_string(0, 0, "ACME Co-operative — member roster")
    ws.write_string(1, 0, "Exported from HRIS on 2025-11-20 by payroll")
    ws.write_string(2, 0, "Confidential: internal use only")
    # row 4 (index 3) is the header, row 5 a units/notes row some exports have
    for c, h in enumerate(HEADERS):
        ws.write_string(3, c, h if rng.random() > 0.2 else f" {h} ")
    base = dt.date(1995, 1, 1)
    r = 4
    for i in range(rows):
        if i and i % 997 == 0:
            r += 1  # an occasional blank row inside the body
        first, last = rng.choice(FIRST), rng.choice(LAST)
        cells = [
            f"M-{i + 1:05d}" if rng.random() > 0.02 else f" M-{i + 1:05d} ",
            first if rng.random() > 0.05 else f"  {first}",
            last,
            f"{first}.{last}@example.org".lower().replace("'", ""),
            f"({rng.randint(200, 999)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}",
            base + dt.timedelta(days=rng.randint(0, 11000)),
            rng.choice(STATUS),
            rng.choice(DEPTS),
            rng.choice(REGIONS),
            round(rng.uniform(28000, 140000), 2),
            rng.choice([20, 30, 35, 37.5, 40]),
            rng.randint(18, 70),
            rng.random(),
            rng.choice(["red", "blue", "green", ""]),
            dt.time(rng.choice([6, 7, 8, 9, 14, 22]), rng.choice([0, 15, 30])),
            f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            rng.randint(1000, 9999),
            f"Local {rng.randint(1, 40)}",
            base + dt.timedelta(days=rng.randint(9000, 11300)) if rng.random() > 0.3 else "n/a",
            "" if rng.random() > 0.1 else "see file  ",
        ]
        for c, v in enumerate(cells):
            if v == "" or rng.random() < 0.03:
                continue  # blank cell
            if isinstance(v, str):
                ws.write_string(r, c, v)
            elif isinstance(v, dt.date):
                ws.write_datetime(r, c, v, date_fmt)
            elif isinstance(v, dt.time):
                ws.write_datetime(r, c, v, time_fmt)
            else:
                ws.write_number(r, c, v)
        r += 1
    r += 1
    ws.write_string(r, 0, f"Total members: {rows}")
    ws.write_string(r + 1, 0, "Figures subject to audit.")
    wb.close()
    return path


if __name__ == "__main__":
    generate(sys.argv[2], int(sys.argv[1]))
