"""Date handling shared by period_start and period_end."""

from datetime import date

from columns._common import clean_text, issue, shape_scores
from columns._dates import parse_date


def date_shape(values, field_name, env):
    order = env.get("DATE_ORDER", "MDY")
    return shape_scores(values, lambda v: parse_date(v, order) is not None, field_name, weight=0.4)


def transform_dates(values, env):
    order = env.get("DATE_ORDER", "MDY")
    out, unreadable = [], 0
    for raw in values:
        if clean_text(raw) is None:
            out.append(None)
            continue
        parsed = parse_date(raw, order)
        if parsed is None:
            unreadable += 1
        out.append(parsed if parsed is not None else clean_text(raw))
    return {"values": out, "warnings": [f"{unreadable} value(s) are not dates"] if unreadable else []}


def validate_dates(values, label):
    found = []
    for pos, value in enumerate(values, 1):
        if value is None:
            found.append(issue(pos, "required_missing", "error", f"{label} is empty"))
        elif not isinstance(value, date):
            found.append(issue(pos, "invalid_format", "error", f"{label} is not a recognisable date"))
    return {"issues": found}
