"""RFC 9162 hashing and proofs: checked against the RFC's recursive definition, both ways."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import merkle


def naive_root(leaves: list[bytes]) -> bytes:
    """MTH exactly as RFC 9162 §2.1.1 writes it."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return merkle.node_hash(naive_root(leaves[:k]), naive_root(leaves[k:]))


def leaves_of(n: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def test_canonical_bytes_are_length_prefixed_and_position_first() -> None:
    encoded = merkle.canonical_bytes(7, "ab", 2, "t", b"xyz")
    assert encoded == (
        (7).to_bytes(8, "big")
        + b"\x00\x00\x00\x02ab"
        + (2).to_bytes(8, "big")
        + b"\x00\x00\x00\x01t"
        + b"\x00\x00\x00\x03xyz"
    )


def test_the_chain_links_each_event_to_the_one_before() -> None:
    first = merkle.chain_hash(merkle.GENESIS, b"a")
    assert first == hashlib.sha256(bytes(32) + b"a").digest()
    assert merkle.chain_hash(first, b"b") == hashlib.sha256(first + b"b").digest()


@pytest.mark.parametrize("n", range(70))
def test_root_and_frontier_agree_with_the_rfc_definition(n: int) -> None:
    leaves = leaves_of(n)
    assert merkle.root(leaves) == naive_root(leaves)
    frontier = merkle.Frontier.of(leaves[: n // 3])
    resumed = merkle.Frontier(frontier.size, frontier.nodes)
    resumed.extend(leaves[n // 3 :])
    assert resumed.root() == naive_root(leaves)


@pytest.mark.parametrize("n", range(1, 40))
def test_every_inclusion_path_leads_to_the_root(n: int) -> None:
    leaves = leaves_of(n)
    top = naive_root(leaves)
    for index in range(n):
        path = merkle.inclusion_path(index, leaves)
        assert merkle.root_from_inclusion(index, n, leaves[index], path) == top


@pytest.mark.parametrize("second", range(1, 34))
def test_every_consistency_path_proves_the_prefix(second: int) -> None:
    leaves = leaves_of(second)
    for first in range(1, second + 1):
        path = merkle.consistency_path(first, leaves)
        merkle.check_consistency(
            first, second, naive_root(leaves[:first]), naive_root(leaves), path
        )


@given(st.integers(2, 300), st.data())
def test_a_forged_inclusion_proof_is_refused(n: int, data: st.DataObject) -> None:
    leaves = leaves_of(n)
    index = data.draw(st.integers(0, n - 1))
    path = merkle.inclusion_path(index, leaves)
    top = merkle.root(leaves)
    other = data.draw(st.integers(0, n - 1).filter(lambda i: i != index))
    assert merkle.root_from_inclusion(index, n, leaves[other], path) != top
    bit = data.draw(st.integers(0, len(path) * 256 - 1))
    forged = [bytearray(p) for p in path]
    forged[bit // 256][bit % 256 // 8] ^= 1 << (bit % 8)
    assert merkle.root_from_inclusion(index, n, leaves[index], list(map(bytes, forged))) != top
    with pytest.raises(merkle.ProofError):
        merkle.root_from_inclusion(index, n, leaves[index], [*path, top])


@given(st.integers(2, 200), st.data())
def test_a_forged_consistency_proof_is_refused(second: int, data: st.DataObject) -> None:
    leaves = leaves_of(second)
    first = data.draw(st.integers(1, second - 1))
    path = merkle.consistency_path(first, leaves)
    old, new = merkle.root(leaves[:first]), merkle.root(leaves)
    changed = [*leaves[: first - 1], merkle.leaf_hash(b"forged"), *leaves[first:]]
    with pytest.raises(merkle.ProofError):
        merkle.check_consistency(first, second, old, merkle.root(changed), path)
    with pytest.raises(merkle.ProofError):
        merkle.check_consistency(first, second, merkle.root(changed[:first]), new, path)
    if path:
        with pytest.raises(merkle.ProofError):
            merkle.check_consistency(first, second, old, new, path[:-1])
