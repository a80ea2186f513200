import zipfile

import pytest

from ade_engine.errors import InputError
from ade_engine.runtime.gate import inspect_input

import badfiles


def reject(path, name=None, **kw) -> InputError:
    with pytest.raises(InputError) as exc:
        inspect_input(path, name or path.name, **kw)
    return exc.value


def test_plain_workbook_is_xlsx_with_hash_and_size(tmp_path):
    path = badfiles.simple_workbook(tmp_path)
    info = inspect_input(path, "March roster.xlsx")
    assert info.format == "xlsx"
    assert info.size_bytes == path.stat().st_size
    assert len(info.sha256) == 64
    assert info.original_name == "March roster.xlsx"
    assert info.encoding is None and info.delimiter is None


def test_workbook_is_sniffed_by_bytes_whatever_its_name(tmp_path):
    path = badfiles.simple_workbook(tmp_path, name="export.dat")
    assert inspect_input(path, "export.dat").format == "xlsx"
    # A workbook named .csv is still a workbook, never parsed as text.
    assert inspect_input(path, "members.csv").format == "xlsx"


def test_xlsm_from_vba_project_or_content_types(tmp_path):
    base = badfiles.simple_workbook(tmp_path)
    with_vba = tmp_path / "macro.xlsx"
    with zipfile.ZipFile(base) as zin, zipfile.ZipFile(with_vba, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, zin.read(item))
        zout.writestr("xl/vbaProject.bin", b"\0" * 10)
    assert inspect_input(with_vba, "macro.xlsx").format == "xlsm"

    typed = badfiles.rewrite_member(
        base, tmp_path / "typed.xlsm", "[Content_Types].xml",
        lambda x: x.replace("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml", "application/vnd.ms-excel.sheet.macroEnabled.main+xml"))
    assert inspect_input(typed, "typed.xlsm").format == "xlsm"


@pytest.mark.parametrize("kind,words", [("pdf", "PDF document"), ("html", "HTML page"),
                                        ("text", "plain text"), ("zip", "zip archive"),
                                        ("docx", "Word document")])
def test_not_a_workbook_named_xlsx_says_what_it_is(tmp_path, kind, words):
    err = reject(badfiles.not_a_workbook(tmp_path, kind))
    assert err.code == "input_unsupported"
    assert "report.xlsx" in err.message and words in err.message
    assert ".xlsx" in err.message and ".csv" in err.message  # what is supported


def test_encrypted_workbook_is_called_password_protected(tmp_path):
    err = reject(badfiles.encrypted_workbook(tmp_path))
    assert err.code == "input_unsupported"
    assert "password-protected" in err.message and "secret.xlsx" in err.message


def test_legacy_xls_is_unsupported_with_a_save_as_hint(tmp_path):
    err = reject(badfiles.legacy_xls(tmp_path))
    assert err.code == "input_unsupported"
    assert "legacy Excel 97-2003" in err.message and "save it as .xlsx" in err.message
    # Renamed to .xlsx it is still recognised as a legacy workbook, not a password-protected one.
    renamed = badfiles.legacy_xls(tmp_path, name="renamed.xlsx")
    assert "legacy" in reject(renamed).message


def test_empty_file_is_unreadable(tmp_path):
    err = reject(badfiles.empty_file(tmp_path))
    assert err.code == "input_unreadable" and "empty" in err.message


def test_zip_bomb_fails_on_ratio_before_inflating(tmp_path):
    err = reject(badfiles.zip_bomb(tmp_path))
    assert err.code == "input_unreadable"
    assert "200:1" in err.message and "xl/worksheets/sheet1.xml" in err.message
    assert err.details["budget"] == "max_ratio"


def test_total_uncompressed_budget(tmp_path):
    path = badfiles.zip_bomb(tmp_path, inflated_mb=3)
    err = reject(path, max_ratio=100_000, max_uncompressed_mb=2)
    assert err.details["budget"] == "max_uncompressed_mb"
    assert "2 MiB" in err.message
    assert inspect_input(path, "bomb.xlsx", max_ratio=100_000, max_uncompressed_mb=4).format == "xlsx"


def test_member_count_budget(tmp_path):
    path = badfiles.many_members(tmp_path, 30)
    err = reject(path, max_members=25)
    assert err.details["budget"] == "max_members" and "25" in err.message
    assert inspect_input(path, "crowded.xlsx", max_members=40).format == "xlsx"


def test_truncated_zip_is_unreadable(tmp_path):
    good = badfiles.simple_workbook(tmp_path)
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert reject(cut).code == "input_unreadable"


def test_csv_windows_1252(tmp_path):
    info = inspect_input(badfiles.csv_windows_1252(tmp_path), "villes.csv")
    assert (info.format, info.encoding, info.delimiter) == ("csv", "windows-1252", ",")


def test_csv_semicolon_with_bom(tmp_path):
    info = inspect_input(badfiles.csv_semicolon_bom(tmp_path), "export.csv")
    assert (info.format, info.encoding, info.delimiter) == ("csv", "utf-8", ";")


def test_tsv_is_tab_and_pipe_is_sniffed(tmp_path):
    tsv = tmp_path / "a.tsv"
    tsv.write_text("a,b\tc\n1,2\t3\n")
    assert inspect_input(tsv, "a.tsv").delimiter == "\t"
    pipe = tmp_path / "b.txt"
    pipe.write_text("name|city|zip\nAda|Paris|75001\nBob|Lyon|69001\n")
    assert inspect_input(pipe, "b.txt").delimiter == "|"


def test_utf8_char_cut_at_probe_boundary_is_still_utf8(tmp_path):
    path = tmp_path / "big.csv"
    # 'é' is two bytes; put one across the 1 MiB boundary.
    path.write_bytes(b"a" * (1024 * 1024 - 1) + "é\n".encode())
    assert inspect_input(path, "big.csv").encoding == "utf-8"


def test_text_is_only_csv_from_csv_tsv_txt_names(tmp_path):
    path = tmp_path / "data.json"
    path.write_text('{"a": 1}')
    assert reject(path).code == "input_unsupported"
