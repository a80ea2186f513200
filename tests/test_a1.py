import pytest

from ade_engine.runtime.a1 import cell, cell_range, col_index, col_letter, parse_cell, parse_range


@pytest.mark.parametrize("index,letters", [(1, "A"), (26, "Z"), (27, "AA"), (52, "AZ"), (53, "BA"),
                                           (702, "ZZ"), (703, "AAA"), (16384, "XFD")])
def test_column_letters_both_ways(index, letters):
    assert col_letter(index) == letters
    assert col_index(letters) == index
    assert col_index(letters.lower()) == index


def test_every_column_round_trips():
    assert all(col_index(col_letter(i)) == i for i in range(1, 16385))


@pytest.mark.parametrize("bad", [0, -1, True, 1.0])
def test_col_letter_rejects_non_positive_or_non_int(bad):
    with pytest.raises(ValueError):
        col_letter(bad)


@pytest.mark.parametrize("bad", ["", "A1", "É", "-"])
def test_col_index_rejects_non_letters(bad):
    with pytest.raises(ValueError):
        col_index(bad)


def test_cells_and_ranges():
    assert cell(3, 12) == "C12"
    assert cell_range(2, 4, 7, 159) == "B4:G159"
    assert parse_cell("C12") == (3, 12)
    assert parse_cell("$XFD$1048576") == (16384, 1048576)
    assert parse_range("B4:G159") == (2, 4, 7, 159)
    assert parse_range("C4") == (3, 4, 3, 4)
    with pytest.raises(ValueError):
        cell_range(5, 1, 2, 1)
    with pytest.raises(ValueError):
        cell(1, 0)
    with pytest.raises(ValueError):
        parse_cell("C0")
