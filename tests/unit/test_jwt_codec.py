"""The operator JWT codec: the algorithm is pinned, the claims are required, forgeries fail."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from http_api.jwt_codec import JwtCodec, TokenExpiredError, looks_like_jwt
from http_api.keyring import Keys
from ledger.errors import UnauthorizedError

ISSUER = "https://buddo.example"
HMAC_KEY = secrets.token_urlsafe(32).encode()
ED_KEY = Ed25519PrivateKey.generate()


def hs256_codec() -> JwtCodec:
    return JwtCodec(Keys("HS256", HMAC_KEY, HMAC_KEY, b"s" * 32, b"t" * 32), ISSUER)


def eddsa_codec() -> JwtCodec:
    return JwtCodec(Keys("EdDSA", ED_KEY, ED_KEY.public_key(), b"s" * 32, b"t" * 32), ISSUER)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def hand_made(header: dict[str, Any], claims: dict[str, Any], sign: bytes | None) -> str:
    """A JWT built by hand: an HS256 MAC under `sign`, or no signature at all."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    if sign is None:
        return signing_input + "."
    mac = hmac.new(sign, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def good_claims(**changes: object) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": str(uuid4()),
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=1)).timestamp()),
        "jti": secrets.token_hex(16),
        "typ": "operator",
        "iss": ISSUER,
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


@pytest.mark.parametrize("make", [hs256_codec, eddsa_codec])
def test_a_token_it_issued_verifies_to_its_user_and_id(make: Any) -> None:
    codec = make()
    user_id, now = uuid4(), datetime.now(UTC)
    token = codec.issue(user_id, "abc123", now, now + timedelta(hours=1))
    claims = codec.verify(token)
    assert (claims.user_id, claims.jti) == (user_id, "abc123")
    assert looks_like_jwt(token)


def test_an_unsigned_token_is_refused() -> None:
    token = hand_made({"alg": "none", "typ": "JWT"}, good_claims(), sign=None)
    with pytest.raises(UnauthorizedError):
        hs256_codec().verify(token)


def test_an_hs256_token_keyed_with_the_eddsa_public_key_is_refused() -> None:
    public = ED_KEY.public_key()
    for key_bytes in (
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
    ):
        token = hand_made({"alg": "HS256", "typ": "JWT"}, good_claims(), sign=key_bytes)
        with pytest.raises(UnauthorizedError):
            eddsa_codec().verify(token)


def test_an_eddsa_token_is_refused_by_an_hs256_service() -> None:
    token = jwt.encode(good_claims(), Ed25519PrivateKey.generate(), algorithm="EdDSA")
    with pytest.raises(UnauthorizedError):
        hs256_codec().verify(token)


def test_an_expired_token_says_so() -> None:
    past = datetime.now(UTC) - timedelta(hours=2)
    token = hs256_codec().issue(uuid4(), "old", past, past + timedelta(hours=1))
    with pytest.raises(TokenExpiredError):
        hs256_codec().verify(token)


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": None},
        {"iat": None},
        {"jti": None},
        {"sub": None},
        {"typ": None},
        {"iss": None},
        {"typ": "access"},
        {"iss": "https://elsewhere.example"},
        {"sub": "not-a-uuid"},
        {"jti": 12345},
        {"exp": "tomorrow"},
    ],
    ids=repr,
)
def test_a_correctly_signed_token_with_bad_claims_is_refused(changes: dict[str, object]) -> None:
    token = jwt.encode(good_claims(**changes), HMAC_KEY, algorithm="HS256")
    with pytest.raises(UnauthorizedError):
        hs256_codec().verify(token)


def test_a_token_signed_with_another_key_is_refused() -> None:
    token = jwt.encode(good_claims(), secrets.token_bytes(32), algorithm="HS256")
    with pytest.raises(UnauthorizedError):
        hs256_codec().verify(token)


def test_a_tampered_payload_is_refused() -> None:
    now = datetime.now(UTC)
    token = hs256_codec().issue(uuid4(), "mine", now, now + timedelta(hours=1))
    header, _, signature = token.split(".")
    other = b64(json.dumps(good_claims()).encode())
    with pytest.raises(UnauthorizedError):
        hs256_codec().verify(f"{header}.{other}.{signature}")


def test_an_hmac_key_is_never_published() -> None:
    assert hs256_codec().jwks() == {"keys": []}
    (key,) = eddsa_codec().jwks()["keys"]
    assert key["kty"] == "OKP"
    assert "d" not in key
