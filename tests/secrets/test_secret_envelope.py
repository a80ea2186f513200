import base64
import re

import pytest

from ade_engine.secrets.envelope import decrypt, encrypt, envelope_key_id, make_aad, validate_key_id, validate_name
from ade_engine.secrets.errors import SecretsError
from ade_engine.secrets.keys import KeyRing

KEY = bytes(range(32))
RING = KeyRing("k-1", {"k-1": KEY})
AAD = make_aad("ws1", "cfg1", "PRICEBOOK_TOKEN", 3)
VALUE = "pb_live_0123456789abcdef"


def test_aad_is_exactly_the_spec_string():
    assert AAD == "ade-secret:v1:ws1:cfg1:PRICEBOOK_TOKEN:3"
    assert make_aad("ws1", None, "TOKEN", 1) == "ade-secret:v1:ws1:*:TOKEN:1"


def test_round_trip_and_envelope_shape():
    env = encrypt(KEY, "k-1", VALUE, AAD)
    assert re.fullmatch(r"ade-secret:v1:k-1:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]+", env)
    assert VALUE not in env
    assert decrypt(RING, env, AAD) == VALUE
    assert decrypt({"k-1": KEY}, env, AAD) == VALUE
    assert envelope_key_id(env) == "k-1"


def test_each_encryption_uses_a_fresh_nonce():
    assert encrypt(KEY, "k-1", VALUE, AAD) != encrypt(KEY, "k-1", VALUE, AAD)


def test_unicode_values_round_trip():
    value = "pässwörd-€-日本語-🔑"
    assert decrypt(RING, encrypt(KEY, "k-1", value, AAD), AAD) == value


def _flip(env: str, part: int, index: int) -> str:
    head, key_id, nonce, ct = env.rsplit(":", 3)
    fields = [nonce, ct]
    raw = bytearray(base64.urlsafe_b64decode(fields[part] + "=" * (-len(fields[part]) % 4)))
    raw[index] ^= 0x01
    fields[part] = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    return ":".join([head, key_id, *fields])


@pytest.mark.parametrize(
    "part,index", [(0, 0), (0, 11), (1, 0), (1, 5), (1, -1), (1, -16)], ids=["nonce0", "nonce11", "ct0", "ct5", "tag-last", "tag-first"]
)
def test_tampering_is_detected(part, index):
    env = encrypt(KEY, "k-1", VALUE, AAD)
    with pytest.raises(SecretsError) as exc:
        decrypt(RING, _flip(env, part, index), AAD)
    assert exc.value.code == "secrets.decrypt_failed"
    assert "PRICEBOOK_TOKEN" in exc.value.message and VALUE not in exc.value.message


@pytest.mark.parametrize(
    "moved",
    [
        make_aad("ws2", "cfg1", "PRICEBOOK_TOKEN", 3),
        make_aad("ws1", None, "PRICEBOOK_TOKEN", 3),
        make_aad("ws1", "cfg2", "PRICEBOOK_TOKEN", 3),
        make_aad("ws1", "cfg1", "OTHER_TOKEN", 3),
        make_aad("ws1", "cfg1", "PRICEBOOK_TOKEN", 4),
    ],
    ids=["workspace", "to-workspace-scope", "config", "name", "version"],
)
def test_moved_ciphertext_does_not_decrypt(moved):
    env = encrypt(KEY, "k-1", VALUE, AAD)
    with pytest.raises(SecretsError) as exc:
        decrypt(RING, env, moved)
    assert exc.value.code == "secrets.decrypt_failed"


def test_wrong_key_with_same_id_fails_authentication():
    env = encrypt(KEY, "k-1", VALUE, AAD)
    with pytest.raises(SecretsError) as exc:
        decrypt({"k-1": bytes(32)}, env, AAD)
    assert exc.value.code == "secrets.decrypt_failed"


def test_unknown_key_message_is_the_spec_message():
    env = encrypt(KEY, "k-2024a", VALUE, AAD)
    with pytest.raises(SecretsError) as exc:
        decrypt(RING, env, AAD)
    assert exc.value.code == "secrets.unknown_key"
    assert exc.value.message == (
        "secret PRICEBOOK_TOKEN was encrypted with key 'k-2024a', which this installation does not have; set it again"
    )


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "plaintext-value",
        "ade-secret:v2:k-1:AAAA:BBBB",
        "ade-secret:v1:k-1:AAAA",
        "ade-secret:v1:K_1:AAAAAAAAAAAAAAAA:" + "B" * 30,
        "ade-secret:v1:k-1:AAAA:" + "B" * 30,  # nonce too short
        "ade-secret:v1:k-1:AAAAAAAAAAAAAAAA:BBBB",  # shorter than the tag
        "ade-secret:v1:k-1:AAAA*AAAAAAAAAAA:" + "B" * 30,
    ],
)
def test_malformed_envelopes_are_named_as_such(bad):
    with pytest.raises(SecretsError) as exc:
        decrypt(RING, bad, AAD)
    assert exc.value.code == "secrets.envelope_malformed"
    assert "set it again" in exc.value.message


@pytest.mark.parametrize("value", ["a" * 8, "b" * 4096, "é" * 8])
def test_value_length_bounds_accept(value):
    assert decrypt(RING, encrypt(KEY, "k-1", value, AAD), AAD) == value


@pytest.mark.parametrize("value", ["", "a" * 7, "b" * 4097])
def test_value_length_bounds_refuse(value):
    with pytest.raises(SecretsError) as exc:
        encrypt(KEY, "k-1", value, AAD)
    assert exc.value.code == "secrets.value_length"


def test_value_must_be_utf8_encodable():
    with pytest.raises(SecretsError) as exc:
        encrypt(KEY, "k-1", "abc\ud800defgh", AAD)
    assert exc.value.code == "secrets.value_encoding"


@pytest.mark.parametrize("name", ["A", "PRICEBOOK_TOKEN", "X9_", "A" + "B" * 63])
def test_valid_names(name):
    assert validate_name(name) == name


@pytest.mark.parametrize("name", ["", "pricebook token", "9ABC", "_A", "A-B", "A" * 65, "ABC\n"])
def test_invalid_names(name):
    with pytest.raises(SecretsError) as exc:
        validate_name(name)
    assert exc.value.code == "secrets.name"


@pytest.mark.parametrize("key_id,ok", [("k-1", True), ("a" * 32, True), ("a" * 33, False), ("K1", False), ("", False), ("k_1", False)])
def test_key_id_rule(key_id, ok):
    if ok:
        assert validate_key_id(key_id) == key_id
    else:
        with pytest.raises(SecretsError):
            validate_key_id(key_id)


def test_keyring_repr_hides_key_material():
    text = repr(RING)
    assert "k-1" in text and KEY.hex() not in text and base64.b64encode(KEY).decode() not in text
