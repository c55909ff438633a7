"""Baselines: the same database doing the least it can per commit, one row per transaction.

A raw loop on one connection inserts a row, reads its id back and commits, for the same time
as the measurement it is compared with. The ratio `ledger ops/s ÷ raw commits/s` says how much
of the database's commit rate the ledger turns into useful work.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import psycopg

from benchmarks.timing import Measurement, Operation, run_for, warm_up

# About the size of one stored ledger event's state.
PAYLOAD = json.dumps(
    {
        "entry_id": "00000000-0000-4000-8000-000000000000",
        "amount": 1,
        "balance_after": 999_999_999,
        "account": "user:00000000-0000-4000-8000-000000000000",
        "memo": "bench",
    }
)
WARM_UP_SECONDS = 0.5

PG_TABLE = "CREATE TABLE IF NOT EXISTS bench_raw (id BIGSERIAL PRIMARY KEY, payload TEXT NOT NULL)"
PG_INSERT = "INSERT INTO bench_raw(payload) VALUES (%s) RETURNING id"
SQLITE_TABLE = (
    "CREATE TABLE IF NOT EXISTS bench_raw (id INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT)"
)
SQLITE_INSERT = "INSERT INTO bench_raw(payload) VALUES (?) RETURNING id"
SQLITE_SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def postgres_raw_commits(url: str, duration: float) -> Measurement:
    """psycopg 3, one connection: `INSERT ... RETURNING id` + COMMIT per row."""
    with psycopg.connect(url) as conn:
        conn.execute(PG_TABLE)
        conn.commit()

        def insert() -> None:
            conn.execute(PG_INSERT, (PAYLOAD,)).fetchone()
            conn.commit()

        return _measure(insert, duration)


def sqlite_raw_commits(path: Path, duration: float, synchronous: str) -> Measurement:
    """sqlite3, one connection in WAL mode: BEGIN, `INSERT ... RETURNING id`, COMMIT per row."""
    with contextlib.closing(
        sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    ) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute(SQLITE_TABLE)

        def insert() -> None:
            conn.execute("BEGIN")
            conn.execute(SQLITE_INSERT, (PAYLOAD,)).fetchone()
            conn.execute("COMMIT")

        return _measure(insert, duration)


def sqlite_synchronous_name(level: int) -> str:
    """`PRAGMA synchronous` as a name: 2 is FULL."""
    return SQLITE_SYNCHRONOUS.get(level, str(level))


def _measure(operation: Operation, duration: float) -> Measurement:
    warm_up(WARM_UP_SECONDS, lambda _: operation)
    return run_for(duration, lambda _: operation)
