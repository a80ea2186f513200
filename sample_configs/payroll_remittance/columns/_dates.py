"""Date parsing for spreadsheets: real dates, Excel serial numbers and the usual text formats."""

import re
from datetime import date, datetime, timedelta

EXCEL_EPOCH = date(1899, 12, 30)        # serial 1 = 1900-01-01 (Lotus leap-year bug absorbed)
SERIAL_MIN, SERIAL_MAX = 20000, 80000   # 1954..2119: wider ranges would swallow ordinary counts
MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}

ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T].*)?$")
SLASHED = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})$")
# Two-digit years ("3-Apr-21" is Excel's default d-mmm-yy) go through _year: 00–69 → 20xx, 70–99 → 19xx.
DOTTED = re.compile(r"^(\d{1,2})[.-](\d{1,2})[.-](\d{2}|\d{4})$")     # 15.03.2021, 15.03.21: day first
DAY_MON = re.compile(r"^(\d{1,2})[ -]([A-Za-z]{3,9})\.?[ ,-]*(\d{2}|\d{4})$")  # 15-Mar-2021, 3-Apr-21
MON_DAY = re.compile(r"^([A-Za-z]{3,9})\.?[ -](\d{1,2}),?[ -](\d{2}|\d{4})$")  # March 15, 2021; Mar-15-21
COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")                      # 20210315


def _make(y, m, d):
    try:
        return date(int(y), int(m), int(d))
    except ValueError:
        return None


def _month(name):
    return MONTHS.get(name[:3].lower())


def _year(text):
    y = int(text)
    return y + (2000 if y < 70 else 1900) if len(text) == 2 else y


def parse_date(value, order="MDY"):
    """Return a `date`, or None when the value is not a recognisable date."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)):
        if SERIAL_MIN <= value <= SERIAL_MAX:
            return EXCEL_EPOCH + timedelta(days=int(value))
        return None
    text = " ".join(str(value).split())
    if (m := ISO.match(text)):
        return _make(*m.groups())
    if (m := SLASHED.match(text)):
        a, b, y = int(m.group(1)), int(m.group(2)), _year(m.group(3))
        first, second = (b, a) if order.upper() == "DMY" else (a, b)
        # "31/12/2019" cannot be month-first: fall back to the other order rather than reject it
        return _make(y, first, second) or _make(y, second, first)
    if (m := DOTTED.match(text)):
        return _make(_year(m.group(3)), m.group(2), m.group(1))
    if (m := DAY_MON.match(text)) and _month(m.group(2)):
        return _make(_year(m.group(3)), _month(m.group(2)), m.group(1))
    if (m := MON_DAY.match(text)) and _month(m.group(1)):
        return _make(_year(m.group(3)), _month(m.group(1)), m.group(2))
    if (m := COMPACT.match(text)):
        return _make(*m.groups())
    return None


def parse_bound(text, fallback):
    return parse_date(text) if text else fallback
