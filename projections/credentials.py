"""CredentialsView: every issued credential (JWT ids; token digests) and whether it still works.

Written inline, in the transaction of the event that issues or revokes, so an access decision
made from it is never stale on any server process (design §5).
"""

from __future__ import annotations

from eventsourcing.domain import AggregateEvent

from ledger.users import User
from projections.base import Event, Projection, Sql, iso_z


class CredentialsProjection(Projection):
    """token_key is a JWT's `jti` or the SHA-256 digest of an opaque token."""

    name = "credentials"
    tables = {  # noqa: RUF012 - a class-level constant table
        "credentials": (
            "CREATE TABLE IF NOT EXISTS {table} (token_key TEXT PRIMARY KEY,"
            " kind TEXT NOT NULL, user_id TEXT NOT NULL, app_id TEXT, scopes TEXT,"
            " family_id TEXT, issued_at TEXT NOT NULL, expires_at TEXT NOT NULL,"
            " issued_position BIGINT NOT NULL, revoked_at TEXT, revoked_reason TEXT)",
            "token_key",
        ),
    }

    def schema(self) -> list[str]:
        index = self.table("credentials_by_user")
        return [
            *super().schema(),
            f"CREATE INDEX IF NOT EXISTS {index} ON {self.table('credentials')} (user_id)",
        ]

    def apply(self, sql: Sql, position: int, event: Event) -> None:
        if not isinstance(event, AggregateEvent):
            return
        user_id = str(event.originator_id)
        when = iso_z(event.timestamp)
        if isinstance(event, User.SignedIn):
            sql.execute(
                f"INSERT INTO {self.table('credentials')} (token_key, kind, user_id, issued_at,"
                " expires_at, issued_position) VALUES (%s, 'jwt', %s, %s, %s, %s)",
                (event.jti, user_id, when, iso_z(event.expires_at), position),
            )
        elif isinstance(event, User.SignedOut):
            self.revoke(
                sql, "token_key = %s AND user_id = %s", (event.jti, user_id), when, "logout"
            )
        elif isinstance(event, User.PasswordChanged):
            self.revoke(
                sql,
                "user_id = %s AND token_key <> %s",
                (user_id, event.kept_jti or ""),
                when,
                f"password_{event.reason}",
            )
        elif isinstance(event, User.Suspended):
            self.revoke(sql, "user_id = %s", (user_id,), when, "user_suspended")

    def revoke(
        self, sql: Sql, where: str, params: tuple[object, ...], when: str, reason: str
    ) -> None:
        """Mark the matching live credentials revoked, with why."""
        sql.execute(
            f"UPDATE {self.table('credentials')} SET revoked_at = %s, revoked_reason = %s"
            f" WHERE revoked_at IS NULL AND {where}",
            (when, reason, *params),
        )
