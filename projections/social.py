"""SocialView: friend requests, friendships, blocks, chat channels and messages, written inline."""

from __future__ import annotations

from eventsourcing.domain import AggregateEvent

from ledger.social import Block, ChatChannel, ChatMessage, Friendship
from ledger.times import iso_z
from projections.base import Event, Projection, Sql

FRIENDSHIP_EVENTS = (
    Friendship.Requested,
    Friendship.Accepted,
    Friendship.Withdrawn,
    Friendship.Ended,
)


class SocialProjection(Projection):
    """Friendships are kept both ways (one row per direction) so a user's friends are one
    indexed lookup; booleans are 0/1 so the digest is the same on every backend."""

    name = "social"
    tables = {  # noqa: RUF012 - a class-level constant table
        "friend_requests": (
            "CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, from_user_id TEXT NOT NULL,"
            " to_user_id TEXT NOT NULL, status TEXT NOT NULL, inserted_at TEXT NOT NULL,"
            " updated_at TEXT NOT NULL)",
            "id",
        ),
        "friendships": (
            "CREATE TABLE IF NOT EXISTS {table} (user_id TEXT NOT NULL, friend_id TEXT NOT NULL,"
            " since TEXT NOT NULL, PRIMARY KEY (user_id, friend_id))",
            "user_id, friend_id",
        ),
        "blocks": (
            "CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, blocker_id TEXT NOT NULL,"
            " blocked_id TEXT NOT NULL, active INTEGER NOT NULL, updated_at TEXT NOT NULL)",
            "id",
        ),
        "chat_channels": (
            "CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, type TEXT NOT NULL,"
            " ref_id TEXT, inserted_at TEXT NOT NULL)",
            "id",
        ),
        "chat_messages": (
            "CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, channel_id TEXT NOT NULL,"
            " sender_id TEXT NOT NULL, filtered_body TEXT NOT NULL, sent_at TEXT NOT NULL,"
            " position BIGINT NOT NULL)",
            "id",
        ),
    }

    def schema(self) -> list[str]:
        return [
            *super().schema(),
            f"CREATE INDEX IF NOT EXISTS {self.table('friend_requests_to')}"
            f" ON {self.table('friend_requests')} (to_user_id, status)",
            f"CREATE INDEX IF NOT EXISTS {self.table('friend_requests_from')}"
            f" ON {self.table('friend_requests')} (from_user_id, status)",
            f"CREATE INDEX IF NOT EXISTS {self.table('blocks_by_blocker')}"
            f" ON {self.table('blocks')} (blocker_id, active)",
            f"CREATE INDEX IF NOT EXISTS {self.table('blocks_by_blocked')}"
            f" ON {self.table('blocks')} (blocked_id, active)",
            f"CREATE INDEX IF NOT EXISTS {self.table('chat_messages_by_channel')}"
            f" ON {self.table('chat_messages')} (channel_id, position)",
        ]

    def apply(self, sql: Sql, position: int, event: Event) -> None:
        if not isinstance(event, AggregateEvent):
            return
        if isinstance(event, FRIENDSHIP_EVENTS):
            self.apply_friendship(sql, event)
        elif isinstance(event, Block.Blocked | Block.Reblocked | Block.Unblocked):
            self.apply_block(sql, event)
        elif isinstance(event, ChatChannel.Opened):
            sql.execute(
                f"INSERT INTO {self.table('chat_channels')} VALUES (%s, %s, %s, %s)",
                (
                    str(event.originator_id),
                    event.channel_type,
                    event.ref_id,
                    iso_z(event.timestamp),
                ),
            )
        elif isinstance(event, ChatMessage.Sent):
            sql.execute(
                f"INSERT INTO {self.table('chat_messages')} VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    str(event.originator_id),
                    str(event.channel_id),
                    str(event.sender_id),
                    event.filtered_body,
                    iso_z(event.sent_at),
                    position,
                ),
            )

    def apply_friendship(self, sql: Sql, event: AggregateEvent) -> None:
        requests, friendships = self.table("friend_requests"), self.table("friendships")
        when = iso_z(event.timestamp)
        if isinstance(event, Friendship.Requested):
            sql.execute(
                f"INSERT INTO {requests} VALUES (%s, %s, %s, 'pending', %s, %s)",
                (str(event.request_id), str(event.from_user_id), str(event.to_user_id), when, when),
            )
        elif isinstance(event, Friendship.Accepted):
            self.set_status(sql, event.request_id, "accepted", when)
            pairs = ((event.from_user_id, event.to_user_id), (event.to_user_id, event.from_user_id))
            for user, friend in pairs:
                sql.execute(
                    f"INSERT INTO {friendships} VALUES (%s, %s, %s)", (str(user), str(friend), when)
                )
        elif isinstance(event, Friendship.Withdrawn):
            self.set_status(sql, event.request_id, event.status, when)
        elif isinstance(event, Friendship.Ended):
            first, second = (str(user) for user in event.user_ids)
            sql.execute(
                f"DELETE FROM {friendships} WHERE (user_id = %s AND friend_id = %s)"
                " OR (user_id = %s AND friend_id = %s)",
                (first, second, second, first),
            )

    def set_status(self, sql: Sql, request_id: object, status: str, when: str) -> None:
        sql.execute(
            f"UPDATE {self.table('friend_requests')} SET status = %s, updated_at = %s"
            " WHERE id = %s",
            (status, when, str(request_id)),
        )

    def apply_block(self, sql: Sql, event: AggregateEvent) -> None:
        table, when = self.table("blocks"), iso_z(event.timestamp)
        if isinstance(event, Block.Blocked):
            sql.execute(
                f"INSERT INTO {table} VALUES (%s, %s, %s, 1, %s)",
                (str(event.originator_id), str(event.blocker_id), str(event.blocked_id), when),
            )
        else:
            active = int(isinstance(event, Block.Reblocked))
            sql.execute(
                f"UPDATE {table} SET active = %s, updated_at = %s WHERE id = %s",
                (active, when, str(event.originator_id)),
            )
