from __future__ import annotations

from pathlib import Path

import pytest

from ade_engine.store import migrate
from ade_engine.store.db import make_engine, make_session_factory


@pytest.fixture
def engine(tmp_path: Path):
    eng = make_engine(f"sqlite:///{tmp_path / 'ade.sqlite'}")
    yield eng
    eng.dispose()


@pytest.fixture
def migrated(engine):
    migrate.upgrade(engine)
    return engine


@pytest.fixture
def sessions(migrated):
    return make_session_factory(migrated)
