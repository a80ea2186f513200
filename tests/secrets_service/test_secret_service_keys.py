"""Master keys through the service: source selection, key-file permissions, rotation (also interrupted)."""

from __future__ import annotations

import json
import os

import pytest
from pkgfactory import BASE_MANIFEST, deep_merge
from secrets_world import OTHER, TOKEN, MemoryKeyring, PlaintextFileKeyring, scan_tree

from ade_engine.errors import AdeError
from ade_engine.services import secrets as svc
from ade_engine.services.workspace import open_workspace

M = deep_merge(BASE_MANIFEST, {"secrets": ["API_TOKEN", "OTHER_TOKEN"], "hooks": {"after_mapping": [
    {"script": "hooks/h.py", "secrets": ["API_TOKEN", "OTHER_TOKEN"]}]}})
ONE = deep_merge(BASE_MANIFEST, {"secrets": ["API_TOKEN"], "hooks": {"after_mapping": [
    {"script": "hooks/h.py", "secrets": ["API_TOKEN"]}]}})


def values(ws) -> dict[str, str]:
    return svc.secrets_for_job(ws, config_id="c", manifest=M, job_id=None)


def key_file(settings):
    return settings.keys_dir / "keyring.json"


def test_key_file_is_created_private_on_first_use(ws, settings):
    assert "not created yet" in svc.key_source(settings)
    svc.set_secret(ws, "API_TOKEN", TOKEN)
    assert oct(key_file(settings).stat().st_mode & 0o777) == "0o600"
    assert oct(settings.keys_dir.stat().st_mode & 0o777) == "0o700"
    assert svc.key_source(settings) == f"key file {key_file(settings)}"


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
@pytest.mark.parametrize("target,mode,fix", [("file", 0o644, "chmod 600"), ("dir", 0o755, "chmod 700")])
def test_loose_key_file_permissions_are_refused_with_the_fix(ws, settings, target, mode, fix):
    svc.set_secret(ws, "API_TOKEN", TOKEN)
    path = key_file(settings) if target == "file" else settings.keys_dir
    os.chmod(path, mode)
    with pytest.raises(AdeError) as err:
        svc.set_secret(ws, "OTHER_TOKEN", OTHER)
    assert err.value.code == "secrets.key_permissions" and fix in err.value.message
    with pytest.raises(AdeError) as err:
        svc.secrets_for_job(ws, config_id="c", manifest=ONE, job_id="J")
    assert err.value.code == "secrets_unavailable" and fix in err.value.message
    assert svc.check(settings, ws).status == "fail"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="chown needs root")
def test_key_file_owned_by_someone_else_is_refused(ws, settings):
    svc.set_secret(ws, "API_TOKEN", TOKEN)
    os.chown(key_file(settings), 65534, -1)
    with pytest.raises(AdeError) as err:
        svc.set_secret(ws, "OTHER_TOKEN", OTHER)
    assert err.value.code == "secrets.key_permissions" and "chown" in err.value.message


def test_real_os_keyring_is_used_and_plaintext_backend_refused(settings, use_backend):
    backend = use_backend(MemoryKeyring())
    with open_workspace(settings) as ws:
        svc.set_secret(ws, "API_TOKEN", TOKEN)
        assert svc.key_source(settings) == "OS keyring (SecretService)"
        assert ("ade", "master-keys") in backend.entries and not key_file(settings).exists()
        assert svc.secrets_for_job(ws, config_id="c", manifest=ONE, job_id=None) == {"API_TOKEN": TOKEN}


def test_plaintext_keyring_backend_is_never_used(data_dir, empty_samples, use_backend):
    from ade_engine.settings import isolated_settings

    settings = isolated_settings(data_dir, sample_configs_dir=empty_samples)
    backend = use_backend(PlaintextFileKeyring())
    with open_workspace(settings) as ws:
        svc.set_secret(ws, "API_TOKEN", TOKEN)
    assert backend.entries == {}
    assert svc.key_source(settings) == f"key file {key_file(settings)}"


def test_keyring_file_setting_wins_and_env_key_wins_over_all(tmp_path, empty_samples, use_backend):
    from ade_engine.secrets.keys import new_keyring
    from ade_engine.settings import isolated_settings

    use_backend(MemoryKeyring())
    mounted = tmp_path / "mounted.json"
    mounted.write_text(new_keyring().to_json())
    s = isolated_settings(tmp_path / "d1", sample_configs_dir=empty_samples, secrets_keyring=mounted)
    assert svc.key_source(s) == f"key file {mounted} (ADE_SECRETS_KEYRING)"
    s2 = isolated_settings(tmp_path / "d2", sample_configs_dir=empty_samples, secrets_keyring=mounted,
                           secrets_key="ci-1:" + "A" * 43 + "=")
    assert svc.key_source(s2) == "ADE_SECRETS_KEY environment variable"


def _populate(ws) -> None:
    svc.set_secret(ws, "API_TOKEN", "old-value-of-api")
    svc.set_secret(ws, "API_TOKEN", TOKEN)
    svc.set_secret(ws, "OTHER_TOKEN", OTHER)
    svc.set_secret(ws, "GONE_TOKEN", "deleted-value-1")
    svc.remove_secret(ws, "GONE_TOKEN")


def _db(ws, sql):
    import sqlite3

    con = sqlite3.connect(ws.settings.data_dir / "ade.sqlite")
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_rotation_reencrypts_current_versions_erases_old_ones_and_retires_the_key(ws, settings):
    _populate(ws)
    old = json.loads(key_file(settings).read_text())["primary"]
    report = svc.rotate_key(ws)
    assert report.previous_primary == old and report.reencrypted == 2 and report.erased == 1
    assert report.retired == [old] and report.failed == []
    keys = json.loads(key_file(settings).read_text())
    assert keys["primary"] == report.new_key_id and list(keys["keys"]) == [report.new_key_id]
    assert values(ws) == {"API_TOKEN": TOKEN, "OTHER_TOKEN": OTHER}
    assert _db(ws, "select name, version, key_id from secrets where ciphertext is not null order by name") == [
        ("API_TOKEN", 2, report.new_key_id), ("OTHER_TOKEN", 1, report.new_key_id)]
    (entry,) = [e for e in svc.audit_log(ws) if e.action == "rotate_key"]
    assert entry.key_id == report.new_key_id and entry.name is None


def test_rotation_interrupted_midway_keeps_everything_readable_and_a_rerun_finishes(ws, settings, monkeypatch):
    _populate(ws)
    old = json.loads(key_file(settings).read_text())["primary"]
    real_replace = svc._TableRecords.replace
    calls = []

    def crash_after_first(self, record, envelope, key_id):
        if calls:
            raise KeyboardInterrupt("power cut")
        calls.append(record.id)
        real_replace(self, record, envelope, key_id)

    monkeypatch.setattr(svc._TableRecords, "replace", crash_after_first)
    with pytest.raises(KeyboardInterrupt):
        svc.rotate_key(ws)
    monkeypatch.undo()
    # Half the rows use the new key, half the old one; both keys are still there.
    assert len(set(r[0] for r in _db(ws, "select key_id from secrets where ciphertext is not null"))) == 2
    assert values(ws) == {"API_TOKEN": TOKEN, "OTHER_TOKEN": OTHER}
    report = svc.rotate_key(ws)
    assert report.failed == []
    keys = json.loads(key_file(settings).read_text())
    assert list(keys["keys"]) == [report.new_key_id] and old not in keys["keys"]
    assert values(ws) == {"API_TOKEN": TOKEN, "OTHER_TOKEN": OTHER}
    ws.close()
    assert scan_tree(settings.data_dir, TOKEN) == []


def test_rotation_reports_undecryptable_rows_and_keeps_their_key(ws, settings):
    _populate(ws)
    ct = _db(ws, "select ciphertext from secrets where name='OTHER_TOKEN'")[0][0]
    import sqlite3

    con = sqlite3.connect(settings.data_dir / "ade.sqlite")
    con.execute("update secrets set ciphertext=? where name='OTHER_TOKEN'", (ct[:-2] + ("AA" if ct[-2:] != "AA" else "BB"),))
    con.commit()
    con.close()
    report = svc.rotate_key(ws)
    assert len(report.failed) == 1 and report.failed[0].startswith("OTHER_TOKEN (workspace) v1")
    assert report.kept == [report.previous_primary]
    assert [e.name for e in svc.audit_log(ws) if e.action == "decrypt_failed"] == ["OTHER_TOKEN"]


def test_rotation_is_refused_with_env_key(env_settings):
    with open_workspace(env_settings) as ws:
        svc.set_secret(ws, "API_TOKEN", TOKEN)
        with pytest.raises(AdeError) as err:
            svc.rotate_key(ws)
        assert err.value.code == "secrets.rotation_unavailable"
        assert svc.secrets_for_job(ws, config_id="c", manifest=ONE, job_id=None) == {"API_TOKEN": TOKEN}
