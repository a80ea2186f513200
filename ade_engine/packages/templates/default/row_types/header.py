from row_types._cells import filled


def _squash(text):
    return " ".join(str(text).lower().split())


def detect_wordy_cells(*, row_values_sample, **_):
    cells = filled(row_values_sample)
    if len(cells) < 2:
        return {"scores": {}}
    wordy = sum(1 for c in cells if isinstance(c, str) and not any(ch.isdigit() for ch in c))
    if wordy / len(cells) >= 0.8:
        return {"scores": {"header": 0.6, "data": -0.2}}
    return {"scores": {}}


def detect_known_labels(*, row_values_sample, manifest, **_):
    known = set()
    for meta in manifest["columns"]["meta"].values():
        known.add(_squash(meta["label"]))
        known.update(_squash(s) for s in meta.get("synonyms", []))
    hits = sum(1 for c in row_values_sample if isinstance(c, str) and _squash(c) in known)
    return {"scores": {"header": min(0.5 * hits, 1.0)}} if hits else {"scores": {}}
