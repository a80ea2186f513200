"""Secrets that cannot be read are reported as such: a tampered ciphertext is not "ok" in `ade secret list`, and a
`PYTHON_KEYRING_BACKEND` naming a backend that does not load is a clear error in `ade secret list`, `ade secret set`
and `ade doctor` — never a traceback or "check crashed"."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ade_engine.secrets.envelope import encrypt, make_aad
from ade_engine.secrets.errors import DecryptFailed, MalformedEnvelope, UnknownKeyError
from ade_engine.secrets.integrity import gcm_tag, verify
from ade_engine.secrets.keys import new_keyring

REPO = Path(__file__).resolve().parents[2]
VALUE = "s3cret-value-for-the-test"


# ----------------------------------------------------------------------------------------- the tag check
@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 64, 1000, 16 * 1024])
@pytest.mark.parametrize("aad_size", [0, 7, 16, 80])
def test_the_recomputed_tag_equals_aes_gcm_s(size, aad_size):
    key, nonce, data, aad = os.urandom(32), os.urandom(12), os.urandom(size), os.urandom(aad_size)
    sealed = AESGCM(key).encrypt(nonce, data, aad)
    assert gcm_tag(key, nonce, sealed[:-16], aad) == sealed[-16:]


def _flip(envelope: str, part: int, index: int) -> str:
    """Flip one bit of the nonce (part 1) or ciphertext+tag (part 2) of an envelope."""
    head, key_id, *fields = envelope.rsplit(":", 3)
    raw = bytearray(base64.urlsafe_b64decode(fields[part - 1] + "=" * (-len(fields[part - 1]) % 4)))
    raw[index] ^= 0x01
    fields[part - 1] = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    return ":".join([head, key_id, *fields])


def test_verify_accepts_an_intact_envelope_and_refuses_any_altered_bit():
    ring = new_keyring()
    aad = make_aad("ws1", None, "API_TOKEN", 1)
    envelope = ring.encrypt(VALUE, aad)
    verify(ring, envelope, aad)
    ring.verify(envelope, aad)
    body_len = len(base64.urlsafe_b64decode(envelope.rsplit(":", 1)[1] + "=="))
    for part, length in ((1, 12), (2, body_len)):
        for index in range(length):
            with pytest.raises(DecryptFailed) as exc:
                verify(ring, _flip(envelope, part, index), aad)
            assert "fails its integrity check" in exc.value.message and VALUE not in exc.value.message
    with pytest.raises(DecryptFailed):  # moved to another name or version
        verify(ring, envelope, make_aad("ws1", None, "API_TOKEN", 2))
    with pytest.raises(UnknownKeyError):
        verify(new_keyring(), envelope, aad)
    with pytest.raises(MalformedEnvelope):
        verify(ring, "ade-secret:v1:" + ring.primary + ":not-base64!:x", aad)


def test_verify_never_decrypts(monkeypatch):
    # Listing must not produce the plaintext: AESGCM.decrypt is not called.
    import cryptography.hazmat.primitives.ciphers.aead as aead

    ring = new_keyring()
    aad = make_aad("ws1", "cfg", "API_TOKEN", 3)
    envelope = encrypt(ring.keys[ring.primary], ring.primary, VALUE, aad)

    def refuse(*_a, **_k):
        raise AssertionError("decrypt was called")

    monkeypatch.setattr(aead.AESGCM, "decrypt", refuse)
    verify(ring, envelope, aad)


# ----------------------------------------------------------------------------------------- as a user sees it
@pytest.fixture
def ade(tmp_path):
    """`ade` in a subprocess with its own data dir and key file; `ade(..., **env)` adds variables."""
    keyring_file = tmp_path / "mounted-keyring.json"
    keyring_file.write_text(new_keyring().to_json())
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ADE_", "PYTHON_KEYRING"))}
    base.update(ADE_DATA_DIR=str(tmp_path / "data"), ADE_SECRETS_KEYRING=str(keyring_file),
                ADE_SAMPLE_CONFIGS_DIR=str(tmp_path / "none"), PYTHONPATH=str(REPO),
                PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")

    def run(*args: str, stdin: str | None = None, **env: str | None) -> subprocess.CompletedProcess:
        full = dict(base)
        for key, value in env.items():
            if value is None:
                full.pop(key, None)
            else:
                full[key] = value
        return subprocess.run([sys.executable, "-m", "ade_engine.cli.main", *args], input=stdin, env=full,
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)

    run.db = tmp_path / "data" / "ade.sqlite"
    return run


def _tamper(db: Path, name: str, change) -> None:
    with sqlite3.connect(db) as con:
        (ciphertext,) = con.execute("SELECT ciphertext FROM secrets WHERE name = ?", (name,)).fetchone()
        con.execute("UPDATE secrets SET ciphertext = ? WHERE name = ?", (change(ciphertext), name))


def test_secret_list_shows_a_tampered_ciphertext_as_unreadable(ade):
    for name in ("GOOD_TOKEN", "BAD_TOKEN", "BROKEN_TOKEN"):
        assert ade("secret", "set", name, stdin=VALUE + "\n").returncode == 0
    _tamper(ade.db, "BAD_TOKEN", lambda env: _flip(env, 2, 3))
    _tamper(ade.db, "BROKEN_TOKEN", lambda env: env.replace("ade-secret:v1:", "garbage:"))

    proc = ade("secret", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    status = {s["name"]: (s["status"], s["problem"]) for s in json.loads(proc.stdout)["secrets"]}
    assert status["GOOD_TOKEN"] == ("ok", None)
    assert status["BAD_TOKEN"][0] == "secrets.decrypt_failed"
    assert "BAD_TOKEN fails its integrity check" in status["BAD_TOKEN"][1] and "set it again" in status["BAD_TOKEN"][1]
    assert status["BROKEN_TOKEN"][0] == "secrets.envelope_malformed"

    text = ade("secret", "list").stdout
    bad_row = next(line for line in text.splitlines() if line.startswith("BAD_TOKEN"))
    assert bad_row.endswith("secrets.decrypt_failed")
    assert "secrets.decrypt_failed: secret BAD_TOKEN fails its integrity check" in text
    assert VALUE not in proc.stdout + proc.stderr + text


BAD_BACKEND = "nosuch_keyring_pkg.Backend"


def test_a_backend_that_does_not_load_is_a_clear_error_in_secret_commands(ade):
    assert ade("secret", "set", "API_TOKEN", stdin=VALUE).returncode == 0  # through the key file

    # Without a key file setting, the OS keyring is consulted, and the variable names one that does not exist.
    listing = ade("secret", "list", ADE_SECRETS_KEYRING=None, PYTHON_KEYRING_BACKEND=BAD_BACKEND)
    assert listing.returncode == 0, listing.stderr
    assert "Traceback" not in listing.stderr + listing.stdout
    expected = ("the keyring backend chosen by PYTHON_KEYRING_BACKEND (or keyringrc.cfg) cannot be loaded "
                "(ModuleNotFoundError: No module named 'nosuch_keyring_pkg'); unset PYTHON_KEYRING_BACKEND or name "
                "an installed backend")
    assert f"master keys: unusable: {expected}" in listing.stdout
    row = next(line for line in listing.stdout.splitlines() if line.startswith("API_TOKEN"))
    assert row.endswith("secrets.key_source")  # names are listed, the value is not reported ok

    setting = ade("secret", "set", "OTHER_TOKEN", stdin=VALUE, ADE_SECRETS_KEYRING=None,
                  PYTHON_KEYRING_BACKEND=BAD_BACKEND)
    assert setting.returncode == 2
    assert setting.stderr.startswith(f"error: secrets.keyring_unavailable: {expected}")
    assert "Traceback" not in setting.stderr


def test_doctor_fails_the_secrets_check_with_the_reason(ade):
    proc = ade("doctor", "--json", ADE_SECRETS_KEYRING=None, PYTHON_KEYRING_BACKEND=BAD_BACKEND)
    assert "Traceback" not in proc.stderr
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    secrets = checks["secrets"]
    assert secrets["status"] == "fail"
    assert "check crashed" not in secrets["summary"]
    assert "cannot be loaded (ModuleNotFoundError: No module named 'nosuch_keyring_pkg')" in secrets["summary"]
    assert "ADE_SECRETS_KEYRING" in secrets["fix"]
