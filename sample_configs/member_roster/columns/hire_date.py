"""Hire date: header words plus the share of date-like values; parsed into `date` from many formats."""

from datetime import date

from columns._common import clean_text, header_score, issue, shape_scores
from columns._dates import parse_bound, parse_date


def detect_header(*, header, field_name, field_meta, **_):
    return {"scores": {field_name: header_score(header, field_meta)}}


def detect_date_share(*, values_sample, field_name, env, **_):
    # Capped at 0.4: below the mapping threshold on its own, so "Left On" dates stay unmapped.
    order = env.get("DATE_ORDER", "MDY")
    return shape_scores(values_sample, lambda v: parse_date(v, order) is not None, field_name, weight=0.4)


def transform(*, values, env, **_):
    order = env.get("DATE_ORDER", "MDY")
    out, unreadable = [], 0
    for raw in values:
        if clean_text(raw) is None:
            out.append(None)
            continue
        parsed = parse_date(raw, order)
        if parsed is None:
            unreadable += 1
            out.append(clean_text(raw))      # kept as text so validate can flag it
        else:
            out.append(parsed)
    return {"values": out, "warnings": [f"{unreadable} value(s) are not dates"] if unreadable else []}


def validate(*, values, env, **_):
    low = parse_bound(env.get("HIRE_DATE_MIN"), date(1970, 1, 1))
    high = parse_bound(env.get("HIRE_DATE_MAX"), date(2100, 12, 31))
    found = []
    for pos, value in enumerate(values, 1):
        if value is None:
            continue
        if not isinstance(value, date):
            found.append(issue(pos, "invalid_format", "error", "Hire date is not a recognisable date"))
        elif not low <= value <= high:
            found.append(issue(pos, "out_of_range", "warning",
                               f"Hire date is outside {low.isoformat()}..{high.isoformat()}"))
    return {"issues": found}
