"""Membership status: a small vocabulary normalized to Active / Inactive / On Leave."""

from functools import lru_cache

from columns._common import clean_text, header_score, issue, shape_scores

CANONICAL = {
    "Active": {"active", "a", "act", "current", "employed", "enrolled", "yes"},
    "Inactive": {"inactive", "i", "terminated", "term", "left", "former", "resigned", "retired", "no"},
    "On Leave": {"on leave", "leave", "on-leave", "loa", "l", "leave of absence", "parental leave",
                 "sick leave"},
}
LOOKUP = {word: status for status, words in CANONICAL.items() for word in words}
# "Yes"/"No" read as Active/Inactive once the header says status, but a yes/no column is no evidence of a
# status column by itself (Union Member, Benefits Eligible…).
DETECT = {word: status for word, status in LOOKUP.items() if word not in ("yes", "no")}


def detect_header(*, header, field_name, field_meta, **_):
    return {"scores": {field_name: header_score(header, field_meta)}}


def detect_vocabulary(*, values_sample, field_name, **_):
    return shape_scores(values_sample, lambda v: (t := clean_text(v)) is not None and t.lower() in DETECT,
                        field_name, weight=0.5)


@lru_cache(maxsize=4096, typed=True)
def _normalized(raw):
    """(output value, is an unknown status) of one raw cell; a status column repeats a handful of values."""
    text = clean_text(raw)
    status = None if text is None else LOOKUP.get(text.lower())
    return status or text, text is not None and status is None


def transform(*, values, **_):
    out, unknown = [], 0
    for raw in values:
        value, is_unknown = _normalized(raw)
        unknown += is_unknown
        out.append(value)
    return {"values": out, "warnings": [f"{unknown} value(s) are not a known status"] if unknown else []}


def validate(*, values, **_):
    return {"issues": [issue(pos, "invalid_format", "warning",
                             "Status is not one of Active, Inactive, On Leave")
                       for pos, value in enumerate(values, 1)
                       if value is not None and value not in CANONICAL]}
