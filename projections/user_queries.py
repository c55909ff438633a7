"""Queries over users and credentials: profiles, and whether a JWT still works."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from ledger.errors import NotFoundError
from projections.db import Lookup, ReadDatabase, in_list

USER_QUERY = (
    "SELECT u.*, COALESCE(b.balance, 0) AS points FROM users u"
    " LEFT JOIN balances b ON b.account = 'user:' || u.id WHERE u.id IN ({ids})"
)


@dataclass(frozen=True)
class UserView:
    """A user's profile as the read model has it."""

    id: str
    email: str
    username: str
    tier: str
    points: int
    referral_code: str
    registration_number: int
    is_admin: bool
    email_verified: bool
    totp_enabled: bool
    suspended: bool
    inserted_at: str
    updated_at: str


def _view(row: dict[str, Any]) -> UserView:
    return UserView(
        id=row["id"],
        email=row["email"],
        username=row["username"],
        tier=row["tier"],
        points=int(row["points"]),
        referral_code=row["referral_code"],
        registration_number=int(row["registration_number"]),
        is_admin=bool(row["is_admin"]),
        email_verified=bool(row["email_verified"]),
        totp_enabled=bool(row["totp_enabled"]),
        suspended=bool(row["suspended"]),
        inserted_at=row["inserted_at"],
        updated_at=row["updated_at"],
    )


async def _users(db: ReadDatabase, user_ids: list[str]) -> dict[str, UserView]:
    placeholders, params = in_list(user_ids)
    rows = await db.fetch_all(USER_QUERY.format(ids=placeholders), params)
    return {row["id"]: _view(row) for row in rows}


#: Profiles by user id, shared by the requests of one turn of the event loop.
USER_BY_ID: Lookup[str, UserView] = Lookup("user_by_id", _users)


async def user(db: ReadDatabase, user_id: UUID) -> UserView:
    """One user's profile with their points."""
    found = await db.lookup(USER_BY_ID, str(user_id))
    if found is None:
        raise NotFoundError("No such user.")
    return found


@dataclass(frozen=True)
class JwtStatus:
    """What an access decision needs to know about a JWT's id."""

    revoked: bool
    suspended: bool
    is_admin: bool
    email_verified: bool


async def _jwt_statuses(
    db: ReadDatabase, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], JwtStatus]:
    placeholders, params = in_list([jti for jti, _ in keys])
    rows = await db.fetch_all(
        "SELECT c.token_key, c.user_id, c.revoked_at, u.suspended, u.is_admin, u.email_verified"
        " FROM credentials c JOIN users u ON u.id = c.user_id"
        f" WHERE c.kind = 'jwt' AND c.token_key IN ({placeholders})",
        params,
    )
    return {
        (row["token_key"], row["user_id"]): JwtStatus(
            revoked=row["revoked_at"] is not None,
            suspended=bool(row["suspended"]),
            is_admin=bool(row["is_admin"]),
            email_verified=bool(row["email_verified"]),
        )
        for row in rows
    }


#: The state of a JWT by (jti, user id), None if it was never issued to that user: the check
#: of every request with a JWT, shared by the requests of one turn of the event loop.
JWT_STATUS: Lookup[tuple[str, str], JwtStatus] = Lookup("jwt_status", _jwt_statuses)


async def jwt_status(db: ReadDatabase, jti: str, user_id: str) -> JwtStatus | None:
    """The state of the JWT `jti` of `user_id`, or None if it was never issued."""
    return await db.lookup(JWT_STATUS, (jti, user_id))
