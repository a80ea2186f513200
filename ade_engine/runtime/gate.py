"""Input gate: sniff the real type of an input file and budget it before any parser touches it.

Runs when a document is registered and again inside the job process (pipeline.md §2). Hostile or
broken files fail fast with `InputError` (`input_unsupported` or `input_unreadable`).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import os
import zipfile
from dataclasses import dataclass, asdict
from pathlib import Path
from typing import Any

from ade_engine.errors import InputError

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # local header; empty-archive end record
TEXT_SUFFIXES = {".csv", ".tsv", ".txt"}
SUPPORTED = "supported inputs are .xlsx and .xlsm workbooks and .csv/.tsv/.txt text files"
CSV_DELIMITERS = ",;\t|"
ENCODING_PROBE_BYTES = 1024 * 1024
DELIMITER_PROBE_BYTES = 64 * 1024


@dataclass(frozen=True)
class InputInfo:
    """What the gate learned about an input file."""

    format: str  # "xlsx" | "xlsm" | "csv"
    size_bytes: int
    sha256: str
    original_name: str
    encoding: str | None = None  # CSV only: "utf-8" or "windows-1252"
    delimiter: str | None = None  # CSV only

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _unsupported(name: str, what: str, hint: str = "") -> InputError:
    msg = f"{name}: {what}; {SUPPORTED}."
    if hint:
        msg += f" {hint}"
    return InputError(msg, code="input_unsupported", details={"file": name, "detected": what})


def _unreadable(name: str, what: str, **details: Any) -> InputError:
    return InputError(f"{name}: {what}", code="input_unreadable", details={"file": name, **details})


def inspect_input(
    path: str | os.PathLike[str],
    original_name: str,
    *,
    max_uncompressed_mb: int = 1024,
    max_ratio: int = 200,
    max_members: int = 10_000,
) -> InputInfo:
    """Sniff `path` by its bytes and check the budgets; return `InputInfo` or raise `InputError`."""
    p = Path(path)
    name = original_name or p.name
    try:
        size = p.stat().st_size
        with p.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise _unreadable(name, f"cannot open the file ({exc.strerror or exc}).") from exc
    if size == 0:
        raise _unreadable(name, "the file is empty (0 bytes). Export the data again and re-submit it.")
    suffix = Path(name).suffix.lower()

    if head.startswith(ZIP_MAGICS):
        fmt = _check_zip(p, name, max_uncompressed_mb=max_uncompressed_mb, max_ratio=max_ratio,
                         max_members=max_members)
        return InputInfo(format=fmt, size_bytes=size, sha256=_sha256(p), original_name=name)
    if head.startswith(OLE2_MAGIC):
        raise _ole2_error(p, name)
    if suffix in TEXT_SUFFIXES:
        encoding = _sniff_encoding(p, name)
        delimiter = "\t" if suffix == ".tsv" else _sniff_delimiter(p, encoding)
        return InputInfo(format="csv", size_bytes=size, sha256=_sha256(p), original_name=name,
                         encoding=encoding, delimiter=delimiter)
    what = _describe_bytes(p)
    raise _unsupported(name, f"this file is {what}, not a workbook",
                       "Open it in its program and save or export it as .xlsx or .csv.")


def _sha256(p: Path) -> str:
    h = hashlib.sha256()
    with p.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_zip(p: Path, name: str, *, max_uncompressed_mb: int, max_ratio: int, max_members: int) -> str:
    """Budget the archive from its central directory only (nothing is inflated) and classify it."""
    try:
        with zipfile.ZipFile(p) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise _unreadable(name, f"the file looks like a zip archive but it is damaged or truncated ({exc}). "
                                "Re-export or re-download it.") from exc
    if len(infos) > max_members:
        raise _unreadable(name, f"the archive has {len(infos):,} members, over the budget of {max_members:,} "
                                "members per workbook.", budget="max_members", limit=max_members)
    total = 0
    limit_bytes = max_uncompressed_mb * 1024 * 1024
    for info in infos:
        total += info.file_size
        # A stored (uncompressed) member cannot be a bomb; a deflated one is judged by its ratio.
        compressed = max(info.compress_size, 1)
        if info.file_size > 1024 * 1024 and info.file_size / compressed > max_ratio:
            ratio = info.file_size / compressed
            raise _unreadable(
                name,
                f"member {info.filename!r} would inflate {ratio:,.0f}:1 ({info.compress_size:,} → "
                f"{info.file_size:,} bytes), over the budget of {max_ratio}:1 (ADE_INPUT_MAX_RATIO). "
                "The file is probably a zip bomb or corrupt.",
                budget="max_ratio", limit=max_ratio, member=info.filename,
            )
    if total > limit_bytes:
        raise _unreadable(
            name,
            f"the workbook would inflate to {total / 1048576:,.0f} MiB, over the budget of "
            f"{max_uncompressed_mb:,} MiB (ADE_INPUT_MAX_UNCOMPRESSED_MB). Split the file or ask the operator "
            "to raise the budget.",
            budget="max_uncompressed_mb", limit=max_uncompressed_mb,
        )
    names = {i.filename for i in infos}
    if "[Content_Types].xml" in names and "xl/workbook.xml" in names:
        macro = "xl/vbaProject.bin" in names
        if not macro:
            macro = _content_types_say_macro(p)
        return "xlsm" if macro else "xlsx"
    raise _unsupported(name, f"this file is {_describe_zip(names)}, not an Excel workbook")


def _content_types_say_macro(p: Path) -> bool:
    with zipfile.ZipFile(p) as zf:
        info = zf.getinfo("[Content_Types].xml")
        if info.file_size > 4 * 1024 * 1024:  # never inflate a suspicious manifest
            return False
        data = zf.read(info)
    return b"macroenabled" in data.lower()


def _describe_zip(names: set[str]) -> str:
    if "mimetype" in names and any(n.startswith("META-INF/") for n in names) and "content.xml" in names:
        return "an OpenDocument file (.ods/.odt)"
    if "word/document.xml" in names:
        return "a Word document (.docx)"
    if "ppt/presentation.xml" in names:
        return "a PowerPoint presentation (.pptx)"
    if "xl/workbook.bin" in names:
        return "an Excel binary workbook (.xlsb)"
    return "a plain zip archive (no xl/workbook.xml inside)"


def _ole2_error(p: Path, name: str) -> InputError:
    streams = _ole2_stream_names(p)
    lowered = {s.lower() for s in streams}
    if "encryptedpackage" in lowered or "encryptioninfo" in lowered:
        return _unsupported(name, "this file is a password-protected (encrypted) workbook",
                            "Remove the password in Excel (File › Info › Protect Workbook) and save as .xlsx.")
    if "workbook" in lowered or "book" in lowered:
        return _unsupported(name, "this file is a legacy Excel 97-2003 workbook (.xls)",
                            "Open it in Excel and save it as .xlsx.")
    if "worddocument" in lowered:
        return _unsupported(name, "this file is a legacy Word document (.doc)")
    return _unsupported(name, "this file is an OLE2 compound file (legacy Office format)",
                        "Save it as .xlsx.")


def _ole2_stream_names(p: Path) -> list[str]:
    """Stream names from the first sectors of a compound file's directory (best effort, bounded reads)."""
    try:
        with p.open("rb") as fh:
            header = fh.read(512)
            if len(header) < 512:
                return []
            sector_shift = int.from_bytes(header[30:32], "little")
            if sector_shift not in (9, 12):
                return []
            sector_size = 1 << sector_shift
            first_dir = int.from_bytes(header[48:52], "little")
            num_fat = int.from_bytes(header[44:48], "little")
            if first_dir >= 0xFFFFFFFA:
                return []
            # The FAT sectors listed in the header (first 109) let us follow the directory chain a little.
            fat_sectors = [int.from_bytes(header[76 + 4 * i:80 + 4 * i], "little") for i in range(min(num_fat, 109))]
            fat: list[int] = []
            for s in fat_sectors[:16]:
                fh.seek((s + 1) * sector_size)
                raw = fh.read(sector_size)
                fat.extend(int.from_bytes(raw[i:i + 4], "little") for i in range(0, len(raw) - 3, 4))
            names: list[str] = []
            sector, hops = first_dir, 0
            while sector < 0xFFFFFFFA and hops < 64:
                fh.seek((sector + 1) * sector_size)
                raw = fh.read(sector_size)
                for off in range(0, len(raw) - 127, 128):
                    entry = raw[off:off + 128]
                    length = int.from_bytes(entry[64:66], "little")
                    if 2 <= length <= 64 and entry[66] in (1, 2, 5):
                        names.append(entry[:length - 2].decode("utf-16-le", "replace"))
                sector = fat[sector] if sector < len(fat) else 0xFFFFFFFE
                hops += 1
            return names
    except OSError:
        return []


def _describe_bytes(p: Path) -> str:
    with p.open("rb") as fh:
        head = fh.read(4096)
    h = head.lstrip()
    lower = h[:512].lower()
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if lower.startswith((b"<!doctype html", b"<html")) or b"<html" in lower:
        return "an HTML page (often a web export renamed to .xlsx)"
    if lower.startswith(b"<?xml"):
        if b"urn:schemas-microsoft-com:office:spreadsheet" in head.lower():
            return "an Excel 2003 XML spreadsheet"
        return "an XML document"
    for magic, what in ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
                        (b"\x1f\x8b", "a gzip archive"), (b"Rar!", "a RAR archive"), (b"7z\xbc\xaf", "a 7-Zip archive")):
        if head.startswith(magic):
            return what
    try:
        head.decode("utf-8")
        is_text = b"\x00" not in head
    except UnicodeDecodeError:
        is_text = False
    if is_text:
        return "plain text (rename it to .csv if it is comma- or tab-separated data)"
    return "binary data of an unknown type"


def _sniff_encoding(p: Path, name: str) -> str:
    with p.open("rb") as fh:
        probe = fh.read(ENCODING_PROBE_BYTES)
    try:
        # final=False: a multi-byte character cut at the probe boundary is not an error.
        codecs.getincrementaldecoder("utf-8")().decode(probe, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        return "windows-1252"


def _sniff_delimiter(p: Path, encoding: str) -> str:
    codec = "utf-8-sig" if encoding == "utf-8" else encoding
    with p.open("r", encoding=codec, errors="replace", newline="") as fh:
        sample = fh.read(DELIMITER_PROBE_BYTES)
    if not sample.strip():
        return ","
    # Drop a possibly cut last line so the sniffer sees whole records.
    if len(sample) >= DELIMITER_PROBE_BYTES and "\n" in sample:
        sample = sample[: sample.rfind("\n")]
    try:
        return csv.Sniffer().sniff(sample, delimiters=CSV_DELIMITERS).delimiter
    except csv.Error:
        return _count_delimiter(sample)


def _count_delimiter(sample: str) -> str:
    """Fallback: the candidate that appears most consistently across the first lines."""
    lines = [ln for ln in sample.splitlines()[:50] if ln.strip()]
    best, best_score = ",", 0
    for d in CSV_DELIMITERS:
        counts = [ln.count(d) for ln in lines]
        if not counts or min(counts) == 0:
            continue
        score = min(counts)
        if score > best_score:
            best, best_score = d, score
    return best
