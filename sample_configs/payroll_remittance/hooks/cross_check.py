"""after_validate: cross-field checks on the finished workbook (read-only).

- net_pay must equal gross_pay - deductions (blank deductions count as 0), within NET_TOLERANCE;
- period_start must not be after period_end.
Rows are located through the artifact: each table's `output_range` and the column plan.
"""

from datetime import date, datetime, timedelta

import openpyxl

EXCEL_EPOCH = datetime(1899, 12, 30)


def _as_date(value):
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (EXCEL_EPOCH + timedelta(days=float(value))).date()
    return None


def _as_amount(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _column_number(letters):
    number = 0
    for ch in letters:
        number = number * 26 + ord(ch.upper()) - 64
    return number


def _row_span(a1_range):
    start, end = a1_range.split(":")
    digits = lambda ref: int("".join(ch for ch in ref if ch.isdigit()))
    return digits(start), digits(end)


def run(*, artifact, env, output_path, **_):
    output = artifact.get("output") or {}
    columns = {entry["field"]: _column_number(entry["output_column"])
               for entry in output.get("column_plan", {}).get("target", [])}
    tolerance = float(env.get("NET_TOLERANCE", "0.01"))
    issues, checked = [], 0
    workbook = openpyxl.load_workbook(output_path, read_only=True, data_only=True)
    try:
        sheet = workbook[output["sheet"]]
        for sh in artifact["sheets"]:
            for table in sh["tables"]:
                mapped = set(table["target_fields"])
                if not table.get("output_range"):
                    continue
                first, last = _row_span(table["output_range"])
                for ordinal, row in enumerate(sheet.iter_rows(min_row=first, max_row=last, values_only=True), 1):
                    checked += 1
                    cell = lambda field: row[columns[field] - 1] if field in columns and columns[field] <= len(row) else None
                    if {"gross_pay", "net_pay"} <= mapped:
                        gross, net = _as_amount(cell("gross_pay")), _as_amount(cell("net_pay"))
                        deductions = _as_amount(cell("deductions")) if "deductions" in mapped else 0.0
                        if gross is not None and net is not None:
                            expected = gross - (deductions or 0.0)
                            if abs(expected - net) > tolerance:
                                issues.append({"table_id": table["id"], "row_index": ordinal,
                                               "code": "net_pay_mismatch", "severity": "error",
                                               "target_field": "net_pay",
                                               "message": "Net pay is not gross pay minus deductions"})
                    if {"period_start", "period_end"} <= mapped:
                        start, end = _as_date(cell("period_start")), _as_date(cell("period_end"))
                        if start is not None and end is not None and start > end:
                            issues.append({"table_id": table["id"], "row_index": ordinal,
                                           "code": "period_reversed", "severity": "error",
                                           "target_field": "period_end",
                                           "message": "Period end is before period start"})
    finally:
        workbook.close()
    mismatches = sum(1 for i in issues if i["code"] == "net_pay_mismatch")
    reversed_ = len(issues) - mismatches
    notes = (f"Cross-checked {checked} payment row(s) in {env.get('CURRENCY', '?')}: "
             f"{mismatches} net pay mismatch(es), {reversed_} reversed period(s)")
    return {"notes": notes, "issues": issues}
