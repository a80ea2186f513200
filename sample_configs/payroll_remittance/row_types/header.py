"""Header rows: several short text cells, known labels, and no values."""

from row_types._cells import row_profile


def detect_header_shape(*, row_values_sample, manifest, **_):
    """- wordy cells: ≥ 2 filled cells and ≥ 75 % of them short text without digits or '@' → +0.6 header,
      −0.3 data;
    - values present: one e-mail address, date, amount or code is enough to say "not a header" → −0.6 header."""
    filled, values, wordy, _known = row_profile(row_values_sample, manifest)
    scores = {}
    if filled >= 2 and wordy / filled >= 0.75:
        scores["header"] = 0.6
        scores["data"] = -0.3
    if values:
        scores["header"] = scores.get("header", 0.0) - 0.6
    return {"scores": scores}


def detect_known_labels(*, row_values_sample, manifest, **_):
    """+0.4 header per cell equal to a field label or synonym of the manifest (at most +1.0)."""
    known = row_profile(row_values_sample, manifest)[3]
    return {"scores": {"header": min(0.4 * known, 1.0)}} if known else {"scores": {}}
