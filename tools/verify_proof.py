#!/usr/bin/env python3
"""Check a Buddo audit proof without trusting the server: stdlib + `cryptography` only.

    verify_proof.py inclusion   KEY.json PROOF.json [EVENT.json]
    verify_proof.py consistency KEY.json PROOF.json

KEY.json is `GET /.well-known/audit-key`; PROOF.json is `GET /api/admin/audit/proof/{position}`
(or `buddo audit prove`) or `GET /api/admin/audit/consistency` (or `buddo audit consistency`);
EVENT.json is the event's entry from `GET /api/admin/audit/events`, whose bytes are then hashed
too. Exit status 0 when the proof holds, 1 (with the reason) when it does not. The rules are
RFC 9162 §2.1 and docs/audit.md.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

# A command-line tool: it talks to its user on stdout and stderr.
# ruff: noqa: T201


class RefusedError(Exception):
    """The proof does not hold."""


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def canonical(event: dict[str, Any]) -> bytes:
    """Canonical bytes of an event, as docs/audit.md defines them."""
    oid, topic = event["originator_id"].encode(), event["topic"].encode()
    state = base64.b64decode(event["state"])
    parts = [event["position"].to_bytes(8, "big"), len(oid).to_bytes(4, "big"), oid]
    parts += [event["originator_version"].to_bytes(8, "big"), len(topic).to_bytes(4, "big")]
    parts += [topic, len(state).to_bytes(4, "big"), state]
    return b"".join(parts)


def check_signature(key: dict[str, str], checkpoint: dict[str, Any]) -> None:
    if key.get("kty") != "OKP" or key.get("crv") != "Ed25519":
        raise RefusedError("the key is not an Ed25519 JWK")
    raw = base64.urlsafe_b64decode(key["x"] + "=" * (-len(key["x"]) % 4))
    message = "buddo-checkpoint/v1\n{tree_size}\n{root}\n{signed_at}\n".format(**checkpoint)
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(
            bytes.fromhex(checkpoint["signature"]), message.encode()
        )
    except InvalidSignature:
        raise RefusedError(f"checkpoint {checkpoint['tree_size']}: bad signature") from None


def inclusion_root(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2."""
    if not 0 <= index < size:
        raise RefusedError("the leaf index is outside the tree")
    fn, sn, result = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            raise RefusedError("the path is too long")
        if fn & 1 or fn == sn:
            result = node(sibling, result)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            result = node(result, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise RefusedError("the path is too short")
    return result


def check_inclusion(
    key: dict[str, str], proof: dict[str, Any], event: dict[str, Any] | None
) -> str:
    checkpoint = proof["checkpoint"]
    check_signature(key, checkpoint)
    if (proof["tree_size"], proof["root"]) != (checkpoint["tree_size"], checkpoint["root"]):
        raise RefusedError("the proof is not against the checkpoint it carries")
    leaf = bytes.fromhex(proof["leaf_hash"])
    if event is not None:
        if event["position"] != proof["position"]:
            raise RefusedError("the event is not the one the proof is about")
        if sha256(b"\x00" + canonical(event)) != leaf:
            raise RefusedError("the event's bytes do not hash to the proven leaf")
    path = [bytes.fromhex(p) for p in proof["path"]]
    found = inclusion_root(proof["leaf_index"], proof["tree_size"], leaf, path)
    if found.hex() != checkpoint["root"]:
        raise RefusedError("the path does not lead to the signed root")
    return (
        f"position {proof['position']} is leaf {proof['leaf_index']}"
        f" of the signed tree of size {proof['tree_size']}"
    )


def check_consistency(key: dict[str, str], proof: dict[str, Any]) -> str:
    """RFC 9162 §2.1.4.2, between two signed checkpoints."""
    old, new = proof["first_checkpoint"], proof["second_checkpoint"]
    check_signature(key, old)
    check_signature(key, new)
    first, second = old["tree_size"], new["tree_size"]
    if (first, second) != (proof["first"], proof["second"]) or not 0 < first <= second:
        raise RefusedError("the sizes do not match the checkpoints")
    first_root, second_root = bytes.fromhex(old["root"]), bytes.fromhex(new["root"])
    path = [bytes.fromhex(p) for p in proof["path"]]
    if first == second:
        if path or first_root != second_root:
            raise RefusedError("equal sizes need an empty path and equal roots")
        return "the two checkpoints are the same tree"
    if first & (first - 1) == 0:
        path = [first_root, *path]
    if not path:
        raise RefusedError("the path is empty")
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise RefusedError("the path is too long")
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or fr != first_root or sr != second_root:
        raise RefusedError("the path does not lead to both signed roots")
    return f"the signed tree of size {first} is a prefix of the signed tree of size {second}"


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] not in {"inclusion", "consistency"}:
        print(__doc__, file=sys.stderr)
        return 2
    key, proof = (json.loads(Path(p).read_text()) for p in argv[1:3])
    try:
        if argv[0] == "inclusion":
            event = json.loads(Path(argv[3]).read_text()) if len(argv) > 3 else None
            print("OK:", check_inclusion(key, proof, event))
        else:
            print("OK:", check_consistency(key, proof))
    except (RefusedError, KeyError, ValueError, TypeError) as error:
        print(f"REFUSED: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
