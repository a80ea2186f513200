"""The encrypted store as a user meets it through the service layer: set, resolve, tamper, delete, audit."""

from __future__ import annotations

import sqlite3

import pytest
from pkgfactory import BASE_MANIFEST, deep_merge, write_package
from secrets_world import OTHER, TOKEN, scan_tree

from ade_engine.errors import AdeError
from ade_engine.services import configs
from ade_engine.services import secrets as svc
from ade_engine.settings import isolated_settings


def manifest(*names: str, requested: tuple[str, ...] | None = None, enabled: bool = True) -> dict:
    req = list(names if requested is None else requested)
    return deep_merge(BASE_MANIFEST, {
        "secrets": list(names),
        "hooks": {"after_mapping": [{"script": "hooks/h.py", "secrets": req, "enabled": enabled}]},
    })


def db_rows(ws, sql: str) -> list[tuple]:
    con = sqlite3.connect(ws.settings.data_dir / "ade.sqlite")
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def db_exec(ws, sql: str, *params) -> None:
    con = sqlite3.connect(ws.settings.data_dir / "ade.sqlite")
    try:
        con.execute(sql, params)
        con.commit()
    finally:
        con.close()


@pytest.fixture
def config_id(ws, tmp_path) -> str:
    return configs.import_package(ws, write_package(tmp_path / "prices")).config_id


def test_round_trip_and_nothing_in_clear_on_disk(ws, settings):
    info = svc.set_secret(ws, "API_TOKEN", TOKEN)
    assert (info.name, info.scope, info.version) == ("API_TOKEN", "workspace", 1)
    assert info.key_id and info.created_by
    assert svc.secrets_for_job(ws, config_id="prices", manifest=manifest("API_TOKEN"), job_id="J1") == {
        "API_TOKEN": TOKEN}
    ws.close()
    # Database, WAL and key file: the value appears nowhere in any spelling.
    assert scan_tree(settings.data_dir, TOKEN) == []
    (ciphertext,) = db_rows(ws, "select ciphertext from secrets")[0]
    assert ciphertext.startswith(f"ade-secret:v1:{info.key_id}:")


def test_new_version_wins_and_old_version_stays_for_audit(ws):
    svc.set_secret(ws, "API_TOKEN", "first-value-1")
    info = svc.set_secret(ws, "API_TOKEN", TOKEN)
    assert info.version == 2
    assert svc.secrets_for_job(ws, config_id="x", manifest=manifest("API_TOKEN"), job_id=None)["API_TOKEN"] == TOKEN
    assert [r[0] for r in db_rows(ws, "select version from secrets order by version")] == [1, 2]
    assert [i.version for i in svc.list_secrets(ws)] == [2]


def test_config_scope_wins_over_workspace_scope(ws, config_id):
    svc.set_secret(ws, "API_TOKEN", OTHER)
    svc.set_secret(ws, "API_TOKEN", TOKEN, config_id=config_id)
    m = manifest("API_TOKEN")
    assert svc.secrets_for_job(ws, config_id=config_id, manifest=m, job_id=None) == {"API_TOKEN": TOKEN}
    assert svc.secrets_for_job(ws, config_id="another", manifest=m, job_id=None) == {"API_TOKEN": OTHER}
    scopes = {(i.scope, i.version) for i in svc.list_secrets(ws)}
    assert scopes == {("workspace", 1), (config_id, 1)}


def test_config_scope_needs_an_existing_config(ws):
    with pytest.raises(AdeError) as err:
        svc.set_secret(ws, "API_TOKEN", TOKEN, config_id="nope")
    assert err.value.code == "not_found"


def test_only_requested_names_of_enabled_scripts_are_decrypted(ws):
    svc.set_secret(ws, "API_TOKEN", TOKEN)
    svc.set_secret(ws, "OTHER_TOKEN", OTHER)
    got = svc.secrets_for_job(ws, config_id="c", manifest=manifest("API_TOKEN", "OTHER_TOKEN",
                                                                   requested=("OTHER_TOKEN",)), job_id="J2")
    assert got == {"OTHER_TOKEN": OTHER}
    assert svc.secrets_for_job(ws, config_id="c", manifest=manifest("API_TOKEN", enabled=False), job_id="J3") == {}
    injected = [(e.name, e.job_id) for e in svc.audit_log(ws) if e.action == "inject"]
    assert injected == [("OTHER_TOKEN", "J2")]


def test_nothing_requested_touches_no_key(tmp_path, empty_samples):
    # A key source that cannot be used at all: a job that requests nothing must not notice.
    settings = isolated_settings(tmp_path / "d", sample_configs_dir=empty_samples,
                                 secrets_keyring=tmp_path / "missing.json")
    from ade_engine.services.workspace import open_workspace

    with open_workspace(settings) as ws:
        assert svc.secrets_for_job(ws, config_id="c", manifest=manifest("API_TOKEN", requested=()),
                                   job_id="J") == {}
        with pytest.raises(AdeError) as err:
            svc.secrets_for_job(ws, config_id="c", manifest=manifest("API_TOKEN"), job_id="J")
        assert err.value.code == "secrets_unavailable"


def test_last_used_is_recorded(ws):
    svc.set_secret(ws, "API_TOKEN", TOKEN)
    svc.secrets_for_job(ws, config_id="c", manifest=manifest("API_TOKEN"), job_id="01JOBJOBJOBJOBJOBJOBJOBJOB")
    (info,) = svc.list_secrets(ws)
    assert info.last_used_job_id == "01JOBJOBJOBJOBJOBJOBJOBJOB" and info.last_used_at is not None


def test_tampered_ciphertext_fails_the_job_and_is_audited(ws):
    svc.set_secret(ws, "API_TOKEN", TOKEN)
    (ct,) = db_rows(ws, "select ciphertext from secrets")[0]
    flipped = ct[:-3] + ("A" if ct[-3] != "A" else "B") + ct[-2:]
    db_exec(ws, "update secrets set ciphertext = ?", flipped)
    with pytest.raises(AdeError) as err:
        svc.secrets_for_job(ws, config_id="c", manifest=manifest("API_TOKEN"), job_id="J9")
    assert err.value.code == "secrets_unavailable"
    assert "API_TOKEN" in err.value.message and TOKEN not in err.value.message
    failed = [e for e in svc.audit_log(ws) if e.action == "decrypt_failed"]
    assert [(e.name, e.job_id) for e in failed] == [("API_TOKEN", "J9")]


def test_ciphertext_moved_to_another_name_or_version_does_not_decrypt(ws):
    svc.set_secret(ws, "API_TOKEN", TOKEN)
    svc.set_secret(ws, "OTHER_TOKEN", OTHER)
    (ct,) = db_rows(ws, "select ciphertext from secrets where name = 'API_TOKEN'")[0]
    db_exec(ws, "update secrets set ciphertext = ? where name = 'OTHER_TOKEN'", ct)
    with pytest.raises(AdeError) as err:
        svc.secrets_for_job(ws, config_id="c", manifest=manifest("OTHER_TOKEN"), job_id=None)
    assert err.value.code == "secrets_unavailable"
    # Same name, next version: the version is bound too.
    svc.set_secret(ws, "API_TOKEN", OTHER)
    db_exec(ws, "update secrets set ciphertext = ? where name = 'API_TOKEN' and version = 2", ct)
    with pytest.raises(AdeError):
        svc.secrets_for_job(ws, config_id="c", manifest=manifest("API_TOKEN"), job_id=None)


def test_missing_value_fails_before_anything_is_decrypted(ws):
    svc.set_secret(ws, "API_TOKEN", TOKEN)
    with pytest.raises(AdeError) as err:
        svc.secrets_for_job(ws, config_id="c", manifest=manifest("API_TOKEN", "OTHER_TOKEN"), job_id="J")
    assert err.value.code == "secrets_unavailable" and err.value.details["names"] == ["OTHER_TOKEN"]
    assert not [e for e in svc.audit_log(ws) if e.action == "inject"]


def test_delete_erases_every_version_and_setting_again_continues_numbering(ws):
    svc.set_secret(ws, "API_TOKEN", "first-value-1")
    svc.set_secret(ws, "API_TOKEN", TOKEN)
    assert svc.remove_secret(ws, "API_TOKEN") == 2
    assert db_rows(ws, "select count(*), count(ciphertext), count(deleted_at) from secrets") == [(2, 0, 2)]
    assert [i.status for i in svc.list_secrets(ws)] == []
    with pytest.raises(AdeError):
        svc.secrets_for_job(ws, config_id="c", manifest=manifest("API_TOKEN"), job_id=None)
    with pytest.raises(AdeError) as err:
        svc.remove_secret(ws, "API_TOKEN")
    assert err.value.code == "secrets.not_found"
    assert svc.set_secret(ws, "API_TOKEN", OTHER).version == 3
    assert svc.secrets_for_job(ws, config_id="c", manifest=manifest("API_TOKEN"), job_id=None) == {"API_TOKEN": OTHER}


@pytest.mark.parametrize("name,value,code", [
    ("api token", TOKEN, "secrets.name"),
    ("API_TOKEN", "qz7#k", "secrets.value_length"),
    ("API_TOKEN", "x" * 4097, "secrets.value_length"),
])
def test_bad_names_and_values_are_refused_without_echoing_the_value(ws, name, value, code):
    with pytest.raises(AdeError) as err:
        svc.set_secret(ws, name, value)
    assert err.value.code == code and value not in err.value.message
    assert db_rows(ws, "select count(*) from secrets") == [(0,)]


def test_audit_trail_names_actions_never_values(ws):
    svc.set_secret(ws, "API_TOKEN", TOKEN)
    svc.secrets_for_job(ws, config_id="c", manifest=manifest("API_TOKEN"), job_id="J1")
    svc.remove_secret(ws, "API_TOKEN")
    actions = [(e.action, e.name, e.version) for e in reversed(svc.audit_log(ws))]
    assert actions == [("set", "API_TOKEN", 1), ("inject", "API_TOKEN", 1), ("delete", "API_TOKEN", 1)]
    assert all(e.actor for e in svc.audit_log(ws))
    rows = db_rows(ws, "select * from secret_audit")
    assert TOKEN not in repr(rows)


def test_listing_shows_who_requests_and_what_is_unset(ws, tmp_path):
    pkg = write_package(tmp_path / "needs", manifest={
        "secrets": ["API_TOKEN", "OTHER_TOKEN"],
        "hooks": {"after_mapping": [{"script": "hooks/h.py", "secrets": ["API_TOKEN", "OTHER_TOKEN"]}]},
    }, files={"hooks/h.py": "def run(**_):\n    return None\n"})
    cid = configs.import_package(ws, pkg).config_id
    svc.set_secret(ws, "API_TOKEN", TOKEN)
    listing = {i.name: i for i in svc.list_secrets(ws)}
    assert listing["API_TOKEN"].requested_by == [cid] and listing["API_TOKEN"].status == "ok"
    assert listing["OTHER_TOKEN"].status == "unset" and listing["OTHER_TOKEN"].version is None
    assert svc.unset_requested(ws, cid, manifest("API_TOKEN", "OTHER_TOKEN")) == ["OTHER_TOKEN"]


def test_unknown_key_is_surfaced_by_listing_and_the_check(ws, settings):
    svc.set_secret(ws, "API_TOKEN", TOKEN)
    key_file = settings.keys_dir / "keyring.json"
    key_file.unlink()  # the key set is gone (e.g. a data dir restored without its keys)
    ws2_settings = settings
    (info,) = svc.list_secrets(ws)
    # Listing creates nothing, so with no key file the source is reported instead.
    assert info.status in ("secrets.key_source", "secrets.unknown_key")
    svc.set_secret(ws, "OTHER_TOKEN", OTHER)  # first use creates a new key set
    listing = {i.name: i for i in svc.list_secrets(ws)}
    assert listing["API_TOKEN"].status == "secrets.unknown_key"
    assert "set it again" in listing["API_TOKEN"].problem
    assert listing["OTHER_TOKEN"].status == "ok"
    result = svc.check(ws2_settings, ws)
    assert result.status == "warn" and "API_TOKEN" in result.problems[0]
    assert str(key_file) in result.source
