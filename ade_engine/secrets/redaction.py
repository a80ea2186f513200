"""Replace injected secret values with `[redacted:<NAME>]` (secrets.md §6).

Covers each value's exact text and its URL-encoded forms (percent-encoding with upper- or lower-case hex,
`+` for spaces). It is a safety net for accidents: hashes, fragments or other transformations are not found.
Only the standard library is used, so the job-side runtime can adopt the same rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, quote_plus

WINDOW_BYTES = 64 * 1024
_PCT = re.compile(r"%[0-9A-F]{2}")


def marker(name: str) -> str:
    return f"[redacted:{name}]"


def value_forms(value: str) -> set[str]:
    """The exact value and the URL-encoded spellings of it that redaction looks for."""
    encoded = {quote(value, safe=""), quote(value), quote_plus(value, safe=""), quote_plus(value)}
    forms = {value} | encoded | {_PCT.sub(lambda m: m.group(0).lower(), form) for form in encoded}
    return {form for form in forms if form}


class Redactor:
    """Redacts a fixed set of named values from text, bytes and JSON-like objects."""

    def __init__(self, values: Mapping[str, str]):
        by_form: dict[str, str] = {}
        for name, value in values.items():
            if not value:
                continue
            for form in sorted(value_forms(value)):
                by_form.setdefault(form, name)
        self.names = sorted({name for name in by_form.values()})
        # Longest first so a value that contains another is replaced whole.
        ordered = sorted(by_form, key=lambda form: (-len(form.encode("utf-8")), form))
        self._by_text = by_form
        self._by_bytes = {form.encode("utf-8"): name for form, name in by_form.items()}
        self._text_re = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self._bytes_re = re.compile(b"|".join(re.escape(f.encode("utf-8")) for f in ordered)) if ordered else None
        self.max_len_bytes = max((len(f) for f in self._by_bytes), default=0)

    def __repr__(self) -> str:
        return f"Redactor(names={self.names!r})"

    def __bool__(self) -> bool:
        return self._text_re is not None

    def redact(self, text: str) -> str:
        if self._text_re is None or not text:
            return text
        return self._text_re.sub(lambda m: marker(self._by_text[m.group(0)]), text)

    def redact_bytes(self, data: bytes) -> bytes:
        if self._bytes_re is None or not data:
            return data
        return self._bytes_re.sub(lambda m: marker(self._by_bytes[m.group(0)]).encode("ascii"), data)

    def names_in(self, text: str) -> set[str]:
        """Names of the secrets whose value (in any covered form) occurs in `text`."""
        if self._text_re is None or not text:
            return set()
        return {self._by_text[m.group(0)] for m in self._text_re.finditer(text)}

    def redact_obj(self, obj: Any) -> Any:
        """A copy of a JSON-like object with every string (keys included) redacted."""
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, Mapping):
            return {self.redact(k) if isinstance(k, str) else k: self.redact_obj(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return type(obj)(self.redact_obj(v) for v in obj)
        return obj

    def stream(self, *, window: int = WINDOW_BYTES) -> StreamRedactor:
        return StreamRedactor(self, window=window)


class StreamRedactor:
    """Redacts a byte stream (e.g. a job's output on its way to `logs/worker.log`).

    Whole lines are redacted at once. A line longer than `window` bytes is let out in windows, holding back a
    tail one byte shorter than the longest form, so a value split across writes or windows is still caught.
    `feed()` returns what is safe to write now; `close()` returns the rest.
    """

    def __init__(self, redactor: Redactor, *, window: int = WINDOW_BYTES):
        self.redactor = redactor
        self.window = max(window, redactor.max_len_bytes * 2, 1)
        self._buf = b""

    def feed(self, data: bytes) -> bytes:
        if not self.redactor:
            return bytes(data)
        self._buf += data
        out = bytearray()
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line, self._buf = self._buf[: nl + 1], self._buf[nl + 1 :]
                out += self.redactor.redact_bytes(line)
            elif len(self._buf) > self.window:
                out += self._let_out_window()
            else:
                return bytes(out)

    def close(self) -> bytes:
        rest, self._buf = self._buf, b""
        return self.redactor.redact_bytes(rest)

    def _let_out_window(self) -> bytes:
        buf = self._buf
        # Any match starting before `cut` ends inside `buf`, so it is found now; later ones wait for more data.
        cut = len(buf) - (self.redactor.max_len_bytes - 1)
        pieces: list[bytes] = []
        pos = 0
        pattern = self.redactor._bytes_re
        assert pattern is not None
        for m in pattern.finditer(buf):
            if m.start() >= cut:
                break
            pieces += [buf[pos : m.start()], marker(self.redactor._by_bytes[m.group(0)]).encode("ascii")]
            pos = m.end()
            cut = max(cut, pos)
        pieces.append(buf[pos:cut])
        self._buf = buf[cut:]
        return b"".join(pieces)
