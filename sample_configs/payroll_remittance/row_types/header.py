"""Header rows: several short text cells, known labels, and no values."""

from row_types._cells import known_phrases, row_profile, squash


def detect_wordy_cells(*, row_values_sample, **_):
    filled, _values, wordy = row_profile(row_values_sample)
    if filled < 2:
        return {"scores": {}}
    if wordy / filled >= 0.75:
        return {"scores": {"header": 0.6, "data": -0.3}}
    return {"scores": {}}


def detect_known_labels(*, row_values_sample, manifest, **_):
    known = known_phrases(manifest)
    hits = sum(1 for c in row_values_sample if isinstance(c, str) and squash(c) in known)
    return {"scores": {"header": min(0.4 * hits, 1.0)}} if hits else {"scores": {}}


def detect_values_present(*, row_values_sample, **_):
    # One e-mail address, date or amount is enough to say "not a header".
    _filled, values, _wordy = row_profile(row_values_sample)
    return {"scores": {"header": -0.6}} if values else {"scores": {}}
