"""Queries over the social graph and chat: friends, requests, search, channels, messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from ledger.errors import NotFoundError
from projections.db import ReadDatabase, Row
from projections.queries import decode_cursor, decode_key, encode_cursor, keyset, page_of

SEARCH_LIMIT = 20
# Users either of whom blocked the other, as seen from the user in the first parameter.
NOT_BLOCKED = (
    " AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.active = 1 AND"
    " ((b.blocker_id = %s AND b.blocked_id = u.id) OR (b.blocker_id = u.id AND b.blocked_id = %s)))"
)


@dataclass(frozen=True)
class FriendRequestView:
    """A friend request and where it stands."""

    id: str
    from_user_id: str
    from_username: str
    to_user_id: str
    to_username: str
    status: str
    inserted_at: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "from_user_id": self.from_user_id,
            "from_username": self.from_username,
            "to_user_id": self.to_user_id,
            "to_username": self.to_username,
            "status": self.status,
            "inserted_at": self.inserted_at,
        }


REQUEST_QUERY = (
    "SELECT r.*, f.username AS from_username, t.username AS to_username FROM friend_requests r"
    " JOIN users f ON f.id = r.from_user_id JOIN users t ON t.id = r.to_user_id"
)


def _request(row: Row) -> FriendRequestView:
    return FriendRequestView(
        id=row["id"],
        from_user_id=row["from_user_id"],
        from_username=row["from_username"],
        to_user_id=row["to_user_id"],
        to_username=row["to_username"],
        status=row["status"],
        inserted_at=row["inserted_at"],
    )


async def friend_request(db: ReadDatabase, request_id: UUID) -> FriendRequestView:
    row = await db.fetch_one(f"{REQUEST_QUERY} WHERE r.id = %s", (str(request_id),))
    if row is None:
        raise NotFoundError("No such friend request.")
    return _request(row)


MaybeText = (str, type(None))
# (incoming after: inserted_at, id; outgoing after: inserted_at, id); a list that has no more
# rows has None for both of its parts.
PENDING_CURSOR = (MaybeText, MaybeText, MaybeText, MaybeText)


async def pending_requests(
    db: ReadDatabase, user_id: UUID, limit: int, cursor: str | None
) -> tuple[list[FriendRequestView], list[FriendRequestView], str | None]:
    """A page of the pending requests to and from `user_id`, each list oldest first with at
    most `limit` rows, and one cursor that carries both lists on (None when both are done)."""
    key = decode_key(cursor, PENDING_CURSOR) if cursor else ("", "", "", "")
    lists: list[list[FriendRequestView]] = []
    parts: list[str | None] = []
    for column, after in (("to_user_id", key[:2]), ("from_user_id", key[2:])):
        rows: list[Row] = []
        if after[0] is not None:  # None: this list was done on an earlier page
            rows = await db.fetch_all(
                f"{REQUEST_QUERY} WHERE r.status = 'pending' AND r.{column} = %s"
                " AND (r.inserted_at, r.id) > (%s, %s) ORDER BY r.inserted_at, r.id LIMIT %s",
                (str(user_id), *after, limit + 1),
            )
        lists.append([_request(row) for row in rows[:limit]])
        last = rows[limit - 1] if len(rows) > limit else None
        parts += (last["inserted_at"], last["id"]) if last else (None, None)
    incoming, outgoing = lists
    return incoming, outgoing, None if parts == [None] * 4 else encode_cursor(*parts)


async def friends(
    db: ReadDatabase, user_id: UUID, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of `{user_id, username, since}` of each friend, by username (any case), and the
    cursor of the next page: the last friend's (username key, id), as a username can change."""
    after, params = keyset("u.username_key, f.friend_id", cursor, (str, str))
    rows = await db.fetch_all(
        "SELECT f.friend_id AS user_id, u.username, u.username_key, f.since FROM friendships f"
        f" JOIN users u ON u.id = f.friend_id WHERE f.user_id = %s{after}"
        " ORDER BY u.username_key, f.friend_id LIMIT %s",
        (str(user_id), *params, limit + 1),
    )
    page, next_cursor = page_of(rows, limit, lambda row: (row["username_key"], row["user_id"]))
    shown = [{name: row[name] for name in ("user_id", "username", "since")} for row in page]
    return shown, next_cursor


async def friend_ids(db: ReadDatabase, user_id: UUID) -> list[str]:
    rows = await db.fetch_all(
        "SELECT friend_id FROM friendships WHERE user_id = %s", (str(user_id),)
    )
    return [row["friend_id"] for row in rows]


async def search_users(db: ReadDatabase, caller: UUID, prefix: str) -> list[dict[str, Any]]:
    """Users whose username starts with `prefix` (any case), without the caller and without
    anyone the caller blocked or who blocked the caller."""
    key = prefix.casefold()
    me = str(caller)
    rows = await db.fetch_all(
        "SELECT u.id, u.username FROM users u"
        " WHERE substr(u.username_key, 1, CAST(%s AS INTEGER)) = %s"
        f" AND u.id <> %s AND u.suspended = 0{NOT_BLOCKED} ORDER BY u.username_key LIMIT %s",
        (len(key), key, me, me, me, SEARCH_LIMIT),
    )
    return [dict(row) for row in rows]


async def usernames(db: ReadDatabase, user_ids: Sequence[str]) -> dict[str, str]:
    """user id -> username, for the ids that name a user."""
    if not user_ids:
        return {}
    marks = ", ".join(["%s"] * len(user_ids))
    rows = await db.fetch_all(
        f"SELECT id, username FROM users WHERE id IN ({marks})", tuple(user_ids)
    )
    return {row["id"]: row["username"] for row in rows}


async def channel(db: ReadDatabase, channel_id: UUID) -> dict[str, Any]:
    """`{id, type, ref_id}` of a channel (NotFoundError when there is none)."""
    row = await db.fetch_one(
        "SELECT id, type, ref_id FROM chat_channels WHERE id = %s", (str(channel_id),)
    )
    if row is None:
        raise NotFoundError("No such channel.")
    return dict(row)


MESSAGE_QUERY = (
    "SELECT m.id, m.sender_id, u.username AS sender_username, m.filtered_body, m.sent_at,"
    " m.position FROM chat_messages m JOIN users u ON u.id = m.sender_id"
)


def _message(row: Row) -> dict[str, Any]:
    return {name: row[name] for name in ("id", "sender_id", "sender_username", "filtered_body")} | {
        "sent_at": row["sent_at"]
    }


async def message(db: ReadDatabase, message_id: UUID) -> dict[str, Any]:
    row = await db.fetch_one(f"{MESSAGE_QUERY} WHERE m.id = %s", (str(message_id),))
    if row is None:
        raise NotFoundError("No such message.")
    return _message(row)


async def messages(
    db: ReadDatabase, channel_id: UUID, reader: UUID, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the channel's messages, newest first, without those of senders the reader
    blocked; and the cursor of the next page (None at the end)."""
    before = decode_cursor(cursor) if cursor else 2**62
    rows = await db.fetch_all(
        f"{MESSAGE_QUERY} WHERE m.channel_id = %s AND m.position < %s AND NOT EXISTS"
        " (SELECT 1 FROM blocks b WHERE b.blocker_id = %s AND b.blocked_id = m.sender_id"
        " AND b.active = 1) ORDER BY m.position DESC LIMIT %s",
        (str(channel_id), before, str(reader), limit + 1),
    )
    page = rows[:limit]
    more = len(rows) > limit
    return [_message(row) for row in page], encode_cursor(page[-1]["position"]) if more else None
