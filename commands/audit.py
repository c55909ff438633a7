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

from commands.audit_chain import BLOCK_TABLE, CHAIN_TABLE, CHECKPOINT_TABLE
from commands.audit_db import AuditDb, Query
from ledger import merkle
from ledger.errors import NotFoundError, ValidationError
from ledger.times import iso_z

CHECKPOINT_EVERY = 1_000
#: leaves per stored block root: a proof reads at most about two blocks of leaf hashes and
#: one root per block of the rest of the tree, instead of every leaf
BLOCK_LEAVES = 1_024
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


def blocks_kept(q: Query) -> int:
    """How many blocks of leaves have their root stored (they are written in order)."""
    row = q.one(f"SELECT MAX(block) FROM {BLOCK_TABLE}")  # noqa: S608
    return 0 if row is None or row[0] is None else int(row[0]) + 1


class StoredTree:
    """Subtree roots of the signed tree from the stored block roots, and leaf hashes only
    where a subtree is smaller than a block (or its blocks are not stored yet)."""

    def __init__(self, q: Query) -> None:
        self.q = q
        self.kept = blocks_kept(q)

    def root(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]), split as RFC 9162 splits it: down to perfect subtrees of whole stored
        blocks, or to a block's worth of leaves."""
        n = hi - lo
        whole_blocks = n >= BLOCK_LEAVES and n & (n - 1) == 0 and lo % BLOCK_LEAVES == 0
        if whole_blocks and hi // BLOCK_LEAVES <= self.kept:
            rows = self.q.rows(
                f"SELECT root FROM {BLOCK_TABLE} WHERE block >= %s AND block < %s"  # noqa: S608
                " ORDER BY block",
                (lo // BLOCK_LEAVES, hi // BLOCK_LEAVES),
            )
            return merkle.root([bytes(row[0]) for row in rows])
        if n <= BLOCK_LEAVES:
            return merkle.root(leaf_hashes(self.q, lo, hi))
        k = merkle.split(n)
        return merkle.node_hash(self.root(lo, lo + k), self.root(lo + k, hi))


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
        # One read of the leaves the new blocks and the frontier need (all of them the first
        # time blocks are kept for a log signed before).
        start = min(frontier.size, blocks_kept(q) * BLOCK_LEAVES)
        leaves = leaf_hashes(q, start, size)
    frontier.extend(leaves[frontier.size - start :])
    if frontier.size != size:
        raise RuntimeError(f"the chain has gaps: {frontier.size} leaves, head says {size}")
    blocks = [
        (
            block,
            merkle.root(leaves[block * BLOCK_LEAVES - start : (block + 1) * BLOCK_LEAVES - start]),
        )
        for block in range(start // BLOCK_LEAVES, size // BLOCK_LEAVES)
        if block * BLOCK_LEAVES >= start
    ]
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
        for block, block_root in blocks:
            w.run(
                f"INSERT INTO {BLOCK_TABLE} (block, root) VALUES (%s, %s)"  # noqa: S608
                " ON CONFLICT (block) DO NOTHING",
                (block, block_root),
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
        path = merkle.inclusion_path_of(index, last.tree_size, StoredTree(q).root)
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
        path = merkle.consistency_path_of(first, second, StoredTree(q).root)
    try:  # never give out a proof the stored chain or blocks no longer support
        merkle.check_consistency(first, second, signed[first].root, signed[second].root, path)
    except merkle.ProofError as error:
        raise RuntimeError("the stored chain no longer matches the signed checkpoints") from error
    return {
        "first": first,
        "second": second,
        "path": [p.hex() for p in path],
        "first_checkpoint": signed[first].as_json(),
        "second_checkpoint": signed[second].as_json(),
    }
