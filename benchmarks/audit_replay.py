"""Scenario `audit_replay`: verify (chain + signatures), full replay and export on a large log.

On each backend: build a log of AUDIT_BENCH_EVENTS journal entries quickly (BUILD_BATCH entries
per `save()`, inline read models and the chain written as in production, a checkpoint every
CHECKPOINT_STRIDE events), then time, on the same rows: a raw keyset SELECT (the baseline),
`verify_chain` (recompute every hash and check every checkpoint signature), a replay of every
read model into private copies compared by digest, and a CSV export of the whole journal.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from benchmarks.context import BenchContext
from benchmarks.scenario import Outcome, Scenario
from benchmarks.timing import Measurement
from commands.audit import write_checkpoint
from commands.audit_db import AuditDb
from commands.audit_verify import verify_chain
from commands.store import BuddoStore
from http_api.finance_cli import export_journal
from http_api.wiring import open_store
from ledger.journal import JournalEntry
from projections.audit_replay import replay_and_compare

log = logging.getLogger(__name__)

BACKENDS = ("sqlite", "postgres")
# The issue asks for 1M; building that takes 4-6 minutes per backend here (see the notes).
EVENTS = int(os.environ.get("AUDIT_BENCH_EVENTS", "200000"))
BUILD_BATCH = 1_000
CHECKPOINT_STRIDE = 50_000
USERS = 1_000
APPS = 20
SELECT_BATCH = 20_000


def run(ctx: BenchContext) -> Outcome:
    outcome = Outcome(
        parameters={
            "events": EVENTS,
            "build_batch": BUILD_BATCH,
            "checkpoint_stride": CHECKPOINT_STRIDE,
            "users": USERS,
            "apps": APPS,
        }
    )
    for backend in BACKENDS:
        _run_backend(ctx, backend, outcome)
    return outcome


def _timed(ops: int, action: Callable[[], object]) -> tuple[Measurement, object]:
    began = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - began
    return Measurement(threads=1, ops=ops, seconds=seconds, latencies=()), result


def _run_backend(ctx: BenchContext, backend: str, outcome: Outcome) -> None:
    settings = ctx.settings(backend)
    store = open_store(settings)
    key = Ed25519PrivateKey.generate()
    try:
        build, _ = _timed(EVENTS, lambda: _build(store, key))
        outcome.details[f"{backend}_build"] = {"events_per_s": round(build.ops_per_second)}
        _log(backend, "build (1,000 entries per save, inline models)", build)
        head = store.max_position()
        baseline, _ = _timed(head, lambda: _raw_select(ctx, settings.sqlite_path, backend))
        key_name = f"{backend}_raw_select"
        outcome.add_baseline(key_name, backend, "raw keyset SELECT of the same rows", baseline)
        _log(backend, "raw select", baseline)
        db = AuditDb(store)
        verified, report = _timed(head, lambda: verify_chain(db, key.public_key()))
        assert report.discrepancy is None, report.discrepancy  # type: ignore[attr-defined]
        outcome.add(backend, "verify: chain + checkpoint signatures", verified, key_name)
        _log(backend, "verify", verified)
        replayed, reports = _timed(head, lambda: replay_and_compare(store))
        assert all(r.matches for r in reports)  # type: ignore[attr-defined]
        outcome.add(backend, "replay every read model + digests", replayed, key_name)
        _log(backend, "replay", replayed)
        exported, _ = _timed(head, lambda: _export(store, ctx.temp_dir / f"export-{backend}"))
        outcome.add(backend, "export whole journal to CSV (per event)", exported, key_name)
        _log(backend, "export", exported)
    finally:
        store.close()


def _build(store: BuddoStore, key: Ed25519PrivateKey) -> None:
    users = [f"user:{uuid.uuid4()}" for _ in range(USERS)]
    apps = [uuid.uuid4() for _ in range(APPS)]
    balances = dict.fromkeys(users, 0) | {"treasury": 0}
    for start in range(0, EVENTS, BUILD_BATCH):
        entries = [_entry(i, users, apps, balances) for i in range(start, start + BUILD_BATCH)]
        store.save(*entries)
        if (start + BUILD_BATCH) % CHECKPOINT_STRIDE == 0:
            write_checkpoint(AuditDb(store), key, datetime.now(UTC))
    write_checkpoint(AuditDb(store), key, datetime.now(UTC))


def _entry(i: int, users: list[str], apps: list[uuid.UUID], balances: dict[str, int]) -> object:
    """A grant from the treasury to a user, tagged with an app (so analytics has work too)."""
    user, amount = users[i % len(users)], 1 + i % 7
    balances["treasury"] -= amount
    balances[user] += amount
    postings = [
        {"account": "treasury", "delta": -amount, "balance_after": balances["treasury"]},
        {"account": user, "delta": amount, "balance_after": balances[user]},
    ]
    return JournalEntry(uuid.uuid4(), "grant", postings, "bench", {}, apps[i % len(apps)], None)


def _raw_select(ctx: BenchContext, sqlite_path: Path, backend: str) -> int:
    """Fetch every stored event's columns in keyset batches, as verify does, and nothing else."""
    if backend == "postgres":
        statement = (
            "SELECT notification_id, originator_id, originator_version, topic, state"
            " FROM buddo_events WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        )
        with psycopg.connect(ctx.postgres_url) as conn:
            return _keyset(lambda after: conn.execute(statement, (after, SELECT_BATCH)).fetchall())
    query = (
        "SELECT rowid, originator_id, originator_version, topic, state"
        " FROM stored_events WHERE rowid > ? ORDER BY rowid LIMIT ?"
    )
    db = sqlite3.connect(sqlite_path)
    try:
        return _keyset(lambda after: db.execute(query, (after, SELECT_BATCH)).fetchall())
    finally:
        db.close()


def _keyset(fetch: Callable[[int], list[tuple[object, ...]]]) -> int:
    after, rows = 0, 0
    while batch := fetch(after):
        rows += len(batch)
        after = int(str(batch[-1][0]))
    return rows


def _export(store: BuddoStore, out: Path) -> None:
    with AuditDb(store).read() as q:
        export_journal(
            q, "2000-01-01T00:00:00.000000Z", "2999-01-01T00:00:00.000000Z", "recorded", "csv", out
        )


def _log(backend: str, label: str, measured: Measurement) -> None:
    log.info(
        "  %-8s %-48s %10.0f ev/s  (%.1f s)",
        backend,
        label,
        measured.ops_per_second,
        measured.seconds,
    )


SCENARIO = Scenario(
    name="audit_replay",
    title="Audit: verify, replay and export on a large log",
    about=(
        f"A log of {EVENTS:,} journal entries (one event each) is built on each backend, "
        f"{BUILD_BATCH:,} entries per `save()`, with the hash chain and every inline read "
        f"model written in the same transactions as in production and a signed checkpoint every "
        f"{CHECKPOINT_STRIDE:,} events. Then, on the same rows: the **baseline**, a raw keyset "
        f"`SELECT` of every event's columns in batches of {SELECT_BATCH:,} (psycopg or sqlite3, "
        "no decoding); **verify** (`verify_chain`: canonical bytes, leaf and chain hash of every "
        "event compared with its chain row, every checkpoint root recomputed and its Ed25519 "
        "signature checked); **replay** (`replay_and_compare`: every event decoded and applied "
        "to private copies of every read model in a scratch SQLite file, digests compared with "
        "the live tables); **export** (the whole journal as CSV with its manifest). Rates are "
        "events per second of the log."
    ),
    notes=(
        "- Rounds ran on different machines of this kind (the previous one on an AMD EPYC, this "
        "one on an Intel Xeon, both 2 cores): compare rounds by the ratio column; the "
        "absolute rates quoted from earlier rounds are for orientation only.\n"
        "- Design targets (spec §8): replay with hash verification ≥ 200,000 events/s (the "
        "*verify* row); rebuilding all read models ≥ 50,000 events/s (the *replay* row). "
        "**Where we stand** (this 2-core machine, the 1,000,000-event run in the table): "
        "verify 142k ev/s on SQLite (71% of the target; 85k in the previous round) and 41k on "
        "PostgreSQL (32k); replay 10.4k and 11.3k (8.7k and 7.7k); export 67k and 74k (58k "
        "and 61k). This round: verify reads plain tuples (binary from PostgreSQL), checks the "
        "SQLite id with one regex, and compares the drivers' ints and bytes as they come; "
        "replay hands each read model its whole batch of 1,000 events, and balances, history "
        "and analytics write a batch in one multi-row statement per table (`unnest` of arrays "
        "on PostgreSQL); digests read plain tuples. Profiles: verify is Python per event "
        "(canonical bytes, two SHA-256, the frontier) and, on PostgreSQL, the events-to-chain "
        "join and row decoding; replay is the library's event decoding (JSON transcoder, "
        "UUIDs, about a fifth), the SQLite writes of the copies, the read models' Python, and "
        "the digests of live and rebuilt tables (about a fifth).\n"
        "- Log size: `make bench` builds 200,000 events by default (`AUDIT_BENCH_EVENTS`) to "
        "keep the whole suite under 15 minutes; building goes through the real store with "
        "every inline read model and the chain at about 4k events/s, so 1M takes 4 minutes per "
        "backend and the scenario 14. The table here was made with "
        "`AUDIT_BENCH_EVENTS=1000000 .venv/bin/python -m benchmarks.run --only audit_replay`. "
        "Its first attempt found a bug: on PostgreSQL the replay's snapshot outlived the "
        "library's 5-second idle-in-transaction limit while digesting 2M history rows; "
        "read-only snapshots are now exempt (`commands/store.py`, `begin_snapshot`).\n"
        "- The export row counts events of the log per second; it writes one CSV row per "
        "posting (two per entry here)."
    ),
    run=run,
)
