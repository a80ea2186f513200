"""Employee name: "First Last" or "LAST, First"; written as "First Last" with repaired case."""

import re

from columns._common import clean_text, detect_standard, issue, present, MIN_PRESENT

NAME = re.compile(r"^[^\W\d_]+(?:[ ,'\-.]+[^\W\d_]+){1,3}\.?$")


def detect_header(*, header, column_index, field_name, field_meta, env, **_):
    return detect_standard(header, column_index, field_name, field_meta, env)


def detect_full_name_shape(*, values_sample, field_name, **_):
    cells = [" ".join(str(v).split()) for v in present(values_sample)]
    if len(cells) < MIN_PRESENT:
        return {"scores": {}}
    share = sum(1 for c in cells if NAME.match(c)) / len(cells)
    distinct = len(set(c.lower() for c in cells)) / len(cells)
    if share < 0.8 or distinct < 0.6:
        return {"scores": {}}
    return {"scores": {field_name: round(0.4 * share, 3)}}


def _cap(word):
    out, upper_next = [], True
    for ch in word:
        out.append(ch.upper() if upper_next else ch.lower())
        upper_next = ch in "-'"
    return "".join(out)


def _normalize(value):
    text = clean_text(value)
    if text is None:
        return None
    if text.count(",") == 1:                          # "SOUZA, Ana" -> "Ana SOUZA" (case fixed below)
        last, first = (part.strip() for part in text.split(","))
        if last and first:
            text = f"{first} {last}"
    words = text.split(" ")
    return " ".join(_cap(w) if (w.isupper() or w.islower()) else w for w in words)


def transform(*, values, **_):
    return {"values": [_normalize(v) for v in values], "warnings": []}


def validate(*, values, **_):
    return {"issues": [issue(pos, "required_missing", "error", "Employee name is empty")
                       for pos, name in enumerate(values, 1) if name is None]}
