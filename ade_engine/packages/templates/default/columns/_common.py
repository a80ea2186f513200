"""Helpers shared by the column modules (the leading underscore keeps this from being a field)."""

from ade_engine.detect.headers import match_header


def header_score(header, meta):
    """+0.9 for a header equal to the label or a synonym (case, punctuation, footnote marks, units in brackets
    and one-letter typos forgiven), +0.5 when one appears whole inside it."""
    score = match_header(header, [meta["label"], *meta.get("synonyms", [])])
    return 0.9 if score >= 0.9 else (0.5 if score > 0 else 0.0)


def present(values):
    return [v for v in values if v is not None]
