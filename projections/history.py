"""AccountHistoryView: every posting of every account, for paginated newest-first reads."""

from __future__ import annotations

import json
from collections.abc import Sequence

from ledger.journal import JournalEntry
from ledger.times import iso_z
from projections.base import Event, Projection, Sql, insert_rows

# The table's columns, in order, as PostgreSQL types.
COLUMN_TYPES = (
    *("text", "bigint", "text", "text", "bigint", "bigint"),
    *("text", "text", "text", "text", "text", "text"),
)


class HistoryProjection(Projection):
    """One row per posting, keyed by (account, position)."""

    name = "account_history"
    tables = {  # noqa: RUF012 - a class-level constant table
        "account_history": (
            "CREATE TABLE IF NOT EXISTS {table} (account TEXT NOT NULL,"
            " position BIGINT NOT NULL, entry_id TEXT NOT NULL, kind TEXT NOT NULL,"
            " delta BIGINT NOT NULL, balance_after BIGINT NOT NULL, counterparty TEXT,"
            " app_id TEXT, memo TEXT NOT NULL, metadata TEXT NOT NULL,"
            " recorded_at TEXT NOT NULL, effective_at TEXT, PRIMARY KEY (account, position))",
            "account, position",
        ),
    }

    def apply(self, sql: Sql, position: int, event: Event) -> None:
        self.apply_batch(sql, [(position, event)])

    def apply_batch(self, sql: Sql, recorded: Sequence[tuple[int, Event]]) -> None:
        rows: list[tuple[object, ...]] = []
        for position, event in recorded:
            if isinstance(event, JournalEntry.Recorded):
                rows.extend(_rows(position, event))
        if rows:  # columns in the table's order
            insert_rows(sql, self.table("account_history"), COLUMN_TYPES, rows)


def _rows(position: int, event: JournalEntry.Recorded) -> list[tuple[object, ...]]:
    """One row per posting of the entry."""
    accounts = [p["account"] for p in event.postings]
    entry = (position, str(event.originator_id), event.kind)
    about = (
        str(event.app_id) if event.app_id else None,
        event.memo,
        json.dumps(event.metadata, sort_keys=True),
        iso_z(event.timestamp),
        iso_z(event.effective_at) if event.effective_at else None,
    )
    rows: list[tuple[object, ...]] = []
    for posting in event.postings:
        others = [a for a in accounts if a != posting["account"]]
        counterparty = others[0] if len(others) == 1 else None
        account, delta, after = posting["account"], posting["delta"], posting["balance_after"]
        rows.append((account, *entry, delta, after, counterparty, *about))
    return rows
