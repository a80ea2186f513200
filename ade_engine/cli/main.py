"""`ade` — the command-line face of the engine. Thin: parse, call, print."""

from __future__ import annotations

import argparse
import importlib
import sys

from ade_engine import __version__
from ade_engine.errors import AdeError

# Each noun lives in its own module exposing `register(subparsers)`; handlers return an exit code.
COMMAND_MODULES = ("run", "config", "job", "doc", "worker", "gc", "secret", "doctor")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ade", description="ADE Workstation: normalize messy spreadsheets.")
    parser.add_argument("--version", action="version", version=f"ade {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"ade_engine.cli.{name}")
        except ModuleNotFoundError as exc:  # a noun not built yet
            if exc.name != f"ade_engine.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:  # `ade` alone on a terminal opens the workstation: see ade_tui/launch.py
        parser.print_help()
        return 0
    try:
        return int(handler(args) or 0)
    except AdeError as exc:
        if getattr(args, "json", False):
            import json

            print(json.dumps({"error": exc.to_dict()}))
        else:
            print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
