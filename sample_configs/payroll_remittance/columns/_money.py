"""Money parsing: "$1,234.50", "(12.00)", "-45", "1234.5 USD", numbers from Excel."""

import re
from decimal import Decimal, InvalidOperation

from columns._common import clean_text, issue, shape_scores

CURRENCY_WORDS = re.compile(r"\b(USD|CAD|EUR|US\$|C\$)\b", re.IGNORECASE)


def parse_money(value):
    """Return a Decimal rounded to cents, or None when the value is not an amount."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float, Decimal)):
        amount = Decimal(str(value))
    else:
        text = CURRENCY_WORDS.sub("", str(value)).strip()
        negative = False
        if text.startswith("(") and text.endswith(")"):       # accounting negative
            negative, text = True, text[1:-1].strip()
        if text.startswith("-"):
            negative, text = not negative, text[1:].strip()
        if text.endswith("-"):                                # "12.00-" from some bank exports
            negative, text = not negative, text[:-1].strip()
        text = text.lstrip("$€£").replace(",", "").replace(" ", "")
        if not re.fullmatch(r"\d+(\.\d+)?|\.\d+", text):
            return None
        try:
            amount = Decimal(text)
        except InvalidOperation:
            return None
        amount = -amount if negative else amount
    if not amount.is_finite():
        return None
    return amount.quantize(Decimal("0.01"))


def money_shape(values, field_name):
    # Small weight: every amount column looks alike, the header has to decide which one it is.
    return shape_scores(values, lambda v: parse_money(v) is not None, field_name, weight=0.3)


def transform_money(values, blank_as_zero=False):
    out, unreadable = [], 0
    for raw in values:
        if clean_text(raw) is None:
            out.append(0.0 if blank_as_zero else None)
            continue
        amount = parse_money(raw)
        if amount is None:
            unreadable += 1
            out.append(clean_text(raw))
        else:
            out.append(float(amount))
    return {"values": out, "warnings": [f"{unreadable} value(s) are not amounts"] if unreadable else []}


def validate_money(values, label, *, required, negative_severity):
    found = []
    for pos, amount in enumerate(values, 1):
        if amount is None:
            if required:
                found.append(issue(pos, "required_missing", "error", f"{label} is empty"))
        elif not isinstance(amount, float):
            found.append(issue(pos, "invalid_format", "error", f"{label} is not an amount"))
        elif amount < 0 and negative_severity:
            found.append(issue(pos, "out_of_range", negative_severity, f"{label} is negative"))
    return {"issues": found}
