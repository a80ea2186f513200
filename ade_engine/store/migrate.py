"""Alembic, driven from code: works from an installed package (no alembic.ini, no working-directory magic).

`upgrade(engine)` migrates to head; `downgrade(engine, "base")` undoes everything; `current(engine)`
names the revision a database is at. For developers: `python -m ade_engine.store.migrate revision -m MSG`
writes a new revision file next to 0001.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# The newest revision in migrations/versions (a test holds it equal to Alembic's head). Every start compares
# the database with it; Alembic itself (a fifth of a second to import) is loaded only when there is work.
HEAD = "0002"


def alembic_config(engine: Engine | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
        cfg.attributes["engine"] = engine
    return cfg


def head() -> str:
    """Alembic's head revision, read from the migration scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head() or "base"


def current(engine: Engine) -> str | None:
    """The revision the database is at (`alembic_version`), or None for an empty database."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(rows) > 1:
        raise RuntimeError(f"the database has several Alembic heads ({', '.join(rows)}); repair alembic_version")
    return rows[0] if rows else None


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(engine), revision)


if __name__ == "__main__":  # pragma: no cover - developer tool
    from alembic.config import CommandLine

    cli = CommandLine(prog="python -m ade_engine.store.migrate")
    options = cli.parser.parse_args(sys.argv[1:])
    cfg = alembic_config()
    cfg.cmd_opts = options
    cli.run_cmd(cfg, options)
