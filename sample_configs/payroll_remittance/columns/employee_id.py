"""Employee id such as E-2001 or C-301 (contractors): header words, id shape, headerless position."""

import re

from columns._common import clean_text, detect_standard, header_score, issue, norm, present, shape_scores

ID_SHAPE = re.compile(r"^[A-Z]{1,2}[- ]?\d{3,6}$")
DIGITS = re.compile(r"^\d{3,9}$")
DEFAULT_PATTERN = r"^[A-Z]-[0-9]{3,5}$"


def detect_header(*, header, column_index, field_name, field_meta, env, **_):
    return detect_standard(header, column_index, field_name, field_meta, env)


def _text(value):
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().upper()


def _names_the_id(header, meta):
    """The header is this field's label or synonym ("Employee Number", "Emp #"), or just "ID". "Cheque No" or
    "Invoice Number" are numbers too, but not of a person."""
    return header is not None and (norm(header) == "id" or header_score(header, meta) > 0)


def detect_id_shape(*, values_sample, header, field_name, field_meta, **_):
    """Codes such as E-2001 — or plain numbers when the header names the id ("Emp No" 4100). Ids may
    repeat here (one row per payment), so unlike the roster there is no distinct-values test."""
    numbers_too = _names_the_id(header, field_meta)
    return shape_scores([_text(v) for v in present(values_sample)],
                        lambda t: bool(ID_SHAPE.match(t) or (numbers_too and DIGITS.match(t))),
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
