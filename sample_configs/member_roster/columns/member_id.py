"""Member id such as M-10023: header words plus an id-pattern share; normalized to upper case "M-nnnnn"."""

import re

from columns._common import clean_text, header_score, issue, shape_scores

# Looser than the manifest pattern on purpose: detection should still recognise "m 10023" or "E1001".
ID_SHAPE = re.compile(r"^[A-Z]{1,3}[- ]?\d{3,7}$")
DEFAULT_PATTERN = r"^M-[0-9]{5}$"


def detect_header(*, header, field_name, field_meta, **_):
    return {"scores": {field_name: header_score(header, field_meta)}}


def detect_id_shape(*, values_sample, field_name, **_):
    return shape_scores(values_sample, lambda v: bool(ID_SHAPE.match(str(v).strip().upper())),
                        field_name, weight=0.6)


def _normalize(value):
    text = clean_text(value)
    if text is None:
        return None
    compact = text.upper().replace(" ", "")
    m = re.fullmatch(r"([A-Z]{1,3})-?(\d{3,7})", compact)
    return f"{m.group(1)}-{m.group(2)}" if m else compact


def transform(*, values, **_):
    return {"values": [_normalize(v) for v in values], "warnings": []}


def validate(*, values, field_meta, **_):
    rx = re.compile(field_meta.get("pattern") or DEFAULT_PATTERN)
    found, seen = [], set()
    for pos, member_id in enumerate(values, 1):
        if member_id is None:
            found.append(issue(pos, "required_missing", "error", "Member ID is empty"))
            continue
        if not rx.fullmatch(str(member_id)):
            found.append(issue(pos, "pattern_mismatch", "warning", "Member ID does not look like M-nnnnn"))
        if member_id in seen:
            found.append(issue(pos, "duplicate_value", "error", "Member ID repeats an earlier row"))
        seen.add(member_id)
    return {"issues": found}
