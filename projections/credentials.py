"""CredentialsView: every issued credential (JWT ids; token digests) and whether it still works.

Written inline, in the transaction of the event that issues or revokes, so an access decision
made from it is never stale on any server process (design §5).
"""

from __future__ import annotations

from eventsourcing.domain import AggregateEvent

from ledger.grants import Connection, Grant
from ledger.oauth import OAuthApp
from ledger.times import iso_z
from ledger.users import User
from projections.base import Event, Projection, Sql

# Events that revoke every OAuth token of an app, with the reason recorded.
APP_REVOCATIONS: dict[type[AggregateEvent], str] = {
    OAuthApp.Suspended: "app_suspended",
    OAuthApp.Deleted: "app_deleted",
}


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
        else:
            self.apply_oauth(sql, position, event)

    def apply_oauth(self, sql: Sql, position: int, event: AggregateEvent) -> None:
        """OAuth tokens: issued by a grant, revoked by it, its app or its connection."""
        when = iso_z(event.timestamp)
        family = str(event.originator_id)
        if isinstance(event, Grant.CodeRedeemed | Grant.Rotated):
            if isinstance(event, Grant.Rotated):
                self.revoke(sql, "token_key = %s", (event.retired_digest,), when, "rotated")
            self.issue_pair(sql, position, event)
        elif isinstance(event, Grant.AccessTokenRevoked):
            self.revoke(sql, "token_key = %s", (event.access_digest,), when, event.reason)
        elif isinstance(event, Grant.Revoked):
            self.revoke(sql, "family_id = %s", (family,), when, event.reason)
        elif isinstance(event, Connection.Disconnected):
            pair = (str(event.user_id), str(event.app_id))
            self.revoke(sql, "user_id = %s AND app_id = %s", pair, when, "app_disconnected")
        elif type(event) in APP_REVOCATIONS:
            self.revoke(sql, "app_id = %s", (family,), when, APP_REVOCATIONS[type(event)])

    def issue_pair(
        self, sql: Sql, position: int, event: Grant.CodeRedeemed | Grant.Rotated
    ) -> None:
        """Rows for a new access token and refresh token of the grant's family."""
        for kind, digest, expires_at in (
            ("access", event.access_digest, event.access_expires_at),
            ("refresh", event.refresh_digest, event.refresh_expires_at),
        ):
            sql.execute(
                f"INSERT INTO {self.table('credentials')} (token_key, kind, user_id, app_id,"
                " scopes, family_id, issued_at, expires_at, issued_position)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    digest,
                    kind,
                    str(event.user_id),
                    str(event.app_id),
                    " ".join(event.scopes),
                    str(event.originator_id),
                    iso_z(event.timestamp),
                    iso_z(expires_at),
                    position,
                ),
            )

    def revoke(
        self, sql: Sql, where: str, params: tuple[object, ...], when: str, reason: str
    ) -> None:
        """Mark the matching live credentials revoked, with why."""
        sql.execute(
            f"UPDATE {self.table('credentials')} SET revoked_at = %s, revoked_reason = %s"
            f" WHERE revoked_at IS NULL AND {where}",
            (when, reason, *params),
        )
