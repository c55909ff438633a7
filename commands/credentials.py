"""Secrets, made and checked: password hashing, one-time codes, opaque tokens, TOTP.

Nothing here keeps a secret: passwords become Argon2id PHC strings, codes and tokens become
SHA-256 digests, the TOTP secret is encrypted with AES-GCM under a key from settings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
from datetime import datetime
from functools import cache
from uuid import UUID

import pyotp
from cryptography.exceptions import InvalidKey, InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

# Argon2id at OWASP's recommended minimum (19 MiB, 2 passes): about 30 ms here.
KDF_MEMORY_KIB = 19_456
KDF_ITERATIONS = 2
KDF_LANES = 1
KDF_SALT_BYTES = 16
KDF_LENGTH = 32

TOKEN_BYTES = 32  # 256 bits of randomness in every token and code
TOTP_DIGITS = 6
TOTP_PERIOD_SECONDS = 30
TOTP_SKEW_STEPS = 1
TOTP_ISSUER = "Buddo"
NONCE_BYTES = 12


# The KDF releases the GIL and burns a whole core: with every store thread hashing at once,
# the event loop starved (benchmarks/login_http.py: /health p99 6 -> 166 ms). Hash on at most
# all cores but one; the other requests keep theirs.
KDF_SLOTS = threading.BoundedSemaphore(max(1, (os.cpu_count() or 2) - 1))


def hash_password(password: str) -> str:
    """A fresh Argon2id hash of `password` with its own salt, PHC-encoded."""
    kdf = Argon2id(
        salt=secrets.token_bytes(KDF_SALT_BYTES),
        length=KDF_LENGTH,
        iterations=KDF_ITERATIONS,
        lanes=KDF_LANES,
        memory_cost=KDF_MEMORY_KIB,
    )
    with KDF_SLOTS:
        return kdf.derive_phc_encoded(password.encode())


def verify_password(password: str, encoded: str) -> bool:
    """Whether `password` matches the PHC-encoded hash."""
    try:
        with KDF_SLOTS:
            Argon2id.verify_phc_encoded(password.encode(), encoded)
    except InvalidKey:
        return False
    return True


@cache
def _decoy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def burn_password_check(password: str) -> None:
    """Spend the time of one password check, for callers that have no user to check against."""
    verify_password(password, _decoy_hash())


def digest(secret: str) -> str:
    """SHA-256 hex digest: the only form in which a token or code is ever stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def locator_token(aggregate_id: UUID) -> str:
    """An opaque token that names the aggregate it belongs to: `<id hex>.<256 random bits>`."""
    return f"{aggregate_id.hex}.{secrets.token_urlsafe(TOKEN_BYTES)}"


def locate(token: str) -> UUID | None:
    """The aggregate id inside a locator token, or None for anything malformed."""
    head, dot, tail = token.partition(".")
    if not dot or len(head) != 32 or not tail:
        return None
    try:
        return UUID(hex=head)
    except ValueError:
        return None


def recovery_codes(count: int) -> list[str]:
    """`count` one-time recovery codes, readable aloud: `xxxx-xxxx-xxxx-xxxx`."""
    codes = []
    for _ in range(count):
        raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    return codes


class SecretBox:
    """AES-GCM encryption of small secrets (TOTP seeds) under the service's secret key."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, plaintext: str, context: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str, context: str) -> str:
        raw = base64.urlsafe_b64decode(sealed.encode())
        nonce, sealed_bytes = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, sealed_bytes, context.encode()).decode()
        except InvalidTag:
            raise ValueError("the sealed secret does not open with this key") from None


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, email: str) -> str:
    """The otpauth:// provisioning URI of spec 4.1."""
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD_SECONDS).provisioning_uri(
        name=email, issuer_name=TOTP_ISSUER
    )


def totp_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step `code` belongs to, within one step of skew, or None (RFC 6238, SHA-1)."""
    # isdigit() alone admits other scripts' digits, which compare_digest refuses with a TypeError.
    if len(code) != TOTP_DIGITS or not (code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD_SECONDS)
    current = totp.timecode(now)
    for step in range(current - TOTP_SKEW_STEPS, current + TOTP_SKEW_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


class TokenMinter:
    """Opaque tokens that name their grant: `<prefix><grant hex>.<secret>`.

    A successor token is *derived* from the token it replaces with HMAC under a server key, so
    an identical retry of a refresh gets the very same pair again with nothing stored but
    digests (spec 5.4).
    """

    def __init__(self, key: bytes) -> None:
        self._key = key

    def random(self, prefix: str, owner: UUID) -> str:
        return prefix + locator_token(owner)

    def derived(self, prefix: str, owner: UUID, seed: str) -> str:
        mac = hmac.new(self._key, f"{prefix}|{seed}".encode(), hashlib.sha256).digest()
        return f"{prefix}{owner.hex}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"

    @staticmethod
    def owner_of(token: str, prefix: str) -> UUID | None:
        """The grant (or other aggregate) a token names, or None for a foreign token."""
        if not token.startswith(prefix):
            return None
        return locate(token.removeprefix(prefix))


def pkce_s256(verifier: str) -> str:
    """BASE64URL(SHA256(verifier)) without padding (RFC 7636 4.2)."""
    raw = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
