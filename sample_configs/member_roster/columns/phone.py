"""Phone number: 10–15 digits written with common separators; North American numbers as (AAA) BBB-CCCC."""

import re

from columns._common import clean_text, header_score, issue, shape_scores

PHONE_CHARS = re.compile(r"^\+?[\d\s().\-]+$")


def _digits(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return str(value)
    text = str(value).strip()
    if not PHONE_CHARS.match(text):
        return None
    return re.sub(r"\D", "", text)


def _looks_like_phone(value):
    digits = _digits(value)
    return digits is not None and 10 <= len(digits) <= 15


def detect_header(*, header, field_name, field_meta, **_):
    return {"scores": {field_name: header_score(header, field_meta)}}


def detect_phone_shape(*, values_sample, field_name, **_):
    return shape_scores(values_sample, _looks_like_phone, field_name, weight=0.5)


def _normalize(value):
    if clean_text(value) is None:
        return None
    digits = _digits(value)
    if digits is None or not 10 <= len(digits) <= 15:
        return clean_text(value)                       # left as typed; validate flags it
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) == 10:
        return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    return "+" + digits


def transform(*, values, **_):
    return {"values": [_normalize(v) for v in values], "warnings": []}


def validate(*, values, **_):
    return {"issues": [issue(pos, "invalid_format", "warning", "Phone number is not 10-15 digits")
                       for pos, phone in enumerate(values, 1)
                       if phone is not None and not _looks_like_phone(phone)]}
