"""Alembic, driven from code: works from an installed package (no alembic.ini, no working-directory magic).

`upgrade(engine)` migrates to head; `downgrade(engine, "base")` undoes everything; `current(engine)`
names the revision a database is at. For developers: `python -m ade_engine.store.migrate revision -m MSG`
writes a new revision file next to 0001.
"""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
        cfg.attributes["engine"] = engine
    return cfg


def head() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head() or "base"


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    command.downgrade(alembic_config(engine), revision)


if __name__ == "__main__":  # pragma: no cover - developer tool
    from alembic.config import CommandLine

    cli = CommandLine(prog="python -m ade_engine.store.migrate")
    options = cli.parser.parse_args(sys.argv[1:])
    cfg = alembic_config()
    cfg.cmd_opts = options
    cli.run_cmd(cfg, options)
