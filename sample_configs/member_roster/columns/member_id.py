"""Member id such as M-10023: header words plus an id-pattern share; normalized to upper case "M-nnnnn"."""

import re

from columns._common import clean_text, header_score, issue, norm, present, shape_scores

# Looser than the manifest pattern on purpose: detection should still recognise "m 10023" or "E1001".
ID_SHAPE = re.compile(r"^[A-Z]{1,3}[- ]?\d{3,7}$")
DIGITS = re.compile(r"^\d{3,9}$")
MIN_DISTINCT = 0.6  # one row per member: ids hardly repeat, while job codes and cost centres do
DEFAULT_PATTERN = r"^M-[0-9]{5}$"


def detect_header(*, header, field_name, field_meta, **_):
    return {"scores": {field_name: header_score(header, field_meta)}}


def _text(value):
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().upper()


def _names_the_id(header, meta):
    """The header is this field's label or synonym ("Employee Number", "Emp #"), or just "ID". "Cheque No" or
    "Invoice Number" are numbers too, but not of a person."""
    return header is not None and (norm(header) == "id" or header_score(header, meta) > 0)


def detect_id_shape(*, values_sample, header, field_name, field_meta, **_):
    """Codes such as M-10023 — or plain numbers when the header names the id ("Employee Number" 4100);
    a column whose values mostly repeat is a code list (Job Code JC100), not ids."""
    texts = [_text(v) for v in present(values_sample)]
    if texts and len(set(texts)) / len(texts) < MIN_DISTINCT:
        return {"scores": {}}
    numbers_too = _names_the_id(header, field_meta)
    return shape_scores(texts, lambda t: bool(ID_SHAPE.match(t) or (numbers_too and DIGITS.match(t))),
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
