"""The operator JWT of spec 4.2: issue and verify with the algorithm pinned and claims required."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from http_api.keyring import Keys
from ledger.errors import UnauthorizedError

TOKEN_TYPE = "operator"  # noqa: S105 - a claim value, not a secret
REQUIRED_CLAIMS = ["sub", "iat", "exp", "jti", "typ"]
KEY_ID = "buddo-jwt-1"


class TokenExpiredError(UnauthorizedError):
    """The JWT was genuine but is past its `exp`."""

    code = "token_expired"

    def __init__(self) -> None:
        super().__init__("The token has expired.")


@dataclass(frozen=True)
class Claims:
    """The verified claims of an operator JWT."""

    user_id: UUID
    jti: str


class JwtCodec:
    """Signs and verifies operator JWTs with one pinned algorithm."""

    def __init__(self, keys: Keys, issuer: str) -> None:
        self.algorithm = keys.jwt_algorithm
        self._signing_key: Any = keys.jwt_signing_key
        self._verifying_key: Any = keys.jwt_verifying_key
        self.issuer = issuer

    def issue(self, user_id: UUID, jti: str, issued_at: datetime, expires_at: datetime) -> str:
        claims = {
            "sub": str(user_id),
            "iat": int(issued_at.timestamp()),
            "exp": int(expires_at.timestamp()),
            "jti": jti,
            "typ": TOKEN_TYPE,
            "iss": self.issuer,
        }
        return jwt.encode(
            claims, self._signing_key, algorithm=self.algorithm, headers={"kid": KEY_ID}
        )

    def verify(self, token: str) -> Claims:
        """The claims of a genuine, unexpired operator JWT; anything else is a 401."""
        try:
            claims = jwt.decode(
                token,
                self._verifying_key,
                algorithms=[self.algorithm],
                options={"require": REQUIRED_CLAIMS, "verify_signature": True},
                issuer=self.issuer,
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpiredError from None
        except jwt.InvalidTokenError:
            raise UnauthorizedError("The token is invalid.") from None
        if claims.get("typ") != TOKEN_TYPE or not isinstance(claims.get("jti"), str):
            raise UnauthorizedError("The token is invalid.")
        try:
            return Claims(UUID(claims["sub"]), claims["jti"])
        except (ValueError, TypeError):
            raise UnauthorizedError("The token is invalid.") from None

    def jwks(self) -> dict[str, Any]:
        """The public key set (EdDSA only; an HMAC key is never published)."""
        if not isinstance(self._verifying_key, Ed25519PublicKey):
            return {"keys": []}
        raw = self._verifying_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        x = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        return {
            "keys": [
                {
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": x,
                    "alg": "EdDSA",
                    "use": "sig",
                    "kid": KEY_ID,
                }
            ]
        }


def looks_like_jwt(token: str) -> bool:
    """A JWT is three base64url parts; our opaque tokens never are."""
    return token.count(".") == 2 and token.startswith("eyJ")
