"""Tamper evidence, pure: canonical event bytes, the hash chain, and RFC 9162 Merkle proofs.

Everything here is what an outsider recomputes (docs/audit.md spells the same rules out):

- canonical bytes of a stored event: position (8 bytes, big-endian), then originator id,
  originator version (8 bytes, big-endian), topic and state, each text or bytes field prefixed by
  its length (4 bytes, big-endian); text is UTF-8 and the id is the lowercase hyphenated UUID;
- chain: `hash = SHA-256(prev_hash || canonical)`, the first `prev_hash` being 32 zero bytes;
- Merkle tree (RFC 9162 §2.1): leaf = SHA-256(0x00 || canonical), node = SHA-256(0x01 || l || r),
  leaves are the events in log order (leaf index 0 is the oldest event).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

GENESIS = bytes(32)
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof does not fit the tree sizes it claims, or does not lead to the root."""


def canonical_bytes(
    position: int, originator_id: str, originator_version: int, topic: str, state: bytes
) -> bytes:
    """The fixed encoding of one stored event that the chain and the tree hash."""
    oid, top = originator_id.encode(), topic.encode()
    return b"".join(
        (
            position.to_bytes(8, "big"),
            len(oid).to_bytes(4, "big"),
            oid,
            originator_version.to_bytes(8, "big"),
            len(top).to_bytes(4, "big"),
            top,
            len(state).to_bytes(4, "big"),
            bytes(state),
        )
    )


def chain_hash(prev_hash: bytes, canonical: bytes) -> bytes:
    """The chain link of an event: SHA-256(prev_hash || canonical bytes)."""
    return hashlib.sha256(prev_hash + canonical).digest()


def leaf_hash(canonical: bytes) -> bytes:
    """RFC 9162 leaf hash of an event."""
    return hashlib.sha256(b"\x00" + canonical).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH: the root of the tree over `leaves` (leaf hashes)."""
    if not leaves:
        return EMPTY_ROOT
    return Frontier.of(leaves).root()


class Frontier:
    """The roots of the perfect subtrees along the right edge: enough to extend the tree by
    more leaves and to compute its root, without the leaves themselves."""

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        self.size = size
        self.nodes = list(nodes)
        if len(self.nodes) != size.bit_count():
            raise ProofError("a frontier has one node per bit set in its size")

    @classmethod
    def of(cls, leaves: Sequence[bytes]) -> Frontier:
        frontier = cls()
        frontier.extend(leaves)
        return frontier

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash, merging equal-sized subtrees as a binary counter carries."""
        node, size = leaf, self.size
        while size & 1:
            node = node_hash(self.nodes.pop(), node)
            size >>= 1
        self.nodes.append(node)
        self.size += 1

    def extend(self, leaves: Sequence[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        if not self.nodes:
            return EMPTY_ROOT
        result = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            result = node_hash(node, result)
        return result


# MTH(D[lo:hi]): the root of the subtree over leaves lo to hi (hi excluded).
SubtreeRoot = Callable[[int, int], bytes]


def subtree_roots(leaves: Sequence[bytes]) -> SubtreeRoot:
    """Subtree roots computed from every leaf hash."""
    return lambda lo, hi: root(leaves[lo:hi])


def inclusion_path(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1 for the leaf at `index`."""
    return inclusion_path_of(index, len(leaves), subtree_roots(leaves))


def inclusion_path_of(index: int, size: int, subtree: SubtreeRoot) -> list[bytes]:
    """PATH(m, D[n]) for the leaf at `index` of a tree of `size` leaves, from the roots of
    its subtrees (each path needs one per level, whatever holds them)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    return _path(index, subtree, 0, size)


def _path(m: int, subtree: SubtreeRoot, lo: int, hi: int) -> list[bytes]:
    n = hi - lo
    if n == 1:
        return []
    k = split(n)
    if m < k:
        return [*_path(m, subtree, lo, lo + k), subtree(lo + k, hi)]
    return [*_path(m - k, subtree, lo + k, hi), subtree(lo, lo + k)]


def consistency_path(first: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 §2.1.4.1 between the first `first` leaves and all of them."""
    return consistency_path_of(first, len(leaves), subtree_roots(leaves))


def consistency_path_of(first: int, second: int, subtree: SubtreeRoot) -> list[bytes]:
    """PROOF(m, D[n]) between trees of `first` and `second` leaves, from subtree roots."""
    if not 0 < first <= second:
        raise ProofError(f"no consistency proof from size {first} to size {second}")
    return _subproof(first, subtree, 0, second, complete=True)


def _subproof(m: int, subtree: SubtreeRoot, lo: int, hi: int, *, complete: bool) -> list[bytes]:
    n = hi - lo
    if m == n:
        return [] if complete else [subtree(lo, hi)]
    k = split(n)
    if m <= k:
        return [*_subproof(m, subtree, lo, lo + k, complete=complete), subtree(lo + k, hi)]
    return [*_subproof(m - k, subtree, lo + k, hi, complete=False), subtree(lo, lo + k)]


def root_from_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes:
    """The root that `path` leads to from `leaf` (RFC 9162 §2.1.3.2), or ProofError."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    fn, sn, result = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            raise ProofError("the path is longer than the tree is deep")
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            result = node_hash(result, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the path is shorter than the tree is deep")
    return result


def check_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, path: Sequence[bytes]
) -> None:
    """Raise ProofError unless `path` proves the tree of size `first` (with `first_root`) is
    a prefix of the tree of size `second` (with `second_root`), RFC 9162 §2.1.4.2."""
    if not 0 < first <= second:
        raise ProofError(f"no consistency proof from size {first} to size {second}")
    if first == second:
        if path or first_root != second_root:
            raise ProofError("equal sizes need an empty path and equal roots")
        return
    nodes = [first_root, *path] if first & (first - 1) == 0 else list(path)
    if not nodes:
        raise ProofError("the path is empty")
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = nodes[0]
    for node in nodes[1:]:
        if sn == 0:
            raise ProofError("the path is longer than the trees are deep")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(node, fr), node_hash(node, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, node)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or fr != first_root or sr != second_root:
        raise ProofError("the path does not lead to both roots")
