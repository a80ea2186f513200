"""Rotation over an in-memory table that behaves like the service layer's rows (each write is durable)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import pytest

from ade_engine.secrets.envelope import envelope_key_id, make_aad
from ade_engine.secrets.errors import SecretsError
from ade_engine.secrets.keys import EnvKeyStore, FileKeyStore, open_key_store
from ade_engine.secrets.rotation import SecretRecord, rotate


class Crash(Exception):
    pass


@dataclass
class Row:
    id: int
    workspace_id: str
    config_id: str | None
    name: str
    version: int
    envelope: str | None

    @property
    def aad(self) -> str:
        return make_aad(self.workspace_id, self.config_id, self.name, self.version)


class Table:
    def __init__(self, crash_after: int | None = None):
        self.rows: list[Row] = []
        self.crash_after = crash_after
        self.replaced = 0

    def add(self, ring, workspace_id, config_id, name, value):
        version = 1 + max((r.version for r in self.rows if (r.workspace_id, r.config_id, r.name) == (workspace_id, config_id, name)), default=0)
        row = Row(len(self.rows) + 1, workspace_id, config_id, name, version, None)
        row.envelope = ring.encrypt(value, row.aad)
        self.rows.append(row)
        return row

    def _is_current(self, row):
        return row.version == max(r.version for r in self.rows if (r.workspace_id, r.config_id, r.name) == (row.workspace_id, row.config_id, row.name))

    # --- RotationRecords
    def current(self):
        return [SecretRecord(r.id, r.aad, r.envelope) for r in self.rows if r.envelope and self._is_current(r)]

    def replace(self, record, new_envelope, key_id):
        if self.crash_after is not None and self.replaced >= self.crash_after:
            raise Crash("power cut")
        row = self.rows[record.id - 1]
        assert row.envelope == record.envelope
        row.envelope = new_envelope
        self.replaced += 1

    def erase_superseded(self):
        n = 0
        for r in self.rows:
            if r.envelope and not self._is_current(r):
                r.envelope = None
                n += 1
        return n

    def referenced_key_ids(self):
        return {envelope_key_id(r.envelope) for r in self.rows if r.envelope}


VALUES = {f"TOKEN_{i}": f"value-number-{i:04d}" for i in range(10)}


@pytest.fixture
def world(tmp_path):
    store = open_key_store(data_dir=tmp_path, env_key=None, keyring_file=None)
    ring = store.load()
    table = Table()
    for i, (name, value) in enumerate(VALUES.items()):
        table.add(ring, "ws1", None if i % 2 else f"cfg{i}", name, "old-" + value)
        table.add(ring, "ws1", None if i % 2 else f"cfg{i}", name, value)
    return store, table


def fresh_store(store):
    # Re-read from disk, as a new process would after a crash.
    return FileKeyStore(store.path, strict=True)


def decrypt_all(store, table):
    ring = fresh_store(store).load()
    return {r.name: ring.decrypt(r.envelope, r.aad) for r in table.rows if r.envelope and table._is_current(r)}


@pytest.mark.parametrize("crash_after", [0, 1, 4, 9])
def test_crash_midway_leaves_everything_decryptable_and_a_rerun_finishes(world, crash_after):
    store, table = world
    old_primary = store.load().primary
    table.crash_after = crash_after
    with pytest.raises(Crash):
        rotate(store, table)
    assert decrypt_all(store, table) == VALUES
    ring = fresh_store(store).load()
    assert ring.primary == old_primary  # the switch comes after re-encryption
    assert len(ring.key_ids) == 2
    (crashed_key,) = [k for k in ring.key_ids if k != old_primary]
    moved = [r for r in table.rows if r.envelope and envelope_key_id(r.envelope) != old_primary]
    assert len(moved) == crash_after

    table.crash_after = None
    result = rotate(fresh_store(store), table)
    assert decrypt_all(store, table) == VALUES
    ring = fresh_store(store).load()
    assert ring.key_ids == [result.new_key_id] == [ring.primary]
    assert sorted(result.retired) == sorted([old_primary, crashed_key]) and result.kept == []
    assert {envelope_key_id(r.envelope) for r in table.rows if r.envelope} == {result.new_key_id}
    assert result.erased == len(VALUES)  # superseded versions lost their ciphertext
    assert all(r.envelope is None for r in table.rows if not table._is_current(r))


def test_crash_before_switching_primary_keeps_old_primary_in_use(world, monkeypatch):
    store, table = world
    old_primary = store.load().primary
    saves = []
    real_save = FileKeyStore.save

    def save(self, ring):
        saves.append(ring.primary)
        if len(saves) == 2:  # the primary switch
            raise Crash("power cut")
        real_save(self, ring)

    monkeypatch.setattr(FileKeyStore, "save", save)
    with pytest.raises(Crash):
        rotate(store, table)
    monkeypatch.undo()
    assert fresh_store(store).load().primary == old_primary
    assert decrypt_all(store, table) == VALUES


def test_undecryptable_row_is_reported_and_pins_its_key(world):
    store, table = world
    old_primary = store.load().primary
    bad = next(r for r in table.rows if table._is_current(r))
    head, tail = bad.envelope.rsplit(":", 1)
    raw = bytearray(base64.urlsafe_b64decode(tail + "=" * (-len(tail) % 4)))
    raw[0] ^= 1
    bad.envelope = head + ":" + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()

    result = rotate(store, table)
    assert [(f.record_id, f.code) for f in result.failed] == [(bad.id, "secrets.decrypt_failed")]
    assert result.kept == [old_primary] and result.retired == []
    assert result.reencrypted == len(VALUES) - 1
    assert old_primary in fresh_store(store).load().key_ids


def test_rows_written_with_old_primary_during_rotation_are_caught_up(world):
    store, table = world
    ring = store.load()
    calls = {"n": 0}
    original_current = table.current

    def current():
        calls["n"] += 1
        if calls["n"] == 1:  # a secret is set (with the old primary) while the first pass runs
            table.add(ring, "ws1", None, "LATE_TOKEN", "late-value-123")
        return original_current()

    table.current = current
    result = rotate(store, table)
    assert result.kept == [] and result.retired == [ring.primary]
    assert decrypt_all(store, table)["LATE_TOKEN"] == "late-value-123"


def test_rotation_is_refused_with_env_key(tmp_path):
    store = EnvKeyStore("ci-1:" + base64.b64encode(bytes(32)).decode())
    with pytest.raises(SecretsError) as exc:
        rotate(store, Table())
    assert exc.value.code == "secrets.rotation_unavailable"


def test_key_file_after_rotation_has_the_documented_format(world):
    store, table = world
    result = rotate(store, table)
    doc = json.loads(store.path.read_text())
    assert doc == {"primary": result.new_key_id, "keys": {result.new_key_id: doc["keys"][result.new_key_id]}}
    assert len(base64.b64decode(doc["keys"][result.new_key_id])) == 32
