from decimal import Decimal, InvalidOperation

from columns._common import header_score, present


def _number(value):
    """Decimal for numbers and numeric text such as "1,200.50" or "(15)"; None otherwise."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        amount = Decimal(str(value))
        return amount if amount.is_finite() else None
    text = str(value).strip()
    negative = text.startswith("(") and text.endswith(")")
    core = text.strip("()").replace(",", "").lstrip("$€£").strip()
    try:
        amount = Decimal(core)
    except InvalidOperation:
        return None
    if not amount.is_finite():
        return None
    return -amount if negative else amount


def detect_header(*, header, field_name, field_meta, **_):
    return {"scores": {field_name: header_score(header, field_meta)}}


def detect_numeric_share(*, values_sample, field_name, **_):
    values = present(values_sample)
    if not values:
        return {"scores": {}}
    share = sum(1 for v in values if _number(v) is not None) / len(values)
    return {"scores": {field_name: round(0.6 * share - 0.3, 3)}}


def transform(*, values, **_):
    out, unreadable = [], 0
    for value in values:
        amount = _number(value)
        if value is not None and amount is None:
            unreadable += 1
            out.append(value)  # kept as-is so validate can flag it
        else:
            out.append(None if amount is None else float(amount.quantize(Decimal("0.01"))))
    return {"values": out, "warnings": [f"{unreadable} value(s) were not numeric"] if unreadable else []}


def validate(*, values, field_meta, **_):
    issues = []
    for pos, value in enumerate(values, 1):
        if value is None:
            if field_meta.get("required"):
                issues.append({"row_index": pos, "code": "required_missing", "severity": "error",
                               "message": "Amount is empty"})
        elif not isinstance(value, float):
            issues.append({"row_index": pos, "code": "invalid_format", "severity": "error",
                           "message": "Amount is not a number"})
    return {"issues": issues}
