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


# A reader that left early (`ade job list | head`): the exit status a shell shows for a program ended by
# SIGPIPE (128 + 13), as `git log | head` gives, so `set -o pipefail` scripts see what they see for any tool.
EXIT_BROKEN_PIPE = 141


def main(argv: list[str] | None = None) -> int:
    """Run one command; a closed stdout ends it quietly with `EXIT_BROKEN_PIPE` (no traceback, no message)."""
    try:
        try:
            return _main(argv)
        finally:  # also after --help/--version (SystemExit): a closed pipe shows here, not at interpreter exit
            sys.stdout.flush()
    except BrokenPipeError:
        _stdout_to_devnull()
        return EXIT_BROKEN_PIPE


def _stdout_to_devnull() -> None:
    """Point fd 1 at /dev/null so the interpreter's final flush of what is still buffered cannot fail."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout already closed or replaced by something without a descriptor
        pass


def _main(argv: list[str] | None) -> int:
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
