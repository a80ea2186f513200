"""Helpers shared by the payroll field modules."""

import re
from functools import lru_cache

from columns._headers import header_key

MIN_PRESENT = 3
SYNTHETIC_HEADER = re.compile(r"^column \d+$")


def norm(text):
    """The matching key of a header: case, punctuation, camelCase and abbreviations ironed out (`_headers`)."""
    return header_key(text)


def header_score(header, meta):
    """+0.9 for the label or a synonym; +0.6 when the label or a synonym of two or more words appears in the
    header as whole words; +0.3 when only a one-word synonym does ("from", "to", "net", "name")."""
    if header is None:
        return 0.0
    wanted = _wanted(meta["label"], tuple(meta.get("synonyms") or ()))
    text = norm(header)
    if text in wanted:
        return 0.9
    padded = f" {text} "
    hits = [w for w in wanted if f" {w} " in padded]
    if not hits:
        return 0.0
    # A one-word synonym inside a longer header is weak on its own ("last" in "last_login_at", "to" in
    # "Paid To"): 0.3, below the threshold, so the column maps only when its values agree.
    label = _label(meta["label"])
    return 0.6 if any(w == label or " " in w for w in hits) else 0.3


@lru_cache(maxsize=256)
def _wanted(label, synonyms):
    return frozenset(norm(s) for s in (label, *synonyms))


@lru_cache(maxsize=64)
def _label(label):
    return norm(label)


def layout_score(header, column_index, field_name, env):
    """Headerless bank exports have a fixed column order (env HEADERLESS_LAYOUT).

    Only applies when there is no real header: blank, or the engine's synthetic "Column N".
    """
    if header is not None and not SYNTHETIC_HEADER.match(norm(header)):
        return 0.0
    layout = [f.strip() for f in env.get("HEADERLESS_LAYOUT", "").split(",") if f.strip()]
    if 1 <= column_index <= len(layout) and layout[column_index - 1] == field_name:
        return 0.6
    return 0.0


def present(values):
    return [v for v in values if v is not None and not (isinstance(v, str) and not v.strip())]


def shape_scores(values, test, field_name, *, weight, floor=0.6):
    """Positive evidence only: `weight × share` when at least `floor` of the values pass `test`."""
    cells = present(values)
    if len(cells) < MIN_PRESENT:
        return {"scores": {}}
    share = sum(1 for v in cells if test(v)) / len(cells)
    if share < floor:
        return {"scores": {}}
    return {"scores": {field_name: round(weight * share, 3)}}


def clean_text(value):
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = " ".join(str(value).split())
    return text or None


def issue(pos, code, severity, message):
    return {"row_index": pos, "code": code, "severity": severity, "message": message}


def detect_standard(header, column_index, field_name, field_meta, env):
    return {"scores": {field_name: round(header_score(header, field_meta)
                                         + layout_score(header, column_index, field_name, env), 3)}}
