"""The `ade` command: the workstation when run bare on a terminal, otherwise the engine's CLI.

It lives here, not in `ade_engine.cli`, so that the engine never depends on the workstation.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args and sys.stdin.isatty() and sys.stdout.isatty():
        from ade_tui.app import main as workstation

        return workstation([])
    from ade_engine.cli.main import main as cli

    return cli(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
