"""The Ed25519 key that signs audit checkpoints: from BUDDO_AUDIT_KEY, or the data directory."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from http_api.keyring import _decode, load_or_create
from http_api.settings import Settings

KEY_FILE = "audit-ed25519.pem"


def _new_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _private(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError(f"{KEY_FILE} does not hold an Ed25519 key")
    return key


def load_audit_key(settings: Settings) -> Ed25519PrivateKey:
    """The signing key; generated into the data directory (0600) on first use."""
    if settings.audit_key:
        return Ed25519PrivateKey.from_private_bytes(_decode(settings.audit_key.encode()))
    return _private(load_or_create(settings.data_dir / KEY_FILE, _new_pem))


def existing_public_key(settings: Settings) -> Ed25519PublicKey | None:
    """The public half of the configured key, without ever creating one (None if none)."""
    if settings.audit_key:
        return load_audit_key(settings).public_key()
    path = settings.data_dir / KEY_FILE
    return _private(path.read_bytes()).public_key() if path.exists() else None


def read_public_key(path: Path) -> Ed25519PublicKey:
    """A public key from a file: the JWK of /.well-known/audit-key, or a PEM public key."""
    text = path.read_bytes()
    if text.lstrip().startswith(b"{"):
        jwk = json.loads(text)
        raw = _decode(str(jwk["x"]).encode())
        return Ed25519PublicKey.from_public_bytes(raw)
    key = serialization.load_pem_public_key(text)
    if not isinstance(key, Ed25519PublicKey):
        raise TypeError(f"{path} does not hold an Ed25519 public key")
    return key
