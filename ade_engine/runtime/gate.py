"""Input gate: sniff the real type of an input file and budget it before any parser touches it.

Runs when a document is registered and again inside the job process (pipeline.md §2). Hostile or
broken files fail fast with `InputError` (`input_unsupported` or `input_unreadable`; `input_encoding`
when the text encoding is unknown or the bytes do not decode in it).

Text encoding (docs/engine.md, "Reading input"): an override wins; else a byte-order mark; else the
NUL pattern of UTF-16/32 without a mark; else strict UTF-8 over the first MiB; else charset-normalizer
on the first 64 KiB (imported only then, so the common UTF-8 path never loads it).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import os
import posixpath
import re
import zipfile
from dataclasses import dataclass, asdict
from pathlib import Path
from typing import Any
from zlib import error as zlib_error

from ade_engine.errors import InputError

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # local header; empty-archive end record
TEXT_SUFFIXES = {".csv", ".tsv", ".txt"}
SUPPORTED = "supported inputs are .xlsx and .xlsm workbooks and .csv/.tsv/.txt text files"
CSV_DELIMITERS = ",;\t|"
ENCODING_PROBE_BYTES = 1024 * 1024
DETECTOR_SAMPLE_BYTES = 64 * 1024
DELIMITER_PROBE_BYTES = 64 * 1024
BOMS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)
# Single-byte Latin code pages the detector cannot tell apart on short Western text (French read as
# cp1250 gives 'trčs'). When windows-1252 fits the sample too, it is taken: it is what Excel and most
# Western exports write, and the spec's fallback.
_LATIN_SINGLE_BYTE = {"cp1250", "cp1252", "cp1254", "cp1257", "latin_1", "iso8859_15", "iso8859_2", "iso8859_4",
                      "iso8859_9", "iso8859_10", "iso8859_13", "iso8859_14", "iso8859_16", "mac_latin2", "mac_roman",
                      "mac_iceland", "mac_turkish", "cp437", "cp775", "cp850", "cp852", "cp858", "cp1125"}
ENCODING_EXAMPLES = "utf-8, utf-16, windows-1252, windows-1250, shift_jis, gb18030"
# Sheet XML that inflates this much or more is counted before any parser sees it (zip budget, below).
CELL_COUNT_RATIO = 50
# A sheet may hold at most this many cells per compressed byte of its XML once it holds over
# CELL_DENSITY_FLOOR cells. Real writers need about 2 bytes per cell (xlsxwriter, constant values:
# 1.9; mixed values: 5.4), so 4 cells a byte is only reached by XML crafted to inflate.
CELL_DENSITY_MAX = 4
CELL_DENSITY_FLOOR = 1_000_000
# Bytes that text never holds (C0 controls but tab, line feed, form feed, carriage return, escape).
_NOT_CONTROL = bytes(b for b in range(256) if not (b < 0x20 and b not in b"\t\n\x0b\x0c\r\x1b"))
PROLOG_MAX_BYTES = 64 * 1024
_ROOT_TAG = re.compile(rb"<[A-Za-z_]")  # the first element: a DTD can only come before it
_CELL_TAGS = (b"<c ", b"<c>", b"<c/>", b":c ", b":c>", b":c/>")  # <c …>, also with a prefix (<x:c …>)
_OFFICE_DOCUMENT_RELS = (
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument",
    "http://purl.oclc.org/ooxml/officeDocument/relationships/officeDocument",
)


@dataclass(frozen=True)
class InputInfo:
    """What the gate learned about an input file."""

    format: str  # "xlsx" | "xlsm" | "csv"
    size_bytes: int
    sha256: str
    original_name: str
    encoding: str | None = None  # CSV only: codec name, e.g. "utf-8", "utf-16", "windows-1252", "cp932"
    delimiter: str | None = None  # CSV only
    encoding_confidence: float | None = None  # CSV only: 1.0 for a mark or valid UTF-8; the detector's score
    encoding_source: str | None = None  # CSV only: "override" | "manifest" | "bom" | "detected"
    workbook_part: str | None = None  # workbook only: zip member of the workbook part (from _rels/.rels)

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
    encoding: str | None = None,
    encoding_source: str = "override",
    sniff_text: bool = True,
) -> InputInfo:
    """Sniff `path` by its bytes and check the budgets; return `InputInfo` or raise `InputError`.

    `encoding` overrides the detection of a text file's encoding (`encoding_source` says who asked:
    "override" or "manifest"). `sniff_text=False` skips the encoding and delimiter of a text file
    (registering a document needs only its type; the job finds the rest with its own options).
    """
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
        fmt, part = _check_zip(p, name, max_uncompressed_mb=max_uncompressed_mb, max_ratio=max_ratio,
                               max_members=max_members)
        return InputInfo(format=fmt, size_bytes=size, sha256=_sha256(p), original_name=name, workbook_part=part)
    if head.startswith(OLE2_MAGIC):
        raise _ole2_error(p, name)
    if suffix in TEXT_SUFFIXES:
        if not sniff_text:
            return InputInfo(format="csv", size_bytes=size, sha256=_sha256(p), original_name=name)
        enc, confidence, source = sniff_encoding(p, name, override=encoding, override_source=encoding_source)
        delimiter = "\t" if suffix == ".tsv" else _sniff_delimiter(p, enc)
        return InputInfo(format="csv", size_bytes=size, sha256=_sha256(p), original_name=name,
                         encoding=enc, delimiter=delimiter, encoding_confidence=confidence, encoding_source=source)
    if suffix in (".xlsx", ".xlsm") and head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise _unsupported(name, "this file is UTF-16 text, not a workbook",
                           "Rename it to .csv (or .tsv if it is tab-separated) to read it as text.")
    what = _describe_bytes(p)
    raise _unsupported(name, f"this file is {what}, not a workbook",
                       "Open it in its program and save or export it as .xlsx or .csv.")


def _sha256(p: Path) -> str:
    h = hashlib.sha256()
    with p.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_zip(p: Path, name: str, *, max_uncompressed_mb: int, max_ratio: int,
               max_members: int) -> tuple[str, str]:
    """Budget the archive from its central directory, find its workbook part and classify it.

    Returns (format, workbook part). Nothing is inflated but the small package parts and, for sheet
    XML that would inflate `CELL_COUNT_RATIO`:1 or more, a count of its cells (never kept in memory).
    """
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
    if "[Content_Types].xml" not in names:
        raise _unsupported(name, f"this file is {_describe_zip(names)}, not an Excel workbook")
    try:
        with zipfile.ZipFile(p) as zf:
            part = workbook_part(zf, names)
            content_type = _content_type(zf, part) if part else None
            kind = _workbook_kind(part, content_type, names)
            if kind is None or part is None:
                what = _describe_content_type(content_type) or _describe_zip(names)
                raise _unsupported(name, f"this file is {what}, not an Excel workbook")
            for info in infos:
                _check_prolog(zf, info, name)
                _check_cell_density(zf, info, name)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib_error) as exc:
        raise _unreadable(name, f"the workbook's package parts are damaged ({exc}). Re-save the file in Excel "
                                "and re-submit it.") from exc
    return kind, part


def workbook_part(zf: zipfile.ZipFile, names: set[str] | None = None) -> str | None:
    """Zip member of the workbook part: the package relationship `officeDocument` in `_rels/.rels`
    (how Excel, LibreOffice, openpyxl and calamine find it), else `xl/workbook.xml`; None if neither."""
    names = names if names is not None else set(zf.namelist())
    target = None
    if "_rels/.rels" in names:
        target = _office_document_target(_small_member(zf, "_rels/.rels"))
    if target and target in names:
        return target
    return "xl/workbook.xml" if "xl/workbook.xml" in names else None


def _office_document_target(rels_xml: bytes | None) -> str | None:
    if not rels_xml:
        return None
    from defusedxml import ElementTree as ET

    try:
        root = ET.fromstring(rels_xml)
    except Exception:  # a damaged or hostile _rels/.rels: fall back to the usual layout
        return None
    for rel in root:
        if rel.get("Type") in _OFFICE_DOCUMENT_RELS and rel.get("TargetMode", "Internal") == "Internal":
            return resolve_part("", rel.get("Target") or "")
    return None


def resolve_part(base_dir: str, target: str) -> str:
    """Zip member named by a relationship target: absolute (`/x/y.xml`) or relative to `base_dir`."""
    target = target.replace("\\", "/")
    joined = target.lstrip("/") if target.startswith("/") else posixpath.join(base_dir, target)
    return posixpath.normpath(joined).lstrip("/") if joined else joined


def _small_member(zf: zipfile.ZipFile, member: str, limit: int = 4 * 1024 * 1024) -> bytes | None:
    """A package part of at most `limit` bytes (never inflate a suspicious manifest), else None."""
    try:
        info = zf.getinfo(member)
    except KeyError:
        return None
    if info.file_size > limit:
        return None
    return zf.read(info)


def _content_type(zf: zipfile.ZipFile, part: str) -> str | None:
    """The content type [Content_Types].xml gives `part` (its Override, else its extension's Default)."""
    data = _small_member(zf, "[Content_Types].xml")
    if not data:
        return None
    from defusedxml import ElementTree as ET

    try:
        root = ET.fromstring(data)
    except Exception:
        return None
    default = None
    ext = part.rsplit(".", 1)[-1].lower() if "." in part else ""
    for el in root:
        tag = el.tag.rsplit("}", 1)[-1]
        if tag == "Override" and (el.get("PartName") or "").lstrip("/").lower() == part.lower():
            return el.get("ContentType")
        if tag == "Default" and (el.get("Extension") or "").lower() == ext:
            default = el.get("ContentType")
    return default


def _workbook_kind(part: str | None, content_type: str | None, names: set[str]) -> str | None:
    """"xlsx" or "xlsm" for a workbook part we read; None when the package is something else."""
    if part is None:
        return None
    ct = (content_type or "").lower()
    macro = "macroenabled" in ct or any(n.rsplit("/", 1)[-1].lower() == "vbaproject.bin" for n in names)
    if ".binary." in ct:
        return None
    # The usual layout is trusted as before, whatever its content types say; a moved one must say it.
    if part == "xl/workbook.xml" or ("spreadsheetml" in ct or "ms-excel" in ct):
        return "xlsm" if macro else "xlsx"
    return None


def _describe_content_type(content_type: str | None) -> str | None:
    ct = (content_type or "").lower()
    if "wordprocessingml" in ct:
        return "a Word document (.docx)"
    if "presentationml" in ct:
        return "a PowerPoint presentation (.pptx)"
    if ".binary." in ct:
        return "an Excel binary workbook (.xlsb)"
    return None


def _check_prolog(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> None:
    """Refuse an XML part that declares a DTD: Office Open XML never does, and entity declarations are how
    billion-laughs and external-entity (XXE) attacks work. Only the prolog is read (at most 64 KiB)."""
    if not info.filename.lower().endswith((".xml", ".rels", ".vml")) or info.file_size == 0:
        return
    head = b""
    with zf.open(info) as fh:
        while len(head) < PROLOG_MAX_BYTES:
            chunk = fh.read(4096)
            if not chunk:
                break
            head += chunk
            if _ROOT_TAG.search(head.replace(b"\0", b"")):
                break
    flat = head.replace(b"\0", b"")  # UTF-16 parts: the markup is ASCII with NULs between
    root = _ROOT_TAG.search(flat)
    prolog = flat[: root.start()] if root else flat
    if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
        raise _unreadable(
            name, f"unsafe XML: the part {info.filename!r} declares a DTD (<!DOCTYPE>/<!ENTITY>), which no Excel "
                  "workbook does; it is how entity-expansion (billion laughs) and external-entity (XXE) attacks work. "
                  "The file was not read.", budget="xml_dtd", member=info.filename)


def _check_cell_density(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> None:
    """Cell budget of XML that inflates `CELL_COUNT_RATIO`:1 or more: count its cells while inflating (stops
    as soon as the budget is passed) and refuse more than `CELL_DENSITY_MAX` cells per compressed byte beyond
    `CELL_DENSITY_FLOOR` cells. Real sheets compress far less, so they are never counted."""
    if (info.compress_type == zipfile.ZIP_STORED or not info.filename.lower().endswith(".xml")
            or info.file_size < 1024 * 1024 or info.file_size < CELL_COUNT_RATIO * max(info.compress_size, 1)):
        return
    budget = max(CELL_DENSITY_FLOOR, CELL_DENSITY_MAX * info.compress_size)
    cells, tail = 0, b""
    with zf.open(info) as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            buf = tail + chunk
            # Tags are counted with bytes.count (memchr speed); one cut at the chunk end is counted next time.
            body, tail = buf[:-3], buf[-3:]
            cells += sum(body.count(tag) for tag in _CELL_TAGS)
            if cells > budget:
                raise _unreadable(
                    name,
                    f"sheet {info.filename!r} holds over {budget:,} cells in {info.compress_size:,} compressed "
                    f"bytes (more than {CELL_DENSITY_MAX} cells a byte; real sheets need about 2 bytes a cell). "
                    "The file is crafted to inflate; it was not read.",
                    budget="cells", limit=budget, member=info.filename,
                )


def _describe_zip(names: set[str]) -> str:
    if "mimetype" in names and any(n.startswith("META-INF/") for n in names) and "content.xml" in names:
        return "an OpenDocument file (.ods/.odt)"
    if "word/document.xml" in names:
        return "a Word document (.docx)"
    if "ppt/presentation.xml" in names:
        return "a PowerPoint presentation (.pptx)"
    if "xl/workbook.bin" in names:
        return "an Excel binary workbook (.xlsb)"
    return "a plain zip archive (no workbook part: neither _rels/.rels nor xl/workbook.xml names one)"


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


def normalize_encoding(name: str, *, file: str = "") -> str:
    """The recorded name of a text encoding (`cp1252` → `windows-1252`, `sjis` → `shift_jis`).

    Raises `InputError` (`input_encoding`) for a name Python does not know or a non-text codec (base64…).
    """
    where = f"{file}: " if file else ""
    try:
        info = codecs.lookup(str(name).strip())
    except (LookupError, TypeError, ValueError):
        raise InputError(f"{where}unknown text encoding {name!r}; use a name such as {ENCODING_EXAMPLES}.",
                         code="input_encoding", details={"encoding": str(name)}) from None
    if not getattr(info, "_is_text_encoding", True):
        raise InputError(f"{where}{name!r} is not a text encoding; use a name such as {ENCODING_EXAMPLES}.",
                         code="input_encoding", details={"encoding": str(name)})
    return _recorded_name(info.name)


def _recorded_name(codec_name: str) -> str:
    n = codecs.lookup(codec_name).name
    m = re.fullmatch(r"cp(125\d)", n)
    return f"windows-{m.group(1)}" if m else n


def text_codec(encoding: str) -> str:
    """The codec that reads a file recorded as `encoding` (UTF-8 tolerates and drops a BOM)."""
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


_SOURCE_TEXT = {"override": "given with --encoding", "manifest": "set by engine.input.encoding in the manifest",
                "bom": "from the file's byte-order mark", "detected": "detected from the first bytes"}


def encoding_error(name: str, encoding: str, source: str | None, *, line: int, offset: int, bad: bytes) -> InputError:
    """`input_encoding`: the bytes at `offset` (on `line`) do not decode in `encoding`; nothing is read further."""
    shown = " ".join(f"0x{b:02X}" for b in bad[:4]) or "the last bytes"
    how = _SOURCE_TEXT.get(source or "", "")
    hint = ("give the file's real encoding with --encoding NAME (ade run, ade job submit) or engine.input.encoding "
            f"in the manifest (e.g. {ENCODING_EXAMPLES}), or re-save the file as UTF-8")
    if source in ("override", "manifest"):
        hint = "check the encoding you gave; " + hint
    return InputError(
        f"{name}: line {line:,} (byte {offset:,}) holds {shown}, which is not valid {encoding}"
        f"{f' (encoding {how})' if how else ''}. Reading it anyway would garble the text, so nothing was read: "
        f"{hint}.",
        code="input_encoding",
        details={"file": name, "encoding": encoding, "encoding_source": source, "line": line, "byte_offset": offset},
    )


def _check_decodes(probe: bytes, encoding: str, name: str, source: str, *, final: bool) -> None:
    try:
        # final=False: a multi-byte character cut at the probe boundary is not an error.
        codecs.getincrementaldecoder(text_codec(encoding))("strict").decode(probe, final=final)
    except UnicodeDecodeError as exc:
        prefix = probe[: exc.start].decode(text_codec(encoding), errors="replace")
        raise encoding_error(name, encoding, source, line=prefix.count("\n") + 1, offset=exc.start,
                             bad=probe[exc.start:exc.end]) from None


def _nul_pattern(head: bytes) -> str | None:
    """UTF-16/UTF-32 without a byte-order mark, from where the NUL bytes of mostly-ASCII text fall."""
    n = len(head) - len(head) % 4
    if n < 8 or b"\0" not in head[:n]:
        return None
    lanes = [head[i:n:4].count(0) / (n // 4) for i in range(4)]
    if lanes[1] > 0.9 and lanes[2] > 0.9 and lanes[3] > 0.9 and lanes[0] < 0.5:
        return "utf-32-le"
    if lanes[0] > 0.9 and lanes[1] > 0.9 and lanes[2] > 0.9 and lanes[3] < 0.5:
        return "utf-32-be"
    even, odd = (lanes[0] + lanes[2]) / 2, (lanes[1] + lanes[3]) / 2
    if odd > 0.4 and even < 0.05:
        return "utf-16-le"
    if even > 0.4 and odd < 0.05:
        return "utf-16-be"
    return None


def sniff_encoding(p: Path, name: str, *, override: str | None = None,
                   override_source: str = "override") -> tuple[str, float | None, str]:
    """(encoding, confidence, source) of a text file, from its first MiB; `InputError` when it cannot be read."""
    with p.open("rb") as fh:
        probe = fh.read(ENCODING_PROBE_BYTES)
        whole = not fh.read(1)
    if override:
        enc = normalize_encoding(override, file=name)
        _check_decodes(probe, enc, name, override_source, final=whole)
        return enc, None, override_source
    for bom, enc in BOMS:
        if probe.startswith(bom):
            _check_decodes(probe, enc, name, "bom", final=whole)
            return enc, 1.0, "bom"
    head = probe[:64 * 1024]
    wide = _nul_pattern(head)
    if wide:
        _check_decodes(probe, wide, name, "detected", final=whole)
        return wide, 1.0, "detected"
    if len(head.translate(None, _NOT_CONTROL)) > max(8, len(head) // 20):
        raise _unsupported(name, "this file holds binary data (control bytes such as NUL), not text",
                           "Export the data as .csv or .xlsx and re-submit it.")
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(probe, final=whole)
        return "utf-8", 1.0, "detected"
    except UnicodeDecodeError:
        pass
    return _detect(probe, name, whole=whole)


def _detect(probe: bytes, name: str, *, whole: bool) -> tuple[str, float, str]:
    from charset_normalizer import from_bytes

    sample = probe[:DETECTOR_SAMPLE_BYTES]
    if len(probe) > len(sample) and b"\n" in sample[len(sample) // 2:]:
        sample = sample[: sample.rfind(b"\n") + 1]  # whole lines only: no character cut at the end
    results = from_bytes(sample)
    best = results.best()
    if best is None:
        raise InputError(
            f"{name}: the text encoding cannot be told from the file's first bytes (it is not UTF-8 and no "
            f"encoding fits them). Give it with --encoding NAME (ade run, ade job submit) or engine.input.encoding "
            f"in the manifest (e.g. {ENCODING_EXAMPLES}), or re-save the file as UTF-8.",
            code="input_encoding", details={"file": name})
    candidates = list(results)
    if best.encoding in _LATIN_SINGLE_BYTE and _decodes(probe, "cp1252", whole):
        enc = "windows-1252"
        rivals = {m.encoding for m in candidates if m.encoding in _LATIN_SINGLE_BYTE} | {"cp1252"}
    else:
        enc = _recorded_name(best.encoding)
        rivals = {m.encoding for m in candidates if m.chaos <= best.chaos + 0.01} | {best.encoding}
        # Outside the Latin code pages, two encodings that fit equally but read different text (a few
        # kanji read as Korean by cp949 or as Japanese by cp932) cannot be told apart: refuse, never guess.
        tied = [m for m in candidates if m.chaos <= best.chaos + 0.01 and m.coherence >= best.coherence - 0.01]
        readings = {str(m) for m in tied}
        if len(readings) > 1:
            named = ", ".join(f"{_recorded_name(m.encoding)}" + (f" ({m.language})" if m.language != "Unknown" else "")
                              for m in tied[:4])
            raise InputError(
                f"{name}: the text encoding is ambiguous: the first bytes read as different text in {named}. "
                f"Give it with --encoding NAME (ade run, ade job submit) or engine.input.encoding in the manifest, "
                f"or re-save the file as UTF-8.",
                code="input_encoding", details={"file": name, "candidates": [m.encoding for m in tied[:4]]})
    confidence = round(max(0.0, 1.0 - best.chaos) / len(rivals), 2)
    _check_decodes(probe, enc, name, "detected", final=whole)
    return enc, confidence, "detected"


def _decodes(data: bytes, codec: str, whole: bool) -> bool:
    try:
        codecs.getincrementaldecoder(codec)("strict").decode(data, final=whole)
        return True
    except UnicodeDecodeError:
        return False


def _sniff_delimiter(p: Path, encoding: str) -> str:
    codec = text_codec(encoding)
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
