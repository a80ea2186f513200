"""Employee id such as E-2001 or C-301 (contractors): header words, id shape, headerless position."""

import re

from columns._common import clean_text, detect_standard, issue, shape_scores

ID_SHAPE = re.compile(r"^[A-Z]{1,2}[- ]?\d{3,6}$")
DEFAULT_PATTERN = r"^[A-Z]-[0-9]{3,5}$"


def detect_header(*, header, column_index, field_name, field_meta, env, **_):
    return detect_standard(header, column_index, field_name, field_meta, env)


def detect_id_shape(*, values_sample, field_name, **_):
    return shape_scores(values_sample, lambda v: bool(ID_SHAPE.match(str(v).strip().upper())),
                        field_name, weight=0.5)


def _normalize(value):
    text = clean_text(value)
    if text is None:
        return None
    compact = text.upper().replace(" ", "")
    m = re.fullmatch(r"([A-Z]{1,2})-?(\d{3,6})", compact)
    return f"{m.group(1)}-{m.group(2)}" if m else compact


def transform(*, values, **_):
    return {"values": [_normalize(v) for v in values], "warnings": []}


def validate(*, values, field_meta, **_):
    rx = re.compile(field_meta.get("pattern") or DEFAULT_PATTERN)
    found, seen = [], set()
    for pos, emp in enumerate(values, 1):
        if emp is None:
            found.append(issue(pos, "required_missing", "error", "Employee ID is empty"))
            continue
        if not rx.fullmatch(emp):
            found.append(issue(pos, "pattern_mismatch", "warning", "Employee ID does not look like X-nnnn"))
        if emp in seen:
            found.append(issue(pos, "duplicate_value", "warning",
                               "Employee ID appears twice in this table (two payments?)"))
        seen.add(emp)
    return {"issues": found}
