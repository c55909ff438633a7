"""Queries over OAuth apps, scope requests, connections and the validity of OAuth tokens."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from ledger.errors import NotFoundError
from ledger.oauth import auth_method
from projections.db import Lookup, ReadDatabase, Row, in_list
from projections.queries import decode_cursor, keyset, page_of

APP_QUERY = (
    "SELECT a.*, m.method AS auth_method, (SELECT COUNT(*) FROM scope_requests r"
    " WHERE r.app_id = a.id AND r.status = 'pending') AS pending_requests FROM oauth_apps a"
    " LEFT JOIN oauth_app_auth_methods m ON m.id = a.id"
)


@dataclass(frozen=True)
class AppView:
    """An app as the read model has it (never its secret, which is stored nowhere)."""

    id: str
    client_id: str
    owner_id: str
    app_name: str
    app_description: str | None
    logo_url: str | None
    website_url: str | None
    redirect_uris: list[str]
    listed: bool
    allowed_scopes: list[str]
    public: bool
    suspended: bool
    deleted: bool
    pending_requests: int
    inserted_at: str
    updated_at: str
    auth_method: str

    @property
    def is_approved(self) -> bool:
        """No scope request waits for a decision, and the app is not suspended (spec 5.1)."""
        return self.pending_requests == 0 and not self.suspended


def _app(row: Row) -> AppView:
    return AppView(
        id=row["id"],
        client_id=row["client_id"],
        owner_id=row["owner_id"],
        app_name=row["app_name"] or "",
        app_description=row["app_description"],
        logo_url=row["logo_url"],
        website_url=row["website_url"],
        redirect_uris=json.loads(row["redirect_uris"]),
        listed=bool(row["listed"]),
        allowed_scopes=json.loads(row["allowed_scopes"]),
        public=bool(row["public"]),
        suspended=bool(row["suspended"]),
        deleted=bool(row["deleted"]),
        pending_requests=int(row["pending_requests"]),
        inserted_at=row["inserted_at"],
        updated_at=row["updated_at"],
        auth_method=auth_method(row["auth_method"], public=bool(row["public"])),
    )


async def app(db: ReadDatabase, app_id: UUID) -> AppView | None:
    """The app with this id, deleted or not, or None."""
    row = await db.fetch_one(f"{APP_QUERY} WHERE a.id = %s", (str(app_id),))
    return _app(row) if row else None


async def live_app(db: ReadDatabase, app_id: UUID) -> AppView:
    """The app with this id unless it was deleted (NotFoundError)."""
    found = await app(db, app_id)
    if found is None or found.deleted:
        raise NotFoundError("No such app.")
    return found


async def app_by_client(db: ReadDatabase, client_id: str) -> AppView | None:
    """The live (not deleted) app with this client_id, or None."""
    row = await db.fetch_one(f"{APP_QUERY} WHERE a.client_id = %s AND a.deleted = 0", (client_id,))
    return _app(row) if row else None


async def apps_of_owner(
    db: ReadDatabase, owner_id: UUID, limit: int, cursor: str | None
) -> tuple[list[AppView], str | None]:
    """A page of the owner's live apps, oldest first, and the cursor of the next page (None at
    the end), keyed by (inserted_at, id): both never change."""
    after, params = keyset("a.inserted_at, a.id", cursor, (str, str))
    rows = await db.fetch_all(
        f"{APP_QUERY} WHERE a.owner_id = %s AND a.deleted = 0{after}"
        " ORDER BY a.inserted_at, a.id LIMIT %s",
        (str(owner_id), *params, limit + 1),
    )
    page, next_cursor = page_of(rows, limit, lambda row: (row["inserted_at"], row["id"]))
    return [_app(row) for row in page], next_cursor


@dataclass(frozen=True)
class ScopeRequestView:
    """A request for scopes that need an admin, and its decision."""

    id: str
    app_id: str
    scopes: list[str]
    status: str
    reason: str
    note: str | None
    decided_by: str | None
    decided_at: str | None
    inserted_at: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "app_id": self.app_id,
            "scopes": self.scopes,
            "status": self.status,
            "reason": self.reason,
            "note": self.note,
            "decided_by": self.decided_by,
            "decided_at": self.decided_at,
            "inserted_at": self.inserted_at,
        }


def _request(row: Row) -> ScopeRequestView:
    return ScopeRequestView(
        id=row["id"],
        app_id=row["app_id"],
        scopes=json.loads(row["scopes"]),
        status=row["status"],
        reason=row["reason"],
        note=row["note"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
        inserted_at=row["inserted_at"],
    )


async def pending_scopes(db: ReadDatabase, app_id: UUID) -> list[str]:
    """Every scope the app waits for, sorted."""
    rows = await db.fetch_all(
        "SELECT scopes FROM scope_requests WHERE app_id = %s AND status = 'pending'",
        (str(app_id),),
    )
    return sorted({scope for row in rows for scope in json.loads(row["scopes"])})


async def scope_requests_of_app(
    db: ReadDatabase, app_id: UUID, limit: int, cursor: str | None
) -> tuple[list[ScopeRequestView], str | None]:
    """A page of the app's scope requests in the order they were made (by log position), and
    the cursor of the next page (None at the end)."""
    after = decode_cursor(cursor) if cursor else 0
    rows = await db.fetch_all(
        "SELECT * FROM scope_requests WHERE app_id = %s AND position > %s"
        " ORDER BY position LIMIT %s",
        (str(app_id), after, limit + 1),
    )
    page, next_cursor = page_of(rows, limit, lambda row: (int(row["position"]),))
    return [_request(row) for row in page], next_cursor


async def scope_requests(
    db: ReadDatabase, status: str | None, limit: int, cursor: str | None
) -> tuple[list[ScopeRequestView], str | None]:
    """A page of requests in the order they were made (by log position), with this status
    (any when None), and the cursor of the next page (None at the end)."""
    after = decode_cursor(cursor) if cursor else 0
    rows = await db.fetch_all(
        "SELECT * FROM scope_requests WHERE position > %s AND (%s = '' OR status = %s)"
        " ORDER BY position LIMIT %s",
        (after, status or "", status or "", limit + 1),
    )
    page, next_cursor = page_of(rows, limit, lambda row: (int(row["position"]),))
    return [_request(row) for row in page], next_cursor


async def scope_request(db: ReadDatabase, request_id: UUID) -> ScopeRequestView:
    """One scope request (NotFoundError when there is none)."""
    row = await db.fetch_one("SELECT * FROM scope_requests WHERE id = %s", (str(request_id),))
    if row is None:
        raise NotFoundError("No such scope request.")
    return _request(row)


async def connected_apps(
    db: ReadDatabase, user_id: UUID, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the apps a user has authorized and not removed (spec 5.7), by
    (connected_at, app_id), and the cursor of the next page (None at the end)."""
    after, params = keyset("c.connected_at, c.app_id", cursor, (str, str))
    rows = await db.fetch_all(
        "SELECT c.app_id, a.client_id, a.app_name, a.logo_url, c.scopes, c.connected_at,"
        " c.last_used_at FROM connections c JOIN oauth_apps a ON a.id = c.app_id"
        f" WHERE c.user_id = %s AND c.connected = 1 AND a.deleted = 0{after}"
        " ORDER BY c.connected_at, c.app_id LIMIT %s",
        (str(user_id), *params, limit + 1),
    )
    page, next_cursor = page_of(rows, limit, lambda row: (row["connected_at"], row["app_id"]))
    return [{**row, "scopes": json.loads(row["scopes"])} for row in page], next_cursor


@dataclass(frozen=True)
class TokenStatus:
    """What an access decision needs to know about an OAuth token (by its digest)."""

    kind: str
    user_id: str
    app_id: str
    client_id: str | None  # None only if the app's row is gone
    grant_id: str
    scopes: list[str]
    expires_at: str
    revoked: bool
    user_suspended: bool


async def _token_statuses(db: ReadDatabase, token_digests: list[str]) -> dict[str, TokenStatus]:
    placeholders, params = in_list(token_digests)
    rows = await db.fetch_all(
        "SELECT c.token_key, c.kind, c.user_id, c.app_id, a.client_id, c.family_id, c.scopes,"
        " c.expires_at, c.revoked_at, u.suspended FROM credentials c"
        " JOIN users u ON u.id = c.user_id LEFT JOIN oauth_apps a ON a.id = c.app_id"
        f" WHERE c.kind IN ('access', 'refresh') AND c.token_key IN ({placeholders})",
        params,
    )
    return {row["token_key"]: _token_status(row) for row in rows}


#: The state of an OAuth token by its digest (None if it was never issued): the check of every
#: request that carries one, shared by the requests of one turn of the event loop.
TOKEN_STATUS: Lookup[str, TokenStatus] = Lookup("token_status", _token_statuses)


def _token_status(row: Row) -> TokenStatus:
    return TokenStatus(
        kind=row["kind"],
        user_id=row["user_id"],
        app_id=row["app_id"],
        client_id=row["client_id"],
        grant_id=row["family_id"],
        scopes=row["scopes"].split(),
        expires_at=row["expires_at"],
        revoked=row["revoked_at"] is not None,
        user_suspended=bool(row["suspended"]),
    )
