"""Helpers for tests that drive the grant commands directly on a command bus (no HTTP)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from commands import credentials, grants, oauth, users
from commands.bus import CommandBus
from commands.credentials import TokenMinter
from commands.store import BuddoStore, get_as
from ledger.grants import Grant

START = datetime(2026, 5, 22, 12, 0, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
REDIRECT_URI = "https://app.example/callback"
SCOPES = ["points:read", "profile:read"]


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True)
class Client:
    """A registered app as the grant commands see it."""

    app_id: UUID
    credentials: grants.ClientCredentials


def register_user(bus: CommandBus) -> UUID:
    tag = uuid4().hex[:8]
    done: users.UserRegistered = bus.handle(
        users.RegisterUser(f"g-{tag}@example.com", f"g_{tag}", PASSWORD)
    )
    return done.user_id


def register_app(bus: CommandBus, owner_id: UUID, *, public: bool = False) -> Client:
    details = {"app_name": "Grant test app", "redirect_uris": [REDIRECT_URI]}
    method = "none" if public else "client_secret_basic"
    done: oauth.AppRegistered = bus.handle(
        oauth.RegisterApp(owner_id, details, list(SCOPES), auth_method=method)
    )
    return Client(done.app_id, grants.ClientCredentials(done.client_id, done.client_secret))


def issue_code(bus: CommandBus, user_id: UUID, client: Client) -> tuple[str, str]:
    """A fresh code and its verifier."""
    verifier = secrets.token_urlsafe(48)
    code: str = bus.handle(
        grants.IssueCode(
            user_id,
            client.credentials.client_id,
            REDIRECT_URI,
            list(SCOPES),
            credentials.pkce_s256(verifier),
        )
    )
    return code, verifier


def exchange(bus: CommandBus, client: Client, code: str, verifier: str) -> grants.TokenPair:
    pair: grants.TokenPair = bus.handle(
        grants.ExchangeCode(client.credentials, code, REDIRECT_URI, verifier)
    )
    return pair


def connect(bus: CommandBus, user_id: UUID, client: Client) -> grants.TokenPair:
    return exchange(bus, client, *issue_code(bus, user_id, client))


def refresh(bus: CommandBus, client: Client, refresh_token: str) -> grants.TokenPair:
    pair: grants.TokenPair = bus.handle(
        grants.RefreshTokens(client.credentials, refresh_token, None)
    )
    return pair


def grant_of(store: BuddoStore, token: str) -> Grant:
    """The grant (token family) a code or token belongs to."""
    for prefix in (grants.CODE_PREFIX, grants.ACCESS_PREFIX, grants.REFRESH_PREFIX):
        owner = TokenMinter.owner_of(token, prefix)
        if owner is not None:
            return get_as(store, owner, Grant)
    raise AssertionError(f"not a grant token: {token[:8]}…")


def credential_row(store: BuddoStore, token: str) -> dict[str, Any]:
    """The read model's row for `token` (looked up by its digest, as the server does)."""
    columns = ("kind", "family_id", "issued_at", "expires_at", "revoked_at", "revoked_reason")
    key = credentials.digest(token)  # hex: safe to inline
    (rows,) = store.snapshot_query(
        [f"SELECT {', '.join(columns)} FROM credentials WHERE token_key = '{key}'"]  # noqa: S608
    )
    assert len(rows) == 1, rows
    return dict(zip(columns, rows[0], strict=True))


def family_rows(store: BuddoStore, grant_id: UUID) -> list[dict[str, Any]]:
    """Every credentials row of one token family."""
    columns = ("kind", "expires_at", "revoked_at", "revoked_reason")
    (rows,) = store.snapshot_query(
        [
            f"SELECT {', '.join(columns)} FROM credentials"  # noqa: S608 - a UUID
            f" WHERE family_id = '{grant_id}' ORDER BY issued_position, kind"
        ]
    )
    return [dict(zip(columns, row, strict=True)) for row in rows]


def grant_events(store: BuddoStore, grant_id: UUID) -> list[Any]:
    """The stored events of one grant, in order."""
    return [event for _, event in store.read_events(0, 10_000) if event.originator_id == grant_id]
