"""UsersView: the directory of users (profile fields, flags), written inline."""

from __future__ import annotations

from eventsourcing.domain import AggregateEvent

from ledger.times import iso_z
from ledger.users import User
from projections.base import Event, Projection, Sql

FLAG_EVENTS: dict[type[AggregateEvent], tuple[str, int]] = {
    User.EmailVerified: ("email_verified", 1),
    User.TotpEnabled: ("totp_enabled", 1),
    User.TotpDisabled: ("totp_enabled", 0),
    User.Suspended: ("suspended", 1),
    User.Unsuspended: ("suspended", 0),
}


class UsersProjection(Projection):
    """One row per user; booleans are 0/1 so the digest is the same on every backend."""

    name = "users"
    tables = {  # noqa: RUF012 - a class-level constant table
        "users": (
            "CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, email TEXT NOT NULL,"
            " username TEXT NOT NULL, username_key TEXT NOT NULL,"
            " registration_number BIGINT NOT NULL, referral_code TEXT NOT NULL,"
            " referred_by TEXT, tier TEXT NOT NULL, is_admin INTEGER NOT NULL,"
            " email_verified INTEGER NOT NULL, totp_enabled INTEGER NOT NULL,"
            " suspended INTEGER NOT NULL, inserted_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
            "id",
        ),
    }

    def apply(self, sql: Sql, position: int, event: Event) -> None:  # noqa: ARG002
        if not isinstance(event, AggregateEvent):
            return
        table = self.table("users")
        when = iso_z(event.timestamp)
        user_id = str(event.originator_id)
        if isinstance(event, User.Registered):
            sql.execute(
                f"INSERT INTO {table} VALUES"
                " (%s, %s, %s, %s, %s, %s, %s, 'free', %s, 0, 0, 0, %s, %s)",
                (
                    user_id,
                    event.email,
                    event.username,
                    event.username.casefold(),
                    event.registration_number,
                    event.referral_code,
                    str(event.referred_by) if event.referred_by else None,
                    int(event.is_admin),
                    when,
                    when,
                ),
            )
        elif isinstance(event, User.UsernameChanged):
            sql.execute(
                f"UPDATE {table} SET username = %s, username_key = %s, updated_at = %s"
                " WHERE id = %s",
                (event.username, event.username.casefold(), when, user_id),
            )
        elif type(event) in FLAG_EVENTS:
            column, value = FLAG_EVENTS[type(event)]
            sql.execute(
                f"UPDATE {table} SET {column} = %s, updated_at = %s WHERE id = %s",
                (value, when, user_id),
            )
