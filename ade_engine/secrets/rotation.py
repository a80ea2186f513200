"""Master-key rotation, independent of storage and safe to interrupt (secrets.md §3).

Steps, each persisted before the next starts:
1. add a new key to the key store as a non-primary key;
2. re-encrypt the current version of every secret with it, one row at a time;
3. make it the primary key (then catch up rows set meanwhile with the old primary);
4. erase the ciphertext of superseded versions, then retire keys no row references any more.

No key leaves the store while a row still references it, so a crash at any point leaves every secret
decryptable; running `rotate` again finishes the job (the key added by a crashed run is retired once no row
uses it).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from ade_engine.secrets.envelope import encrypt, parse_envelope
from ade_engine.secrets.errors import KeySourceError, SecretsError
from ade_engine.secrets.keys import KeyStore, generate_key, new_key_id


@dataclass(frozen=True)
class SecretRecord:
    """One stored secret version as rotation sees it: a row id, its associated data and its envelope."""

    id: Hashable
    aad: str
    envelope: str


class RotationRecords(Protocol):
    """What the service layer provides over its table. Every method persists (commits) before it returns."""

    def current(self) -> Iterable[SecretRecord]:
        """The current version of every non-deleted secret that still holds ciphertext."""
        ...

    def replace(self, record: SecretRecord, new_envelope: str, key_id: str) -> None:
        """Store `new_envelope` (encrypted with `key_id`) on row `record.id`, ideally only if it still holds
        `record.envelope`, and commit."""
        ...

    def erase_superseded(self) -> int:
        """Erase the ciphertext of every version that is not current; return how many were erased."""
        ...

    def referenced_key_ids(self) -> set[str]:
        """Key ids of every row that still holds ciphertext (any version, deleted or not)."""
        ...


@dataclass(frozen=True)
class RotationFailure:
    record_id: Hashable
    code: str
    message: str


@dataclass
class RotationResult:
    new_key_id: str
    previous_primary: str
    reencrypted: int = 0
    erased: int = 0
    failed: list[RotationFailure] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # old keys still referenced (e.g. by rows that failed)


def rotate(
    store: KeyStore,
    records: RotationRecords,
    *,
    key_id: str | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> RotationResult:
    """Rotate to a new primary master key and re-encrypt every current secret version with it.

    Rows that cannot be decrypted are reported in `failed` and keep their key alive; nothing else stops the
    rotation. Raises `secrets.rotation_unavailable` for a store that cannot be written (ADE_SECRETS_KEY).
    """
    if not store.rotatable:
        store.save(store.load())  # raises the store's own explanation
        raise KeySourceError("this master-key source cannot be rotated", code="secrets.rotation_unavailable")

    # 1. new non-primary key, persisted and read back before any row depends on it
    ring = store.load()
    new_id = key_id or new_key_id(ring.keys)
    store.save(ring.with_key(new_id, generate_key()))
    ring = store.load()
    if ring.key_for(new_id) is None:
        raise KeySourceError(
            f"the new master key {new_id!r} was not kept by {store.describe_source()}; nothing was changed",
            code="secrets.rotation_failed",
        )
    result = RotationResult(new_key_id=new_id, previous_primary=ring.primary)
    failed_ids: set[Hashable] = set()

    def reencrypt_pass() -> None:
        for record in records.current():
            if record.id in failed_ids:
                continue
            try:
                if parse_envelope(record.envelope).key_id == new_id:
                    continue  # done by this run already
                plaintext = ring.decrypt(record.envelope, record.aad)
                new_envelope = encrypt(ring.keys[new_id], new_id, plaintext, record.aad)
                del plaintext
            except SecretsError as exc:
                failed_ids.add(record.id)
                result.failed.append(RotationFailure(record.id, exc.code, exc.message))
                continue
            records.replace(record, new_envelope, new_id)
            result.reencrypted += 1
            if on_progress is not None:
                on_progress(result.reencrypted)

    # 2. re-encrypt current versions, each row persisted as it goes
    reencrypt_pass()
    # 3. switch primary, then catch rows written with the old primary while step 2 ran
    store.save(ring.with_primary(new_id))
    ring = store.load()
    reencrypt_pass()
    # 4. erase superseded versions, then retire keys nothing references
    result.erased = records.erase_superseded()
    referenced = records.referenced_key_ids()
    old = [k for k in ring.key_ids if k != new_id]
    result.retired = [k for k in old if k not in referenced]
    result.kept = [k for k in old if k in referenced]
    if result.retired:
        store.save(ring.without(result.retired))
    return result
