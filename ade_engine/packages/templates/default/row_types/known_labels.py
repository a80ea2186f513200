"""Extra evidence for the engine's structure detection (engine.detect.layout = "library").

The engine's library (`ade_engine.detect`) finds tables, headers, section and total rows and notes by itself.
Row detectors here add evidence: a positive "header" score makes a row header-like, a positive "data" score
data-like, a negative score takes that away (docs/writing-detectors.md). This one says: a row where two or more
cells name a field of the manifest (label or synonym, typos and footnote marks forgiven) is a header."""

from ade_engine.detect.headers import match_header


_known = {}  # cell text -> names a field (row detectors run on every row: each text is judged once)
_manifest = None


def _is_known(text, manifest):
    global _manifest
    if manifest is not _manifest or len(_known) > 50_000:
        _known.clear()
        _manifest = manifest
    hit = _known.get(text)
    if hit is None:
        names = [[meta["label"], *meta.get("synonyms", [])] for meta in manifest["columns"]["meta"].values()]
        hit = len(text) <= 60 and any(match_header(text, n) >= 0.9 for n in names)
        _known[text] = hit
    return hit


def detect_known_labels(*, row_values_sample, manifest, **_):
    hits = 0
    for cell in row_values_sample:
        if cell.__class__ is str and _is_known(cell, manifest):
            hits += 1
            if hits >= 2:
                return {"scores": {"header": 0.6}}
    return {"scores": {}}
