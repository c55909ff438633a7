"""BalanceView: account -> balance, and the position it is current to."""

from __future__ import annotations

from collections.abc import Sequence

from ledger.journal import JournalEntry
from ledger.times import iso_z
from projections.base import Event, Projection, Sql, insert_rows


class BalanceProjection(Projection):
    """Each posting sets its account's balance to the balance after the entry."""

    name = "balances"
    tables = {  # noqa: RUF012 - a class-level constant table
        "balances": (
            "CREATE TABLE IF NOT EXISTS {table} (account TEXT PRIMARY KEY,"
            " balance BIGINT NOT NULL, position BIGINT NOT NULL, updated_at TEXT NOT NULL)",
            "account",
        ),
    }

    def apply(self, sql: Sql, position: int, event: Event) -> None:
        self.apply_batch(sql, [(position, event)])

    def apply_batch(self, sql: Sql, recorded: Sequence[tuple[int, Event]]) -> None:
        # One row per account, as the last of the batch's postings left it: one statement
        # (an upsert may not touch a row twice).
        latest: dict[str, tuple[object, ...]] = {}
        for position, event in recorded:
            if isinstance(event, JournalEntry.Recorded):
                updated_at = iso_z(event.timestamp)
                for posting in event.postings:
                    account = posting["account"]
                    latest[account] = (account, posting["balance_after"], position, updated_at)
        if latest:
            insert_rows(
                sql,
                f"{self.table('balances')} (account, balance, position, updated_at)",
                ("text", "bigint", "bigint", "text"),
                list(latest.values()),
                "ON CONFLICT (account) DO UPDATE SET balance = excluded.balance,"
                " position = excluded.position, updated_at = excluded.updated_at",
            )
