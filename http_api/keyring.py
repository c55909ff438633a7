"""Signing and encryption keys: from settings, or generated once into the data directory (0600)."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from http_api.settings import Settings

KEY_FILE_MODE = 0o600
SECRET_BYTES = 32


def load_or_create(path: Path, make: Callable[[], bytes]) -> bytes:
    """The key in `path`; on first use, `make()` is written there with mode 0600.

    The key is written whole to a private temporary file first and then linked into place,
    which fails if the name exists: two processes starting at once agree on one key, and
    neither ever reads a file the other has created but not yet written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        _create_once(path, make())
    return path.read_bytes()


def _create_once(path: Path, key: bytes) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), KEY_FILE_MODE)
            file.write(key)
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)  # atomic, and refuses to replace a key already there
    finally:
        Path(temporary).unlink()


def _random_secret() -> bytes:
    return base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES))


def _ed25519_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class Keys:
    """Every key the service signs or encrypts with."""

    jwt_algorithm: str
    jwt_signing_key: bytes | Ed25519PrivateKey = field(repr=False)
    jwt_verifying_key: bytes | Ed25519PublicKey = field(repr=False)
    secret_key: bytes = field(repr=False)  # AES-256: TOTP secrets at rest
    token_key: bytes = field(repr=False)  # HMAC: successor OAuth tokens


def load_keys(settings: Settings) -> Keys:
    """Keys from settings where given, else from (or newly into) the data directory."""
    data = settings.data_dir
    secret_text = settings.secret_key.encode() or load_or_create(
        data / "secret.key", _random_secret
    )
    secret_key = _decode(secret_text)
    token_key = _decode(
        settings.token_key.encode() or load_or_create(data / "token.key", _random_secret)
    )
    if settings.jwt_algorithm == "EdDSA":
        private = serialization.load_pem_private_key(
            load_or_create(data / "jwt-ed25519.pem", _ed25519_pem), password=None
        )
        if not isinstance(private, Ed25519PrivateKey):
            raise TypeError("jwt-ed25519.pem does not hold an Ed25519 key")
        return Keys("EdDSA", private, private.public_key(), secret_key, token_key)
    hmac_key = settings.jwt_secret.encode() or load_or_create(data / "jwt.key", _random_secret)
    return Keys("HS256", hmac_key, hmac_key, secret_key, token_key)


def _decode(text: bytes) -> bytes:
    return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))
