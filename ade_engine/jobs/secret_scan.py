"""After a job that was given secrets: find their values in every file it leaves behind (secrets.md §6).

The job process redacts what passes through ADE (its output, events, output cells), but a script can still
write a value into a file of its own, or print it in a spelling the live filter does not look for. At
finalization every file the job leaves in its job dir is scanned for each value in every spelling the
redactor knows (exact, URL-encoded, base64 at each alignment, hex) and in UTF-16, inside the zip parts of a
workbook too. ADE's own records (events, artifact, result, log) are redacted in place; any other file that
holds a value, the output workbook included, is removed. `tmp/` is removed anyway, and `config/`, `inputs/`
and `vendor` are ADE's copies, not job output, so they are not scanned.
"""

from __future__ import annotations

import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Mapping

from ade_engine.runtime.atomic import save_bytes_atomic
from ade_engine.runtime.jobfiles import UnsafeEntry, open_regular, read_bytes, unlink_entry
from ade_engine.runtime.redact import Redactor, value_forms

# Redacted in place (relative paths); any other file with a secret in it is removed.
RECORDS = ("events.ndjson", "artifact.json", "result.json", "logs/worker.log")
NOT_SCANNED = ("tmp", "config", "inputs", "vendor")
RECORD_MAX_BYTES = 512 * 1024 * 1024
_CHUNK = 1 << 20


@dataclass
class Finding:
    """A file that held a secret value: its path in the job dir, the secrets' names, and what was done."""

    path: str
    names: list[str]
    action: str  # "redacted" | "removed"

    def describe(self) -> str:
        return f"{self.path} ({', '.join(self.names)}; {self.action})"


def _needles(secrets: Mapping[str, str]) -> list[tuple[bytes, str]]:
    found: dict[bytes, str] = {}
    for name in sorted(secrets):
        value = secrets[name]
        if not isinstance(value, str) or not value:
            continue
        spellings = {form.encode("utf-8") for form in value_forms(value)}
        spellings |= {value.encode("utf-16-le"), value.encode("utf-16-be")}
        for needle in spellings:
            found.setdefault(needle, name)
    return sorted(found.items(), key=lambda kv: -len(kv[0]))


def _scan_stream(chunks: Iterator[bytes], needles: list[tuple[bytes, str]]) -> set[str]:
    keep = max((len(n) for n, _ in needles), default=1) - 1
    names: set[str] = set()
    tail = b""
    for chunk in chunks:
        window = tail + chunk
        for needle, name in needles:
            if name not in names and needle in window:
                names.add(name)
        tail = window[-keep:] if keep else b""
    return names


def _file_chunks(fd: int) -> Iterator[bytes]:
    while chunk := os.read(fd, _CHUNK):
        yield chunk


def _zip_chunks(fh: BinaryIO) -> Iterator[bytes]:
    """The decompressed bytes of every part of a zip (a workbook's sheet XML holds its cells compressed)."""
    with zipfile.ZipFile(fh) as zf:
        for info in zf.infolist():
            with zf.open(info) as part:
                while chunk := part.read(_CHUNK):
                    yield chunk
            yield b"\0"  # parts are separate texts: never match across two of them


def _scan_file(path: Path, needles: list[tuple[bytes, str]]) -> set[str]:
    with os.fdopen(open_regular(path, os.O_RDONLY), "rb") as fh:  # one descriptor for both passes
        names = _scan_stream(_file_chunks(fh.fileno()), needles)
        fh.seek(0)
        if fh.read(4) == b"PK\x03\x04":
            try:
                names |= _scan_stream(_zip_chunks(fh), needles)
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError):
                pass  # not a readable zip: its raw bytes were scanned above
    return names


def _job_files(job_dir: Path) -> Iterator[str]:
    """Relative paths of the regular files the job left (links and special files are not followed)."""
    for dirpath, dirnames, filenames in os.walk(job_dir):
        rel_dir = os.path.relpath(dirpath, job_dir)
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d not in NOT_SCANNED]
        for name in filenames:
            rel = name if rel_dir == "." else os.path.join(rel_dir, name)
            try:
                st = os.lstat(job_dir / rel)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                yield rel


def scan_job_dir(job_dir: str | os.PathLike[str], secrets: Mapping[str, str] | None) -> list[Finding]:
    """Scan a finalized (reclaimed) job dir for the given secret values; redact ADE's records in place and
    remove any other file that holds one. Returns what was found, in path order (empty without secrets)."""
    if not secrets:
        return []
    needles = _needles(secrets)
    if not needles:
        return []
    job_dir = Path(job_dir)
    redactor = Redactor(secrets)
    findings = []
    for rel in sorted(_job_files(job_dir)):
        path = job_dir / rel
        try:
            names = _scan_file(path, needles)
        except (UnsafeEntry, OSError):
            continue
        if not names:
            continue
        action = "removed"
        if rel in RECORDS:
            try:
                text = read_bytes(path, limit=RECORD_MAX_BYTES).decode("utf-8", "replace")
                save_bytes_atomic(path, redactor(text).encode("utf-8"))
                if not _scan_file(path, needles):
                    action = "redacted"
            except OSError:
                pass
        if action == "removed":
            unlink_entry(path)
        findings.append(Finding(rel, sorted(names), action))
    return findings
