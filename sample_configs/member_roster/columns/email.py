"""E-mail address: header words plus the share of values containing "name@domain"; lower-cased."""

import re

from columns._common import clean_text, header_score, issue, shape_scores

LOOSE = re.compile(r"^\S+@\S+\.\S+$")
DEFAULT_PATTERN = r"^[a-z0-9._%+'-]+@[a-z0-9.-]+\.[a-z]{2,}$"


def detect_header(*, header, field_name, field_meta, **_):
    return {"scores": {field_name: header_score(header, field_meta)}}


def detect_address_share(*, values_sample, field_name, **_):
    return shape_scores(values_sample, lambda v: isinstance(v, str) and bool(LOOSE.match(v.strip())),
                        field_name, weight=0.6, floor=0.5)


def _normalize(value):
    text = clean_text(value)
    if text is None:
        return None
    text = text.replace(" ", "")
    if text.lower().startswith("mailto:"):
        text = text[7:]
    return text.lower()


def transform(*, values, **_):
    return {"values": [_normalize(v) for v in values], "warnings": []}


def validate(*, values, field_meta, **_):
    rx = re.compile(field_meta.get("pattern") or DEFAULT_PATTERN)
    found = []
    for pos, address in enumerate(values, 1):
        if address is None:
            if field_meta.get("required"):
                found.append(issue(pos, "required_missing", "error", "Email is empty"))
        elif not rx.fullmatch(str(address)):
            found.append(issue(pos, "pattern_mismatch", "error", "Email is not a valid address"))
    return {"issues": found}
