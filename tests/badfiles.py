"""Builders of hostile and broken input files, shared by tests.

Each builder takes a directory and returns the path of the file it wrote. Everything is built
from real formats (openpyxl workbooks, zipfile archives, a hand-made OLE2 compound file), small
and fast to produce.
"""

from __future__ import annotations

import datetime as dt
import re
import struct
import zipfile
from pathlib import Path

import openpyxl

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_FREE, _END, _FATSECT, _NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF


def simple_workbook(directory: Path, name: str = "roster.xlsx", rows: list[list] | None = None,
                    sheet: str = "Members") -> Path:
    """A plain, valid workbook."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for row in rows if rows is not None else [["Name", "Joined", "Dues"], ["Ada", dt.date(2024, 1, 2), 12.5],
                                              ["Bob", dt.date(2024, 3, 4), 7]]:
        ws.append(row)
    path = Path(directory) / name
    wb.save(path)
    return path


def rewrite_member(src: Path, dst: Path, member: str, fn) -> Path:
    """Copy a zip, passing one member's text through `fn` (used to craft sheet XML)."""
    with zipfile.ZipFile(src) as zin:
        items = [(i.filename, zin.read(i)) for i in zin.infolist()]
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, data in items:
            if name == member:
                data = fn(data.decode("utf-8")).encode("utf-8")
            zout.writestr(name, data)
    return dst


def not_a_workbook(directory: Path, kind: str = "pdf", name: str = "report.xlsx") -> Path:
    """A file named .xlsx that is really a PDF, an HTML page, plain text or a non-workbook zip."""
    path = Path(directory) / name
    if kind == "pdf":
        path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n")
    elif kind == "html":
        path.write_bytes(b"<!DOCTYPE html>\n<html><body><table><tr><td>Name</td></tr></table></body></html>\n")
    elif kind == "text":
        path.write_bytes(b"Name,Joined\nAda,2024-01-02\n")
    elif kind == "zip":
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("notes/readme.txt", "just a zip")
    elif kind == "docx":
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("[Content_Types].xml", "<Types/>")
            zf.writestr("word/document.xml", "<document/>")
    else:
        raise ValueError(kind)
    return path


def _ole2(streams: dict[str, bytes]) -> bytes:
    """A minimal but well-formed compound file (v3, 512-byte sectors) holding `streams` (regular sectors)."""
    sector = 512
    # Layout: sector 0 = FAT, sector 1 = directory, then stream data (each stream padded to ≥ 4096 bytes
    # so it lives in regular sectors and no mini-stream is needed).
    names = list(streams)
    data_sectors: list[bytes] = []
    starts: list[int] = []
    fat = [_FATSECT, _END]
    for nm in names:
        blob = streams[nm].ljust(4096, b"\0")
        n = -(-len(blob) // sector)
        start = 2 + len(data_sectors)
        starts.append(start)
        for k in range(n):
            data_sectors.append(blob[k * sector:(k + 1) * sector].ljust(sector, b"\0"))
            fat.append(start + k + 1 if k < n - 1 else _END)
    if len(fat) > sector // 4 or len(names) > 3:
        raise ValueError("keep the test container small")
    fat_bytes = b"".join(struct.pack("<I", v) for v in fat).ljust(sector, b"\xff")

    def entry(name: str, kind: int, child: int, right: int, start: int, size: int) -> bytes:
        raw = name.encode("utf-16-le") + b"\0\0"
        return (raw.ljust(64, b"\0") + struct.pack("<HBB", len(raw), kind, 1)
                + struct.pack("<III", _NOSTREAM, right, child) + b"\0" * 16 + b"\0" * 4 + b"\0" * 16
                + struct.pack("<IQ", start, size))

    entries = [entry("Root Entry", 5, 1 if names else _NOSTREAM, _NOSTREAM, _END, 0)]
    for i, nm in enumerate(names):
        right = i + 2 if i + 1 < len(names) else _NOSTREAM
        entries.append(entry(nm, 2, _NOSTREAM, right, starts[i], max(len(streams[nm]), 4096)))
    dir_bytes = b"".join(entries).ljust(sector, b"\0")
    header = (OLE2_MAGIC + b"\0" * 16 + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + b"\0" * 6
              + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, _END, 0, _END, 0)
              + struct.pack("<I", 0) + b"\xff" * (109 * 4 - 4))
    assert len(header) == 512
    return header + fat_bytes + dir_bytes + b"".join(data_sectors)


def encrypted_workbook(directory: Path, name: str = "secret.xlsx") -> Path:
    """What Excel writes for a password-protected .xlsx: an OLE2 file with EncryptionInfo/EncryptedPackage."""
    path = Path(directory) / name
    info = struct.pack("<HHI", 4, 4, 0x40) + b"<encryption/>"  # agile encryption version header
    path.write_bytes(_ole2({"EncryptionInfo": info, "EncryptedPackage": b"\x10\0\0\0\0\0\0\0" + b"\xaa" * 64}))
    return path


def legacy_xls(directory: Path, name: str = "old.xls") -> Path:
    """A BIFF8 container: OLE2 with a `Workbook` stream (BOF record at the start)."""
    path = Path(directory) / name
    bof = struct.pack("<HHHHII", 0x0809, 16, 0x0600, 0x0005, 0, 0)
    path.write_bytes(_ole2({"Workbook": bof}))
    return path


def empty_file(directory: Path, name: str = "empty.xlsx") -> Path:
    path = Path(directory) / name
    path.write_bytes(b"")
    return path


def zip_bomb(directory: Path, name: str = "bomb.xlsx", inflated_mb: int = 64) -> Path:
    """A workbook-shaped zip whose sheet member inflates ~1000:1 (zeros); nothing here inflates it."""
    path = Path(directory) / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        zf.writestr("xl/workbook.xml", "<workbook/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"\0" * (inflated_mb * 1024 * 1024))
    return path


def many_members(directory: Path, count: int, name: str = "crowded.xlsx") -> Path:
    path = Path(directory) / name
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        for i in range(count):
            zf.writestr(f"xl/media/image{i}.bin", b"x")
    return path


def huge_dimension(directory: Path, name: str = "huge-dim.xlsx", rows: int = 50) -> Path:
    """A small sheet whose <dimension ref> claims the whole grid, A1:XFD1048576."""
    base = simple_workbook(directory, "huge-dim-base.xlsx",
                           rows=[["Name", "Score"]] + [[f"n{i}", i] for i in range(rows)])
    out = rewrite_member(base, Path(directory) / name, "xl/worksheets/sheet1.xml",
                         lambda x: re.sub(r'<dimension ref="[^"]*"', '<dimension ref="A1:XFD1048576"', x))
    base.unlink()
    return out


def sheet_with_extra_xml(directory: Path, name: str, extra_rows_xml: str) -> Path:
    """A valid workbook with raw `<row>` XML appended to the sheet data (row beyond the grid, etc.)."""
    base = simple_workbook(directory, "extra-base.xlsx")
    out = rewrite_member(base, Path(directory) / name, "xl/worksheets/sheet1.xml",
                         lambda x: x.replace("</sheetData>", extra_rows_xml + "</sheetData>"))
    base.unlink()
    return out


def row_beyond_grid(directory: Path, name: str = "tall.xlsx") -> Path:
    return sheet_with_extra_xml(directory, name, '<row r="1048577"><c r="A1048577" t="n"><v>1</v></c></row>')


def cell_beyond_grid(directory: Path, name: str = "wide.xlsx") -> Path:
    return sheet_with_extra_xml(directory, name, '<row r="9"><c r="XFE9" t="n"><v>1</v></c></row>')


def csv_windows_1252(directory: Path, name: str = "villes.csv") -> Path:
    path = Path(directory) / name
    path.write_bytes("Ville,Montant\nMontréal,€ 12\nQuébec,5\n".encode("cp1252"))
    return path


def csv_semicolon_bom(directory: Path, name: str = "export.csv") -> Path:
    path = Path(directory) / name
    path.write_bytes("\ufeffName;Amount;City\nAda;1,5;Zürich\nBob;2;Genève\n".encode("utf-8"))
    return path
