"""Alembic environment: uses the engine handed over by `ade_engine.store.migrate` (pragmas included)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from ade_engine.store.db import make_engine
from ade_engine.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(engine: Engine) -> None:
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            transactional_ddl=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = config.attributes.get("engine") or make_engine(config.get_main_option("sqlalchemy.url"))
    _run(engine)
