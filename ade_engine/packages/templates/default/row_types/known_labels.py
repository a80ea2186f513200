"""Extra evidence for the engine's structure detection (engine.detect.layout = "library").

The engine's library (`ade_engine.detect`) finds tables, headers, section and total rows and notes by itself.
Row detectors here add evidence: a positive "header" score makes a row header-like, a positive "data" score
data-like, a negative score takes that away (docs/writing-detectors.md). This one says: a row where cells name
two or more different fields of the manifest (label or synonym, typos and footnote marks forgiven) is a
header. One field named twice ("Total" | "Total" in a totals row) is not."""

from ade_engine.detect.headers import LabelMatcher

_matcher = None  # built once per manifest; it remembers each text's verdict (row detectors see every row)
_manifest = None


def detect_known_labels(*, row_values_sample, manifest, **_):
    global _matcher, _manifest
    if manifest is not _manifest:
        _manifest = manifest
        _matcher = LabelMatcher((name, field) for field, meta in manifest["columns"]["meta"].items()
                                for name in (meta["label"], *meta.get("synonyms", [])))
    first = None
    for cell in row_values_sample:
        if cell.__class__ is str:
            field = _matcher.tag_of(cell)
            if field is not None:
                if first is None:
                    first = field
                elif field != first:
                    return {"scores": {"header": 0.6}}
    return {"scores": {}}
