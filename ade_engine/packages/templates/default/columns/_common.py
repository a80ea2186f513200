"""Helpers shared by the column modules (the leading underscore keeps this from being a field)."""


def norm(text):
    return " ".join(str(text).lower().split())


def header_score(header, meta):
    """+0.9 for a header equal to the label or a synonym, +0.5 when one is contained in it."""
    if not header:
        return 0.0
    wanted = [norm(meta["label"])] + [norm(s) for s in meta.get("synonyms", [])]
    found = norm(header)
    if found in wanted:
        return 0.9
    return 0.5 if any(w in found for w in wanted) else 0.0


def present(values):
    return [v for v in values if v is not None]
