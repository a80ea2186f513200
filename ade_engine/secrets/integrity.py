"""Check that an envelope is intact without decrypting it (for listing, `ade doctor` and the TUI).

Values are decrypted only for a job that requests them (secrets.md §1), yet `ade secret list` must tell an
altered ciphertext from a good one. AES-GCM's tag can be recomputed without producing the plaintext: it is
`GHASH_H(A, C) XOR E_K(J0)` (NIST SP 800-38D, §7.2), which needs the cipher only for two blocks, `H = E_K(0)`
and `E_K(J0)`. `verify` does exactly that and compares the tags in constant time; the checks of
`envelope.decrypt` (key id known, envelope well formed) come first, with the same errors.

GHASH here is plain Python (about 0.1 ms for a short value, 10 ms for the largest, 16 KiB);
its result only labels a row, it never protects a value: `decrypt` still authenticates before every use.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ade_engine.secrets.envelope import TAG_BYTES, KeyLookup, open_envelope
from ade_engine.secrets.errors import DecryptFailed

_R = 0xE1 << 120  # the GCM reduction polynomial, in GCM's reflected bit order


def _powers(h: int) -> list[int]:
    """`V_i` of SP 800-38D Algorithm 1 for i = 0..127: they depend on H only, so a product is the XOR of the
    `V_i` whose bit `x_i` (x_0 = the most significant bit) is set."""
    out = []
    v = h
    for _ in range(128):
        out.append(v)
        v = (v >> 1) ^ _R if v & 1 else v >> 1
    return out


def _ghash(powers: list[int], data: bytes) -> int:
    y = 0
    for i in range(0, len(data), 16):
        x = y ^ int.from_bytes(data[i:i + 16], "big")
        z, bit = 0, 127
        while x:
            if x & 1:
                z ^= powers[bit]
            x >>= 1
            bit -= 1
        y = z
    return y


def _pad16(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 16)


def gcm_tag(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    """The AES-GCM tag of `ciphertext` (without its tag) under `key`, a 96-bit `nonce` and `aad`."""
    encryptor = Cipher(algorithms.AES(bytes(key)), modes.ECB()).encryptor()
    h = int.from_bytes(encryptor.update(b"\0" * 16), "big")
    ek_j0 = encryptor.update(nonce + b"\0\0\0\1")
    lengths = (len(aad) * 8).to_bytes(8, "big") + (len(ciphertext) * 8).to_bytes(8, "big")
    s = _ghash(_powers(h), _pad16(aad) + _pad16(ciphertext) + lengths)
    return bytes(a ^ b for a, b in zip(ek_j0, s.to_bytes(16, "big"), strict=True))


def verify(keyring: KeyLookup | Mapping[str, bytes], envelope: str, aad: str) -> None:
    """Return if `envelope` is intact under its key and `aad`; else raise `secrets.unknown_key`,
    `secrets.envelope_malformed` or `secrets.decrypt_failed` (what `decrypt` would raise). Never decrypts."""
    env, key, name = open_envelope(keyring, envelope, aad)
    who = name or "(unnamed)"
    body, tag = env.ciphertext[:-TAG_BYTES], env.ciphertext[-TAG_BYTES:]
    if not hmac.compare_digest(gcm_tag(key, env.nonce, body, aad.encode("utf-8")), tag):
        raise DecryptFailed(
            f"secret {who} fails its integrity check with key '{env.key_id}': the stored ciphertext was altered "
            "or belongs to another workspace, scope, name or version, so it cannot be decrypted; set it again",
            details={"name": name, "key_id": env.key_id},
        )
