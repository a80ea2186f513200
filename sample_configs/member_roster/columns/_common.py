"""Helpers shared by the field modules (leading underscore: not a field module itself)."""

import re
from functools import lru_cache

from columns._headers import header_key

# Value-shape detectors need a few values before they say anything: two cells prove little.
MIN_PRESENT = 3


def norm(text):
    """The matching key of a header: case, punctuation, camelCase and abbreviations ironed out (`_headers`)."""
    return header_key(text)


def header_score(header, meta):
    """+0.9 when the header is the label or a synonym; +0.6 when the label or a synonym of two or more words
    appears in it as whole words; +0.3 when only a one-word synonym does ("first", "last", "mail").

    Whole-word containment catches flattened stacked headers such as "Contact E-mail Address".
    """
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


def present(values):
    """The non-blank values of a sample."""
    return [v for v in values if v is not None and not (isinstance(v, str) and not v.strip())]


def shape_scores(values, test, field_name, *, weight, floor=0.6):
    """Positive evidence only: `weight × share` when at least `floor` of the values pass `test`.

    Returning nothing (rather than a negative vote) keeps unrelated columns `unmapped_no_signal`.
    """
    cells = present(values)
    if len(cells) < MIN_PRESENT:
        return {"scores": {}}
    share = sum(1 for v in cells if test(v)) / len(cells)
    if share < floor:
        return {"scores": {}}
    return {"scores": {field_name: round(weight * share, 3)}}


BLANK_WORDS = {"n/a", "na", "none", "-", "--", "tbc", "null"}


def clean_text(value):
    """Trim and collapse inner whitespace; blank-looking placeholders become None."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = " ".join(str(value).split())
    if not text or text.lower() in BLANK_WORDS:
        return None
    return text


def issue(pos, code, severity, message):
    return {"row_index": pos, "code": code, "severity": severity, "message": message}


NAME_RX = re.compile(r"^[^\W\d_]+(?:[ '\-.][^\W\d_]+)*\.?$")
