"""Printing helpers shared by the CLI nouns: `--json`, one-line errors, tables.

Handlers print results with `emit(args, data, text)`; errors are raised as `AdeError` and printed by
`cli.main` as one line (`error: …` on stderr) or `{"error": {"code", "message", "details"}}` on stdout
with `--json`. Wrap a handler with `@guarded` so OS errors become `AdeError` too and messages stay on one line.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import functools
import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ade_engine.errors import AdeError

Handler = Callable[[argparse.Namespace], int]


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object (errors too)")


def to_jsonable(value: Any) -> Any:
    """pydantic models, dataclasses, paths, datetimes and bytes as plain JSON values."""
    if hasattr(value, "model_dump"):
        return to_jsonable(value.model_dump(mode="python"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def print_json(data: Any) -> None:
    print(json.dumps(to_jsonable(data), indent=2, ensure_ascii=False, sort_keys=False))


def emit(args: argparse.Namespace, data: Any, text: str | Callable[[], str] | None = None) -> None:
    """Print `data` as JSON under `--json`, else `text` (a string or a function making one)."""
    if getattr(args, "json", False):
        print_json(data)
        return
    out = text() if callable(text) else text
    if out:
        print(out)


def one_line(message: str) -> str:
    return " ".join(message.split())


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain left-aligned text table."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def short(hash_value: str | None, n: int = 12) -> str:
    return hash_value[:n] if hash_value else "-"


def guarded(handler: Handler) -> Handler:
    """Turn OS errors into `AdeError` (`io_error`) and keep every error message on one line."""

    @functools.wraps(handler)
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except AdeError as exc:
            if "\n" in exc.message:
                exc.message = one_line(exc.message)
                exc.args = (exc.message,)
            raise
        except BrokenPipeError:  # `ade config files X | head`: the reader left; cli.main ends quietly
            raise
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            raise AdeError(
                one_line(f"{exc.strerror or exc}{where}; check the path and its permissions"),
                code="io_error",
                details={"path": str(exc.filename) if exc.filename else None, "errno": exc.errno},
            ) from None

    return wrapper


def read_input_bytes(path: str | None) -> bytes:
    """Bytes of `path`, or of stdin when `path` is None or '-'."""
    if path in (None, "-"):
        return sys.stdin.buffer.read()
    return Path(path).read_bytes()
