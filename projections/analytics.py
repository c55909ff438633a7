"""AppAnalyticsView: per app and per UTC day, points spent, awards paid, ad events, users.

Written inline like the other read models (SQLite has no subscriptions to drive an
asynchronous runner), from journal entries and ad events only.
"""

from __future__ import annotations

from eventsourcing.domain import AggregateEvent

from ledger.ads import AdEvent
from ledger.journal import EntryKind, JournalEntry
from projections.base import Event, Projection, Sql

# How an entry counts for its app: the kind, and whose postings are the app's users.
COUNTED_KINDS = {EntryKind.SPEND.value: "spends", EntryKind.AD_PAYOUT.value: "awards"}


class AnalyticsProjection(Projection):
    """One row per (app, day) of totals, and one per (app, day, user) who was active."""

    name = "app_analytics"
    tables = {  # noqa: RUF012 - a class-level constant table
        "app_daily": (
            "CREATE TABLE IF NOT EXISTS {table} (app_id TEXT NOT NULL, day TEXT NOT NULL,"
            " spends BIGINT NOT NULL, awards BIGINT NOT NULL, ad_impressions BIGINT NOT NULL,"
            " ad_clicks BIGINT NOT NULL, PRIMARY KEY (app_id, day))",
            "app_id, day",
        ),
        "app_daily_users": (
            "CREATE TABLE IF NOT EXISTS {table} (app_id TEXT NOT NULL, day TEXT NOT NULL,"
            " user_id TEXT NOT NULL, PRIMARY KEY (app_id, day, user_id))",
            "app_id, day, user_id",
        ),
    }

    def apply(self, sql: Sql, position: int, event: Event) -> None:  # noqa: ARG002
        if isinstance(event, JournalEntry.Recorded) and event.app_id is not None:
            self.apply_entry(sql, event)
        elif isinstance(event, AdEvent.Recorded):
            column = "ad_impressions" if event.event_type == "impression" else "ad_clicks"
            self.add(sql, event, str(event.app_id), column, 1)
            self.active(sql, event, str(event.app_id), str(event.user_id))

    def apply_entry(self, sql: Sql, event: JournalEntry.Recorded) -> None:
        column = COUNTED_KINDS.get(event.kind)
        if column is None:
            return
        app_id = str(event.app_id)
        users = [p for p in event.postings if str(p["account"]).startswith("user:")]
        if column == "spends":
            amount = sum(-int(p["delta"]) for p in users)
        else:
            amount = sum(int(p["delta"]) for p in users)
        self.add(sql, event, app_id, column, amount)
        for posting in users:
            self.active(sql, event, app_id, str(posting["account"]).removeprefix("user:"))

    def add(self, sql: Sql, event: AggregateEvent, app_id: str, column: str, amount: int) -> None:
        values = {"spends": 0, "awards": 0, "ad_impressions": 0, "ad_clicks": 0, column: amount}
        sql.execute(
            f"INSERT INTO {self.table('app_daily')} (app_id, day, spends, awards, ad_impressions,"
            f" ad_clicks) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (app_id, day) DO UPDATE"
            f" SET {column} = {self.table('app_daily')}.{column} + excluded.{column}",
            (app_id, _day(event), *values.values()),
        )

    def active(self, sql: Sql, event: AggregateEvent, app_id: str, user_id: str) -> None:
        sql.execute(
            f"INSERT INTO {self.table('app_daily_users')} (app_id, day, user_id)"
            " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            (app_id, _day(event), user_id),
        )


def _day(event: AggregateEvent) -> str:
    return event.timestamp.date().isoformat()
