"""The sample packages' row profile (their Pass 1 detectors rely on it): the fast counting agrees with a
plain cell-by-cell reading of the same rules, for every kind of cell a reader or a hook may hand over."""

from __future__ import annotations

import datetime as dt
import decimal
import importlib
import json
import sys
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[1] / "sample_configs"


@pytest.fixture(params=["member_roster", "payroll_remittance"])
def package(request, monkeypatch):
    root = SAMPLES / request.param
    for name in [m for m in sys.modules if m == "row_types" or m.startswith("row_types.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(root))
    cells = importlib.import_module("row_types._cells")
    yield cells, json.loads((root / "manifest.json").read_text())
    for name in [m for m in sys.modules if m == "row_types" or m.startswith("row_types.")]:
        del sys.modules[name]


class Label(str):
    """A str subclass, as a hook might produce."""


ROWS = [
    ["Member ID", "First Name", " Surname ", "E-mail Address", None, "Status"],
    ["M-00001", "Ada", "Lovelace", "ada@example.org", "(322) 307-2508", dt.date(2012, 7, 6), 124062.98, 35],
    [True, False, "Notes", None, dt.timedelta(hours=3), decimal.Decimal("1.5"), Label("Email"), Label("E 20")],
    ["Total members", None, None, 25],
    ["٣ apples", "Room ²", "nan", "a sentence that mentions 2024-01-01 and keeps going", "x" * 61],
    [dt.datetime(2024, 1, 2, 3, 4), dt.time(9, 0), 0, -1.5, "Hire Date", "Start Date"],
]


def slow_profile(cells_mod, manifest, row):
    phrases = cells_mod.known_phrases(manifest)
    present = values = wordy = known = 0
    for cell in row:
        if cell is None:
            continue
        present += 1
        if isinstance(cell, str):
            stripped = cell.strip()
            if cells_mod.text_is_value(stripped):
                values += 1
            elif "@" not in cell and len(stripped) <= 60 and len(stripped.split()) <= cells_mod.WORDY_MAX_WORDS:
                wordy += 1
            known += cells_mod.squash(cell) in phrases
        elif isinstance(cell, cells_mod.TYPED) and not isinstance(cell, bool):
            values += 1
        elif cells_mod.text_is_value(str(cell).strip()):
            values += 1
    return present, values, wordy, known


@pytest.mark.parametrize("row", ROWS, ids=range(len(ROWS)))
def test_profile_matches_a_cell_by_cell_reading(package, row):
    cells_mod, manifest = package
    assert cells_mod.row_profile(row, manifest) == slow_profile(cells_mod, manifest, row)
    assert cells_mod.row_profile(list(row), manifest) == slow_profile(cells_mod, manifest, row)  # cached answer


def test_values_and_labels_are_told_apart(package):
    cells_mod, manifest = package
    assert cells_mod.text_is_value("M-10023") and cells_mod.text_is_value("ada@example.org")
    assert cells_mod.text_is_value("2024-03-15") and cells_mod.text_is_value("$1,234.50")
    assert cells_mod.text_is_value("٣٤")  # digits of another script count as digits
    assert not cells_mod.text_is_value("Status") and not cells_mod.text_is_value("a sentence about 2024-01-01 ok")
    filled, values, wordy, _known = cells_mod.row_profile(ROWS[0], manifest)
    assert (filled, values, wordy) == (5, 0, 5)
