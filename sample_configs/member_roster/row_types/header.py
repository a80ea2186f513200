"""Header rows: several short text cells, known labels, and no values."""

from row_types._cells import first_filled, page_line, row_profile

HEADER, NOT_HEADER = {"header": 0.6, "data": -0.3}, {"header": -0.4}
PRINT_LINE = {"header": -0.8}


def detect_header_shape(*, row_values_sample, manifest, table_hint, **_):
    """- wordy cells: ≥ 2 filled cells and ≥ 75 % of them short text without digits or '@' → +0.6 header,
      −0.3 data, except:
      - inside an open table, a row of 3+ text cells with fewer than two known labels is a record that
        happens to hold only text (a contact without e-mail or phone): no vote, so it stays data;
      - a legend ("Status codes:" | "A = Active" | "I = Inactive"): 3+ cells, the first ending in ":", fewer
        than two known labels → −0.4 header;
      - two or three text cells side by side (a "Label | description" line, a lookup list, a footer) are
        not a header: −0.4 header. Merged group parents ("Contact" over E-mail/Phone) have gaps and pass,
        but not a report's page line ("Page 3 of 40") nor a title line (a first cell of four or more words,
        "Cascade Co-op - Member Roster" … "Confidential"), which print programs repeat above every page's
        header: −0.8 header;
    - values present: one e-mail address, date, amount or code is enough to say "not a header" → −0.6 header
      (−0.2 when three or more cells are known labels: "W-4 Status" or "2024" among real labels);
    - sentence-length text present → −0.4 header."""
    filled, values, wordy, known = row_profile(row_values_sample, manifest)
    if filled >= 2 and wordy / filled >= 0.75:
        if filled >= 3 and known < 2:
            if table_hint.get("state") == "data":
                return {"scores": {}}
            first = first_filled(row_values_sample)
            if first.__class__ is str and first.rstrip().endswith(":"):
                return {"scores": dict(NOT_HEADER)}
        if filled <= 3:
            if _side_by_side(row_values_sample, filled):
                return {"scores": dict(NOT_HEADER)}
            if page_line(row_values_sample) or _title_line(row_values_sample):
                return {"scores": dict(PRINT_LINE)}
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


def _title_line(cells):
    """A report title in column A with one more cell further right: a group parent is a short label."""
    first = cells[0]
    return first.__class__ is str and len(first.split()) >= 4


def detect_known_labels(*, row_values_sample, manifest, **_):
    """+0.4 header per cell equal to a field label or synonym of the manifest (at most +1.0)."""
    known = row_profile(row_values_sample, manifest)[3]
    return {"scores": {"header": min(0.4 * known, 1.0)}} if known else {"scores": {}}
