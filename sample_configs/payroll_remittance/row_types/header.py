"""Header rows: several short text cells, known labels, and no values."""

from row_types._cells import row_profile

HEADER, NOT_HEADER = {"header": 0.6, "data": -0.3}, {"header": -0.4}


def detect_header_shape(*, row_values_sample, manifest, table_hint, **_):
    """- wordy cells: ≥ 2 filled cells and ≥ 75 % of them short text without digits or '@' → +0.6 header,
      −0.3 data, except:
      - inside an open table, a row of 3+ text cells with fewer than two known labels is a record that
        happens to hold only text (a contact without e-mail or phone): no vote, so it stays data;
      - two or three text cells side by side (a "Label | description" line, a lookup list, a footer) are
        not a header: −0.4 header. Merged group parents ("Contact" over E-mail/Phone) have gaps and pass;
    - values present: one e-mail address, date, amount or code is enough to say "not a header" → −0.6 header
      (−0.2 when three or more cells are known labels: "W-4 Status" or "2024" among real labels);
    - sentence-length text present → −0.4 header."""
    filled, values, wordy, known = row_profile(row_values_sample, manifest)
    if filled >= 2 and wordy / filled >= 0.75:
        if filled >= 3 and known < 2 and table_hint.get("state") == "data":
            return {"scores": {}}
        if filled <= 3 and _side_by_side(row_values_sample, filled):
            return {"scores": dict(NOT_HEADER)}
        scores = dict(HEADER)
    else:
        scores = {}
    if values:
        scores["header"] = scores.get("header", 0.0) - (0.6 if known < 3 else 0.2)
    if filled > values + wordy:
        scores["header"] = scores.get("header", 0.0) - 0.4
    return {"scores": scores}


def _side_by_side(cells, filled):
    """The row's filled cells are adjacent (no blank between the first and the last)."""
    first = next(i for i, c in enumerate(cells) if c is not None)
    return cells[first:first + filled].count(None) == 0


def detect_known_labels(*, row_values_sample, manifest, **_):
    """+0.4 header per cell equal to a field label or synonym of the manifest (at most +1.0)."""
    known = row_profile(row_values_sample, manifest)[3]
    return {"scores": {"header": min(0.4 * known, 1.0)}} if known else {"scores": {}}
