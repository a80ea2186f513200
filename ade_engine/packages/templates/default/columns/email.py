import re

from columns._common import header_score, present

DEFAULT_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def detect_header(*, header, field_name, field_meta, **_):
    return {"scores": {field_name: header_score(header, field_meta)}}


def detect_at_signs(*, values_sample, field_name, **_):
    values = present(values_sample)
    if not values:
        return {"scores": {}}
    share = sum(1 for v in values if isinstance(v, str) and "@" in v) / len(values)
    return {"scores": {field_name: round(0.8 * share - 0.2, 3)}}


def transform(*, values, **_):
    return {"values": [None if v is None else (str(v).strip().lower() or None) for v in values], "warnings": []}


def validate(*, values, field_meta, **_):
    rx = re.compile(field_meta.get("pattern") or DEFAULT_PATTERN)
    issues = []
    for pos, value in enumerate(values, 1):
        if value is not None and not rx.fullmatch(str(value)):
            issues.append({"row_index": pos, "code": "invalid_format", "severity": "warning",
                           "message": "Email address is not well formed"})
    return {"issues": issues}
