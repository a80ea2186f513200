import base64
import json
import os
import stat

import pytest
from keyring_fakes import FakeLockedKeyring, FakePlaintextKeyring, FakeSecretService
from keyring.backends import chainer, fail, null

from ade_engine.secrets.envelope import make_aad
from ade_engine.secrets.errors import SecretsError
from ade_engine.secrets.keys import (
    FileKeyStore,
    KeyRing,
    describe_source,
    judge_backend,
    open_key_store,
    resolve_master_keys,
)

B64_KEY = base64.b64encode(bytes(range(32))).decode()
AAD = make_aad("ws", None, "TOKEN", 1)


def resolve(data_dir, **kw):
    kw.setdefault("env_key", None)
    kw.setdefault("keyring_file", None)
    return resolve_master_keys(data_dir=data_dir, **kw)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


# ----------------------------------------------------------------------------- data-dir key file


def test_key_file_created_on_first_use_private_and_reused(tmp_path):
    ring, source = resolve(tmp_path)
    key_file = tmp_path / "keys" / "keyring.json"
    assert source == f"key file {key_file}"
    assert mode(key_file) == 0o600 and mode(key_file.parent) == 0o700
    doc = json.loads(key_file.read_text())
    assert doc["primary"] == ring.primary and list(doc["keys"]) == [ring.primary]
    assert len(base64.b64decode(doc["keys"][ring.primary])) == 32
    env = ring.encrypt("first-secret-value", AAD)
    again, _ = resolve(tmp_path)
    assert again.decrypt(env, AAD) == "first-secret-value"
    assert not [p for p in key_file.parent.iterdir() if p.name.endswith(".tmp")]


def test_loose_key_file_is_refused_with_the_fix(tmp_path):
    resolve(tmp_path)
    key_file = tmp_path / "keys" / "keyring.json"
    key_file.chmod(0o644)
    with pytest.raises(SecretsError) as exc:
        resolve(tmp_path)
    assert exc.value.code == "secrets.key_permissions"
    assert f"chmod 600 {key_file}" in exc.value.message


def test_loose_key_directory_is_refused_with_the_fix(tmp_path):
    resolve(tmp_path)
    (tmp_path / "keys").chmod(0o755)
    with pytest.raises(SecretsError) as exc:
        resolve(tmp_path)
    assert f"chmod 700 {tmp_path / 'keys'}" in exc.value.message


def test_existing_loose_directory_is_refused_before_creating_keys(tmp_path):
    (tmp_path / "keys").mkdir(mode=0o755)
    (tmp_path / "keys").chmod(0o755)
    with pytest.raises(SecretsError):
        resolve(tmp_path)
    assert not (tmp_path / "keys" / "keyring.json").exists()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown to another uid")
@pytest.mark.parametrize("target", ["file", "dir"])
def test_key_file_owned_by_someone_else_is_refused(tmp_path, target):
    resolve(tmp_path)
    path = tmp_path / "keys" / "keyring.json" if target == "file" else tmp_path / "keys"
    os.chown(path, 54321, -1)
    with pytest.raises(SecretsError) as exc:
        resolve(tmp_path)
    assert exc.value.code == "secrets.key_permissions"
    assert "chown " in exc.value.message and str(path) in exc.value.message


def test_symlinked_key_file_is_refused(tmp_path):
    resolve(tmp_path)
    key_file = tmp_path / "keys" / "keyring.json"
    real = tmp_path / "keys" / "elsewhere.json"
    key_file.rename(real)
    key_file.symlink_to(real)
    with pytest.raises(SecretsError, match="symbolic link"):
        resolve(tmp_path)


def test_corrupt_key_file_names_the_file_not_the_content(tmp_path):
    resolve(tmp_path)
    key_file = tmp_path / "keys" / "keyring.json"
    key_file.write_text('{"primary": "a", "keys": {"a": "c2hvcnQ="}}')
    with pytest.raises(SecretsError) as exc:
        resolve(tmp_path)
    assert str(key_file) in exc.value.message and "c2hvcnQ" not in exc.value.message


# ----------------------------------------------------------------------------- env key and ADE_SECRETS_KEYRING


def test_env_key_wins_and_is_the_only_key(tmp_path, use_backend):
    use_backend(FakeSecretService())
    ring, source = resolve(tmp_path, env_key=f"ci-1:{B64_KEY}", keyring_file=str(tmp_path / "other.json"))
    assert source == "ADE_SECRETS_KEY environment variable"
    assert ring.key_ids == ["ci-1"] and ring.primary == "ci-1"
    assert not (tmp_path / "keys").exists()


@pytest.mark.parametrize("bad", ["nokeyid", f"CI:{B64_KEY}", "ci-1:c2hvcnQ=", "ci-1:!!!notbase64!!!"])
def test_bad_env_key_does_not_echo_the_value(tmp_path, bad):
    with pytest.raises(SecretsError) as exc:
        resolve(tmp_path, env_key=bad)
    assert exc.value.code == "secrets.key_source"
    assert bad.split(":")[-1] not in exc.value.message


def test_keyring_file_variable_is_used_before_os_keyring(tmp_path, use_backend):
    use_backend(FakeSecretService())
    path = tmp_path / "mounted" / "keys.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"primary": "k-a", "keys": {"k-a": B64_KEY}}))
    ring, source = resolve(tmp_path, keyring_file=str(path))
    assert ring.primary == "k-a"
    assert source == f"key file {path} (ADE_SECRETS_KEYRING)"


def test_missing_keyring_file_is_an_error_not_a_fresh_key(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(SecretsError, match="does not exist"):
        resolve(tmp_path, keyring_file=str(missing))
    assert not missing.exists()


# ----------------------------------------------------------------------------- OS keyring backend selection


def test_real_os_keyring_is_used_and_holds_the_keys(tmp_path, use_backend):
    backend = use_backend(FakeSecretService())
    ring, source = resolve(tmp_path)
    assert source == "OS keyring (SecretService)"
    stored = KeyRing.from_json(backend.entries[("ade", "master-keys")], where="test")
    assert stored.primary == ring.primary
    assert not (tmp_path / "keys" / "keyring.json").exists()
    marker = json.loads((tmp_path / "keys" / "os-keyring.json").read_text())
    assert B64_KEY not in json.dumps(marker) and ring.primary not in json.dumps(marker)
    assert resolve(tmp_path)[0].primary == ring.primary


@pytest.mark.parametrize(
    "backend", [FakePlaintextKeyring(), fail.Keyring(), null.Keyring()], ids=["keyrings.alt-plaintext", "fail", "null"]
)
def test_unsafe_backends_are_refused_in_favour_of_the_key_file(tmp_path, use_backend, backend):
    use_backend(backend)
    _, source = resolve(tmp_path)
    assert source.startswith("key file ")
    if isinstance(backend, FakePlaintextKeyring):
        assert backend.entries == {}


def test_chainer_is_unwrapped_to_its_real_member(use_backend):
    real = FakeSecretService()

    class Chain(chainer.ChainerBackend):
        backends = [FakePlaintextKeyring(), real]

    chosen, label = judge_backend(Chain())
    assert chosen is real and label == "SecretService"

    class OnlyPlain(chainer.ChainerBackend):
        backends = [FakePlaintextKeyring()]

    class Empty(chainer.ChainerBackend):
        backends = []

    assert judge_backend(OnlyPlain())[0] is None
    assert judge_backend(Empty())[0] is None


def test_use_os_keyring_false_skips_it(tmp_path, use_backend):
    backend = use_backend(FakeSecretService())
    _, source = resolve(tmp_path, use_os_keyring=False)
    assert source.startswith("key file ") and backend.entries == {}


def test_existing_key_file_is_not_orphaned_by_a_new_os_keyring(tmp_path, use_backend):
    ring, _ = resolve(tmp_path)  # fail backend → key file
    backend = use_backend(FakeSecretService())
    again, source = resolve(tmp_path)
    assert source.startswith("key file ") and again.primary == ring.primary
    assert backend.entries == {}


def test_locked_keyring_never_used_falls_back_to_key_file(tmp_path, use_backend):
    use_backend(FakeLockedKeyring())
    _, source = resolve(tmp_path)
    assert source.startswith("key file ")


@pytest.mark.parametrize("later", [fail.Keyring(), FakeLockedKeyring()], ids=["fail-backend", "locked"])
def test_keys_in_os_keyring_are_not_silently_replaced(tmp_path, use_backend, later):
    use_backend(FakeSecretService())
    resolve(tmp_path)
    use_backend(later)  # e.g. the same user over SSH
    with pytest.raises(SecretsError) as exc:
        resolve(tmp_path)
    assert exc.value.code == "secrets.keyring_unavailable"
    assert "ADE_SECRETS_KEYRING" in exc.value.message
    assert not (tmp_path / "keys" / "keyring.json").exists()


def test_describe_source_creates_nothing(tmp_path, use_backend):
    assert describe_source(data_dir=tmp_path, env_key=None, keyring_file=None) == (
        f"key file {tmp_path / 'keys' / 'keyring.json'} (not created yet)"
    )
    assert not (tmp_path / "keys").exists()
    backend = use_backend(FakeSecretService())
    assert describe_source(data_dir=tmp_path, env_key=None, keyring_file=None) == "OS keyring (SecretService)"
    assert backend.entries == {}
    assert describe_source(data_dir=tmp_path, env_key=f"ci-1:{B64_KEY}", keyring_file=None) == (
        "ADE_SECRETS_KEY environment variable"
    )


def test_concurrent_first_use_keeps_one_key(tmp_path):
    store = open_key_store(data_dir=tmp_path, env_key=None, keyring_file=None, create=False)
    assert isinstance(store, FileKeyStore)
    first = store.create()
    # A second creator that lost the race must end up with the winner's keys, not its own.
    assert FileKeyStore(store.path, strict=True).create().primary == first.primary
