"""BalanceView: account -> balance, and the position it is current to."""

from __future__ import annotations

from ledger.journal import JournalEntry
from ledger.times import iso_z
from projections.base import Event, Projection, Sql


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
        if not isinstance(event, JournalEntry.Recorded):
            return
        postings = event.postings
        rows = ", ".join(["(%s, %s, %s, %s)"] * len(postings))
        updated_at = iso_z(event.timestamp)
        sql.execute(
            f"INSERT INTO {self.table('balances')} (account, balance, position, updated_at)"
            f" VALUES {rows} ON CONFLICT (account) DO UPDATE SET"
            " balance = excluded.balance, position = excluded.position,"
            " updated_at = excluded.updated_at",
            [
                value
                for posting in postings
                for value in (posting["account"], posting["balance_after"], position, updated_at)
            ],
        )
