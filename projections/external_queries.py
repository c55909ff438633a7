"""Queries of the external and operator API: app sessions and app analytics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from ledger.errors import NotFoundError
from projections.db import ReadDatabase


@dataclass(frozen=True)
class SessionView:
    """An app session as the API shows it (spec 6.1)."""

    id: str
    started_at: str
    last_heartbeat_at: str | None
    expires_at: str
    ended_at: str | None

    def as_json(self, now: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "active": self.ended_at is None and now < self.expires_at,
            "started_at": self.started_at,
            "last_heartbeat_at": self.last_heartbeat_at,
            "expires_at": self.expires_at,
            "ended_at": self.ended_at,
        }


async def session_of_grant(db: ReadDatabase, grant_id: UUID) -> SessionView:
    """The session the code exchange of this grant started (NotFoundError if none)."""
    row = await db.fetch_one(
        "SELECT s.* FROM grant_sessions g JOIN app_sessions s ON s.id = g.session_id"
        " WHERE g.grant_id = %s",
        (str(grant_id),),
    )
    if row is None:
        raise NotFoundError("This token has no session.")
    return SessionView(
        id=row["id"],
        started_at=row["started_at"],
        last_heartbeat_at=row["last_heartbeat_at"],
        expires_at=row["expires_at"],
        ended_at=row["ended_at"],
    )


async def total_users(db: ReadDatabase, app_id: UUID) -> int:
    """Distinct users who ever authorized the app (its owner too, if they did)."""
    row = await db.fetch_one(
        "SELECT COUNT(*) AS n FROM connections WHERE app_id = %s", (str(app_id),)
    )
    return int(row["n"]) if row else 0


async def analytics(
    db: ReadDatabase, app_id: UUID, window_days: int, today: date
) -> dict[str, Any]:
    """Totals over the last `window_days` UTC days (today included), and the daily series."""
    first = (today - timedelta(days=window_days - 1)).isoformat()
    rows = await db.fetch_all(
        "SELECT d.day, d.spends, d.awards, d.ad_impressions, d.ad_clicks,"
        " (SELECT COUNT(*) FROM app_daily_users u WHERE u.app_id = d.app_id AND u.day = d.day)"
        " AS active_users FROM app_daily d WHERE d.app_id = %s AND d.day >= %s ORDER BY d.day",
        (str(app_id), first),
    )
    daily = [
        {
            "date": row["day"],
            "spends": int(row["spends"]),
            "awards": int(row["awards"]),
            "active_users": int(row["active_users"]),
        }
        for row in rows
    ]
    return {
        "total_awards": sum(int(row["awards"]) for row in rows),
        "total_spends": sum(int(row["spends"]) for row in rows),
        "total_users": await total_users(db, app_id),
        "window_days": window_days,
        "ad_impressions": sum(int(row["ad_impressions"]) for row in rows),
        "ad_clicks": sum(int(row["ad_clicks"]) for row in rows),
        "daily": daily,
    }
