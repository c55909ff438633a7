"""SessionsView: app sessions (started by a code exchange) and which grant started which."""

from __future__ import annotations

from eventsourcing.domain import AggregateEvent

from ledger.grants import Grant
from ledger.sessions import AppSession
from ledger.times import iso_z
from projections.base import Event, Projection, Sql


class SessionsProjection(Projection):
    """One row per session; one per grant that started a session."""

    name = "sessions"
    tables = {  # noqa: RUF012 - a class-level constant table
        "app_sessions": (
            "CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, user_id TEXT NOT NULL,"
            " app_id TEXT NOT NULL, started_at TEXT NOT NULL, last_heartbeat_at TEXT,"
            " expires_at TEXT NOT NULL, ended_at TEXT, end_reason TEXT)",
            "id",
        ),
        "grant_sessions": (
            "CREATE TABLE IF NOT EXISTS {table} (grant_id TEXT PRIMARY KEY,"
            " session_id TEXT NOT NULL)",
            "grant_id",
        ),
    }

    def apply(self, sql: Sql, position: int, event: Event) -> None:  # noqa: ARG002
        if not isinstance(event, AggregateEvent):
            return
        table = self.table("app_sessions")
        session_id = str(event.originator_id)
        when = iso_z(event.timestamp)
        if isinstance(event, AppSession.Started):
            sql.execute(
                f"INSERT INTO {table} (id, user_id, app_id, started_at, expires_at)"
                " VALUES (%s, %s, %s, %s, %s)",
                (session_id, str(event.user_id), str(event.app_id), when, iso_z(event.expires_at)),
            )
        elif isinstance(event, AppSession.Refreshed):
            sql.execute(
                f"UPDATE {table} SET last_heartbeat_at = %s, expires_at = %s WHERE id = %s",
                (when, iso_z(event.expires_at), session_id),
            )
        elif isinstance(event, AppSession.Ended):
            sql.execute(
                f"UPDATE {table} SET ended_at = %s, end_reason = %s WHERE id = %s",
                (when, event.reason, session_id),
            )
        elif isinstance(event, Grant.CodeRedeemed) and event.session_id is not None:
            sql.execute(
                f"INSERT INTO {self.table('grant_sessions')} (grant_id, session_id)"
                " VALUES (%s, %s)",
                (str(event.originator_id), str(event.session_id)),
            )
