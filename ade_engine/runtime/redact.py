"""Secret redaction (secrets.md §6): every injected value, exact or encoded (URL, base64, hex) → `[redacted:<NAME>]`."""

from __future__ import annotations

import re
from typing import Any, Mapping
from urllib.parse import quote, quote_plus

_PCT = re.compile(r"%[0-9A-F]{2}")


# Below this many bytes, base64 and hex spellings are too short to look for without false alarms.
ENCODED_MIN_BYTES = 8


def value_forms(value: str) -> set[str]:
    """The exact value and the spellings of it that redaction looks for: URL-encoded (percent-encoding with
    and without `/` kept, `+` for spaces, upper- or lower-case hex) and, for values of 8 bytes or more,
    base64 (standard and URL-safe, at each of the three alignments it can take inside a longer text) and
    hex (lower and upper case)."""
    encoded = {quote(value, safe=""), quote(value), quote_plus(value, safe=""), quote_plus(value)}
    forms = {value} | encoded | {_PCT.sub(lambda m: m.group(0).lower(), form) for form in encoded}
    raw = value.encode("utf-8")
    if len(raw) >= ENCODED_MIN_BYTES:
        forms |= {raw.hex(), raw.hex().upper()}
        forms |= base64_forms(raw)
    return {form for form in forms if form}


def base64_forms(raw: bytes) -> set[str]:
    """The base64 text that `raw` turns into wherever it sits in a longer input: for each alignment, only the
    4-character groups made entirely of `raw`'s bytes (standard and URL-safe alphabets)."""
    import base64

    forms = set()
    for lead in range(3):
        start_group = (lead + 2) // 3  # first 3-byte group that begins inside `raw`
        end_group = (lead + len(raw)) // 3  # groups that end inside `raw`
        if end_group - start_group < 2:
            continue
        text = base64.b64encode(b"\0" * lead + raw).decode("ascii")[4 * start_group:4 * end_group]
        forms.add(text)
        forms.add(text.replace("+", "-").replace("/", "_"))
    return forms


class Redactor:
    """Replaces secret values in text. Falsy when there is nothing to redact (no secrets)."""

    def __init__(self, secrets: Mapping[str, str] | None = None):
        forms: dict[str, str] = {}
        for name in sorted(secrets or {}):
            value = (secrets or {})[name]
            if not isinstance(value, str) or not value:
                continue
            for form in sorted(value_forms(value)):
                forms.setdefault(form, f"[redacted:{name}]")
        # Longest first: a value that contains another value is replaced whole.
        self._pairs = sorted(forms.items(), key=lambda kv: (-len(kv[0]), kv[0]))

    def __bool__(self) -> bool:
        return bool(self._pairs)

    @property
    def longest_form(self) -> int:
        """Length of the longest form looked for: what a stream filter must carry between windows."""
        return max((len(needle) for needle, _ in self._pairs), default=1)

    def __call__(self, text: str) -> str:
        return self.text(text)

    def text(self, text: str) -> str:
        """`text` with every secret value replaced by its marker."""
        for needle, marker in self._pairs:
            if needle in text:
                text = text.replace(needle, marker)
        return text

    def contains(self, text: str) -> list[str]:
        """Names of the secrets whose value (in any form) occurs in `text`, in name order."""
        found = {marker[len("[redacted:"):-1] for needle, marker in self._pairs if needle in text}
        return sorted(found)

    def deep(self, obj: Any) -> Any:
        """A copy of a JSON-like structure with every string (keys included) redacted."""
        if not self._pairs:
            return obj
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, Mapping):
            return {self.deep(k) if isinstance(k, str) else k: self.deep(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.deep(v) for v in obj]
        return obj


def redact(text: str, secrets: Mapping[str, str] | None) -> str:
    """One-off form of `Redactor(secrets).text(text)`."""
    return Redactor(secrets).text(text)
