"""Settings: ADE_ environment variables, defaults, one clear message per bad value."""

from __future__ import annotations

import base64

import pytest

from ade_engine.errors import AdeError
from ade_engine.settings import Settings, isolated_settings, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("ADE_"):
            monkeypatch.delenv(name)


def test_defaults_point_into_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ADE_DATA_DIR", str(tmp_path))
    s = load_settings()
    assert s.data_dir == tmp_path and s.db_url == f"sqlite:///{tmp_path / 'ade.sqlite'}"
    assert s.pip_cache_dir == tmp_path / "cache" / "pip"
    assert (s.max_concurrency, s.queue_size, s.worker_lease_seconds, s.sandbox) == (2, 1000, 30, "auto")
    assert (s.embedded_worker, s.runtime_network_allowed, s.safe_mode) == (True, False, False)
    assert (s.input_max_uncompressed_mb, s.input_max_ratio, s.reader_inmemory_max_mb) == (1024, 200, 64)


def test_default_data_dir_is_the_platform_user_dir():
    import platformdirs

    assert Settings().data_dir == __import__("pathlib").Path(platformdirs.user_data_dir("ade", appauthor=False))


def test_environment_values_are_parsed(monkeypatch, tmp_path):
    monkeypatch.setenv("ADE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ADE_MAX_CONCURRENCY", "4")
    monkeypatch.setenv("ADE_SAFE_MODE", "true")
    monkeypatch.setenv("ADE_SANDBOX", "basic")
    monkeypatch.setenv("ADE_DATABASE_URL", "postgresql://ade@db/ade")
    s = load_settings()
    assert (s.max_concurrency, s.safe_mode, s.sandbox, s.db_url) == (4, True, "basic", "postgresql://ade@db/ade")


def test_every_bad_value_is_named_in_one_message(monkeypatch):
    monkeypatch.setenv("ADE_MAX_CONCURRENCY", "0")
    monkeypatch.setenv("ADE_SANDBOX", "paranoid")
    monkeypatch.setenv("ADE_QUEUE_SIZE", "lots")
    monkeypatch.setenv("ADE_DATABASE_URL", "mysql://u:hunter2@h/db")
    with pytest.raises(AdeError) as err:
        load_settings()
    msg = err.value.message
    assert err.value.code == "settings_invalid" and "\n" not in msg
    for name in ("ADE_MAX_CONCURRENCY", "ADE_SANDBOX", "ADE_QUEUE_SIZE", "ADE_DATABASE_URL"):
        assert name in msg
    assert len(err.value.details["problems"]) == 4
    assert "hunter2" not in msg  # URLs may hold passwords: never echoed


def test_secrets_key_is_checked_but_never_echoed(monkeypatch):
    monkeypatch.setenv("ADE_SECRETS_KEY", "k1:" + base64.b64encode(b"short-and-secret").decode())
    with pytest.raises(AdeError) as err:
        load_settings()
    assert "ADE_SECRETS_KEY" in err.value.message and "32 bytes" in err.value.message
    assert base64.b64encode(b"short-and-secret").decode() not in err.value.message
    monkeypatch.setenv("ADE_SECRETS_KEY", "k1:" + base64.b64encode(b"\1" * 32).decode())
    assert load_settings().secrets_key is not None


def test_isolated_settings_ignore_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ADE_MAX_CONCURRENCY", "0")
    s = isolated_settings(tmp_path, max_concurrency=3)
    assert s.max_concurrency == 3 and s.data_dir == tmp_path
    with pytest.raises(AdeError) as err:
        isolated_settings(tmp_path, worker_mem_mb=1)
    assert "worker_mem_mb" in err.value.message
