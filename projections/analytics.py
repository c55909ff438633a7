"""AppAnalyticsView: per app and per UTC day, points spent, awards paid, ad events, users.

Written inline like the other read models (SQLite has no subscriptions to drive an
asynchronous runner), from journal entries and ad events only.
"""

from __future__ import annotations

from collections.abc import Sequence

from eventsourcing.domain import AggregateEvent

from ledger.ads import AdEvent
from ledger.journal import EntryKind, JournalEntry
from projections.base import Event, Projection, Sql, insert_rows

# How an entry counts for its app: the kind, and whose postings are the app's users.
COUNTED_KINDS = {EntryKind.SPEND.value: "spends", EntryKind.AD_PAYOUT.value: "awards"}
COLUMNS = ("spends", "awards", "ad_impressions", "ad_clicks")


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

    def apply(self, sql: Sql, position: int, event: Event) -> None:
        self.apply_batch(sql, [(position, event)])

    def apply_batch(self, sql: Sql, recorded: Sequence[tuple[int, Event]]) -> None:
        # Totals add up and active users are a set: a batch sums its events per (app, day)
        # and writes each table in one statement, the same rows as one event at a time.
        totals: dict[tuple[str, str], list[int]] = {}
        active: dict[tuple[str, str, str], None] = {}
        for _, event in recorded:
            for app_id, day, column, amount, users in _counts(event):
                row = totals.setdefault((app_id, day), [0] * len(COLUMNS))
                row[COLUMNS.index(column)] += amount
                active.update(dict.fromkeys((app_id, day, user) for user in users))
        if totals:
            insert_rows(
                sql,
                f"{self.table('app_daily')} (app_id, day, {', '.join(COLUMNS)})",
                ("text", "text", *["bigint"] * len(COLUMNS)),
                [(*key, *row) for key, row in totals.items()],
                "ON CONFLICT (app_id, day) DO UPDATE SET "
                + ", ".join(f"{c} = {self.table('app_daily')}.{c} + excluded.{c}" for c in COLUMNS),
            )
        if active:
            insert_rows(
                sql,
                f"{self.table('app_daily_users')} (app_id, day, user_id)",
                ("text", "text", "text"),
                list(active),
                "ON CONFLICT DO NOTHING",
            )


def _counts(event: Event) -> list[tuple[str, str, str, int, list[str]]]:
    """What `event` adds: (app id, day, column, amount, active users), if anything."""
    if isinstance(event, AdEvent.Recorded):
        kind = "ad_impressions" if event.event_type == "impression" else "ad_clicks"
        return [(str(event.app_id), _day(event), kind, 1, [str(event.user_id)])]
    if not isinstance(event, JournalEntry.Recorded) or event.app_id is None:
        return []
    column = COUNTED_KINDS.get(event.kind)
    if column is None:
        return []
    users = [p for p in event.postings if str(p["account"]).startswith("user:")]
    sign = -1 if column == "spends" else 1
    amount = sum(sign * int(p["delta"]) for p in users)
    user_ids = [str(p["account"]).removeprefix("user:") for p in users]
    return [(str(event.app_id), _day(event), column, amount, user_ids)]


def _day(event: AggregateEvent) -> str:
    return event.timestamp.date().isoformat()
