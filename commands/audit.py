"""Signed checkpoints of the audit tree, and inclusion and consistency proofs against them.

A checkpoint signs (tree size, Merkle root, time) with Ed25519; the signed message is
`buddo-checkpoint/v1\\n<tree_size>\\n<root hex>\\n<signed_at>\\n` (docs/audit.md). Checkpoints are
written when CHECKPOINT_EVERY events have accumulated or CHECKPOINT_SECONDS have passed with new
events; each keeps the tree's frontier, so the next one hashes only the new leaves.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from commands.audit_chain import CHAIN_TABLE, CHECKPOINT_TABLE
from commands.audit_db import AuditDb, Query
from ledger import merkle
from ledger.errors import NotFoundError, ValidationError
from ledger.times import iso_z

CHECKPOINT_EVERY = 1_000
CHECKPOINT_SECONDS = 60.0
MESSAGE_PREFIX = "buddo-checkpoint/v1"
CHECKPOINT_COLUMNS = "tree_size, last_position, root, frontier, signed_at, signature, key_id"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_jwk(key: Ed25519PublicKey) -> dict[str, str]:
    """The public key as a JWK (RFC 8037), with its RFC 7638 thumbprint as `kid`."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    members = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return {"kty": "OKP", "crv": "Ed25519", "x": members["x"], "kid": key_id(canonical)}


def key_id(canonical_jwk: bytes) -> str:
    return _b64url(hashlib.sha256(canonical_jwk).digest())


def checkpoint_message(tree_size: int, root: bytes, signed_at: str) -> bytes:
    """The exact bytes a checkpoint's signature covers."""
    return f"{MESSAGE_PREFIX}\n{tree_size}\n{root.hex()}\n{signed_at}\n".encode()


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement that the log's first `tree_size` events hash to `root`."""

    tree_size: int
    last_position: int
    root: bytes
    frontier: tuple[bytes, ...]
    signed_at: str
    signature: bytes
    key_id: str

    def verify(self, key: Ed25519PublicKey) -> bool:
        """Whether `key` signed this checkpoint."""
        message = checkpoint_message(self.tree_size, self.root, self.signed_at)
        try:
            key.verify(self.signature, message)
        except InvalidSignature:
            return False
        return True

    def as_json(self) -> dict[str, object]:
        return {
            "tree_size": self.tree_size,
            "root": self.root.hex(),
            "signed_at": self.signed_at,
            "signature": self.signature.hex(),
            "key_id": self.key_id,
        }


def _checkpoint(row: tuple[object, ...]) -> Checkpoint:
    size, last, root, frontier, signed_at, signature, kid = row
    return Checkpoint(
        int(str(size)),
        int(str(last)),
        bytes.fromhex(str(root)),
        tuple(bytes.fromhex(n) for n in str(frontier).split(",") if n),
        str(signed_at),
        bytes.fromhex(str(signature)),
        str(kid),
    )


def checkpoints(q: Query) -> list[Checkpoint]:
    """Every checkpoint, smallest tree first."""
    rows = q.rows(f"SELECT {CHECKPOINT_COLUMNS} FROM {CHECKPOINT_TABLE} ORDER BY tree_size")  # noqa: S608
    return [_checkpoint(row) for row in rows]


def latest_checkpoint(q: Query) -> Checkpoint | None:
    row = q.one(
        f"SELECT {CHECKPOINT_COLUMNS} FROM {CHECKPOINT_TABLE} ORDER BY tree_size DESC LIMIT 1"  # noqa: S608
    )
    return None if row is None else _checkpoint(row)


def chain_head(q: Query) -> tuple[int, int, bytes]:
    """(events chained, position of the last one, its chain hash)."""
    row = q.one(
        f"SELECT leaf_index, position, hash FROM {CHAIN_TABLE} ORDER BY position DESC LIMIT 1"  # noqa: S608
    )
    if row is None:
        return 0, 0, merkle.GENESIS
    return int(row[0]) + 1, int(row[1]), bytes(row[2])


def leaf_hashes(q: Query, start: int, stop: int) -> list[bytes]:
    """The stored leaf hashes with index in [start, stop), in order."""
    rows = q.stream(
        f"SELECT leaf_hash FROM {CHAIN_TABLE} WHERE leaf_index >= %s AND leaf_index < %s"  # noqa: S608
        " ORDER BY leaf_index",
        (start, stop),
    )
    return [bytes(row[0]) for row in rows]


def checkpoint_due(db: AuditDb, now: datetime) -> bool:
    """Whether CHECKPOINT_EVERY events have accumulated, or CHECKPOINT_SECONDS have passed
    with new events, since the latest checkpoint."""
    with db.read() as q:
        size, _, _ = chain_head(q)
        last = latest_checkpoint(q)
    covered = last.tree_size if last else 0
    if size == covered:
        return False
    if last is None or size - covered >= CHECKPOINT_EVERY:
        return True
    age = now - datetime.fromisoformat(last.signed_at.replace("Z", "+00:00"))
    return age.total_seconds() >= CHECKPOINT_SECONDS


def write_checkpoint(db: AuditDb, key: Ed25519PrivateKey, now: datetime) -> Checkpoint | None:
    """Sign the whole chain as it stands (None when the latest checkpoint already covers it).
    Two processes signing the same size at once keep the first one."""
    with db.read() as q:
        size, last_position, _ = chain_head(q)
        last = latest_checkpoint(q)
        if last is not None and last.tree_size >= size:
            return None
        frontier = merkle.Frontier(last.tree_size, last.frontier) if last else merkle.Frontier()
        frontier.extend(leaf_hashes(q, frontier.size, size))
    if frontier.size != size:
        raise RuntimeError(f"the chain has gaps: {frontier.size} leaves, head says {size}")
    signed_at = iso_z(now)
    root = frontier.root()
    jwk = public_jwk(key.public_key())
    signature = key.sign(checkpoint_message(size, root, signed_at))
    nodes = ",".join(n.hex() for n in frontier.nodes)
    with db.write() as w:
        w.run(
            f"INSERT INTO {CHECKPOINT_TABLE} ({CHECKPOINT_COLUMNS})"  # noqa: S608
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (tree_size) DO NOTHING",
            (size, last_position, root.hex(), nodes, signed_at, signature.hex(), jwk["kid"]),
        )
    return Checkpoint(
        size, last_position, root, tuple(frontier.nodes), signed_at, signature, jwk["kid"]
    )


@dataclass(frozen=True)
class InclusionProof:
    """An event's leaf, the path from it to a checkpoint's root, and the checkpoint."""

    position: int
    leaf_index: int
    leaf_hash: bytes
    path: list[bytes]
    checkpoint: Checkpoint

    def as_json(self) -> dict[str, object]:
        return {
            "position": self.position,
            "leaf_index": self.leaf_index,
            "tree_size": self.checkpoint.tree_size,
            "leaf_hash": self.leaf_hash.hex(),
            "root": self.checkpoint.root.hex(),
            "path": [p.hex() for p in self.path],
            "checkpoint": self.checkpoint.as_json(),
        }


def inclusion_proof(db: AuditDb, position: int) -> InclusionProof:
    """Prove the event at `position` is in the latest checkpoint."""
    with db.read() as q:
        row = q.one(
            f"SELECT leaf_index, leaf_hash FROM {CHAIN_TABLE} WHERE position = %s",  # noqa: S608
            (position,),
        )
        if row is None:
            raise NotFoundError(f"No event is stored at position {position}.")
        index, leaf = int(row[0]), bytes(row[1])
        last = latest_checkpoint(q)
        if last is None or last.tree_size <= index:
            raise NotFoundError(f"Position {position} is not covered by a checkpoint yet.")
        leaves = leaf_hashes(q, 0, last.tree_size)
    path = merkle.inclusion_path(index, leaves)
    # The path leads to the root of the stored leaves: checking it against the signed root
    # checks the stored chain too, without hashing the whole tree a second time.
    if merkle.root_from_inclusion(index, last.tree_size, leaf, path) != last.root:
        raise RuntimeError("the stored chain no longer matches the latest checkpoint")
    return InclusionProof(position, index, leaf, path, last)


def consistency_proof(db: AuditDb, first: int, second: int) -> dict[str, object]:
    """Prove the checkpoint of size `first` is a prefix of the one of size `second`."""
    if not 0 < first <= second:
        raise ValidationError({"first": ["must be above 0 and at most second"]})
    with db.read() as q:
        signed = {c.tree_size: c for c in checkpoints(q)}
        if first not in signed or second not in signed:
            raise NotFoundError("Both sizes must be tree sizes of checkpoints.")
        leaves = leaf_hashes(q, 0, second)
    path = merkle.consistency_path(first, leaves)
    return {
        "first": first,
        "second": second,
        "path": [p.hex() for p in path],
        "first_checkpoint": signed[first].as_json(),
        "second_checkpoint": signed[second].as_json(),
    }
