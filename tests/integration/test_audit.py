"""Tamper evidence on SQLite and PostgreSQL: any edit, deletion, swap or insertion of a stored
event is found by `verify`, which names its position; proofs hold for an outsider's verifier."""

from __future__ import annotations

import importlib.util
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import UUID, uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from commands import audit, audit_chain
from commands.audit import consistency_proof, inclusion_proof, public_jwk, write_checkpoint
from commands.audit_db import AuditDb
from commands.audit_events import events_page
from commands.audit_verify import verify_chain
from commands.bus import CommandBus
from commands.points import GrantPoints, SpendPoints, TransferPoints
from commands.store import BuddoStore
from http_api.finance_cli import export_journal
from ledger import merkle
from projections import audit_queries, registry
from projections.audit_replay import replay_and_compare
from projections.runner import rebuild

# The SQL here is built from our own table names only (it plays the forger).
# ruff: noqa: S608

ROOT = Path(__file__).resolve().parents[2]
KEY = Ed25519PrivateKey.generate()

WRITERS_IDLE_LIMIT_SECONDS = 5  # eventsourcing's idle_in_transaction_session_timeout


def verifier() -> ModuleType:
    """The standalone verifier, loaded from its file as an outsider would run it."""
    spec = importlib.util.spec_from_file_location("verify_proof", ROOT / "tools/verify_proof.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def workload(bus: CommandBus, entries: int, seed: int = 7) -> list[UUID]:
    """Random grants, spends and transfers among a few users and apps."""
    rng = random.Random(seed)
    users, apps = [uuid4() for _ in range(4)], [uuid4() for _ in range(2)]
    for user in users:
        bus.handle(GrantPoints(f"user:{user}", 1_000, "welcome"))
    for _ in range(entries):
        payer = rng.choice(users)
        if rng.random() < 0.5:
            bus.handle(SpendPoints(payer, rng.choice(apps), rng.randint(1, 9), "buy"))
        else:
            other = rng.choice([u for u in users if u != payer])
            bus.handle(TransferPoints(payer, other, rng.randint(1, 9), "pay"))
    return users


def checkpoint(store: BuddoStore) -> int:
    made = write_checkpoint(AuditDb(store), KEY, datetime.now(UTC))
    assert made is not None
    return made.tree_size


def first_problem(store: BuddoStore) -> int | None:
    report = verify_chain(AuditDb(store), KEY.public_key())
    return None if report.discrepancy is None else report.discrepancy.position


def stored(store: BuddoStore, position: int) -> tuple[Any, ...]:
    db = AuditDb(store)
    table, column = db.events
    with db.read() as q:
        row = q.one(
            f"SELECT originator_id, originator_version, topic, state FROM {table}"
            f" WHERE {column} = %s",
            (position,),
        )
    assert row is not None
    return row


def rewrite(store: BuddoStore, position: int, values: tuple[Any, ...]) -> None:
    db = AuditDb(store)
    table, column = db.events
    with db.write() as w:
        w.run(
            f"UPDATE {table} SET originator_id = %s, originator_version = %s, topic = %s,"
            f" state = %s WHERE {column} = %s",
            (*values, position),
        )


@pytest.fixture
def logged(bus: CommandBus, store: BuddoStore) -> BuddoStore:
    """A store with a workload, all of it covered by a signed checkpoint."""
    workload(bus, 12)
    checkpoint(store)
    return store


def test_an_untouched_log_verifies(logged: BuddoStore) -> None:
    report = verify_chain(AuditDb(logged), KEY.public_key())
    assert report.discrepancy is None
    assert report.events == logged.max_position()
    assert report.checkpoints == 1


def test_changing_one_byte_of_a_payload_is_found_at_its_position(logged: BuddoStore) -> None:
    oid, version, topic, state = stored(logged, 17)
    changed = bytearray(state)
    changed[len(changed) // 2] ^= 0x01
    rewrite(logged, 17, (oid, version, topic, bytes(changed)))
    assert first_problem(logged) == 17


def test_deleting_a_row_is_found_at_its_position(logged: BuddoStore) -> None:
    db = AuditDb(logged)
    table, column = db.events
    with db.write() as w:
        w.run(f"DELETE FROM {table} WHERE {column} = %s", (11,))
    assert first_problem(logged) == 11


def test_swapping_two_rows_is_found_at_the_first(logged: BuddoStore) -> None:
    first, second = stored(logged, 8), stored(logged, 21)
    placeholder = uuid4() if logged.config.backend == "postgres" else uuid4().hex
    rewrite(logged, 8, (placeholder, *first[1:]))
    rewrite(logged, 21, first)
    rewrite(logged, 8, second)
    assert first_problem(logged) == 8


def test_a_field_of_the_wrong_type_is_found_at_its_position(logged: BuddoStore) -> None:
    """SQLite keeps whatever type is written; a hand-edited row must be named, not crash."""
    if logged.config.backend == "postgres":
        pytest.skip("PostgreSQL columns refuse values of another type")
    oid, _, topic, state = stored(logged, 9)
    rewrite(logged, 9, (oid, "three", topic, state))
    report = verify_chain(AuditDb(logged), KEY.public_key())
    assert report.discrepancy is not None
    assert report.discrepancy.position == 9
    assert "wrong type" in report.discrepancy.problem


def test_a_forged_row_is_found_at_its_position(logged: BuddoStore) -> None:
    _, version, topic, state = stored(logged, 5)
    forged_id = uuid4() if logged.config.backend == "postgres" else uuid4().hex
    db = AuditDb(logged)
    table, _ = db.events
    with db.write() as w:
        w.run(
            f"INSERT INTO {table} (originator_id, originator_version, topic, state)"
            " VALUES (%s, %s, %s, %s)",
            (forged_id, version, topic, state),
        )
    assert first_problem(logged) == logged.max_position()


def test_an_edit_with_a_recomputed_chain_is_caught_by_the_signed_checkpoint(
    logged: BuddoStore,
) -> None:
    oid, version, topic, state = stored(logged, 9)
    rewrite(logged, 9, (oid, version, topic, state[:-2] + b" }"))
    db = AuditDb(logged)
    with db.write() as w:  # the forger rebuilds the chain over the edited log
        w.run(f"DELETE FROM {audit_chain.CHAIN_TABLE} WHERE position >= %s", (9,))
        audit_chain.backfill(w.cursor, logged.config.backend)
    report = verify_chain(db, KEY.public_key())
    assert report.discrepancy is not None
    assert "checkpoint" in report.discrepancy.problem


def test_a_checkpoint_signed_by_another_key_is_refused(logged: BuddoStore) -> None:
    report = verify_chain(AuditDb(logged), Ed25519PrivateKey.generate().public_key())
    assert report.discrepancy is not None
    assert "signature" in report.discrepancy.problem


def test_proofs_hold_for_the_standalone_verifier_and_forgeries_do_not(
    bus: CommandBus, logged: BuddoStore
) -> None:
    tool, key, db = verifier(), public_jwk(KEY.public_key()), AuditDb(logged)
    old = logged.max_position()
    workload(bus, 5, seed=8)
    new = checkpoint(logged)
    events = {e["position"]: e for e in events_page(db, 0, 1_000)["events"]}  # type: ignore[attr-defined]
    for position in (1, old // 2, old, new - 1, new):
        proof = inclusion_proof(db, position).as_json()
        assert tool.check_inclusion(key, proof, events[position]).startswith("position")
        with pytest.raises(tool.RefusedError):
            tool.check_inclusion(key, proof, events[position % new + 1])
        forged = {**proof, "path": [p[:-1] + ("0" if p[-1] != "0" else "1") for p in proof["path"]]}
        with pytest.raises(tool.RefusedError):
            tool.check_inclusion(key, forged, None)
    consistency = consistency_proof(db, old, new)
    assert "prefix" in tool.check_consistency(key, consistency)
    with pytest.raises(tool.RefusedError):
        tool.check_consistency(key, {**consistency, "path": consistency["path"][:-1]})  # type: ignore[index]
    other = public_jwk(Ed25519PrivateKey.generate().public_key())
    with pytest.raises(tool.RefusedError):
        tool.check_consistency(other, consistency)


def test_no_proof_is_given_from_a_chain_that_no_longer_matches_its_checkpoint(
    logged: BuddoStore,
) -> None:
    """A proof is never made from leaf hashes edited after they were signed."""
    db = AuditDb(logged)
    with db.write() as w:
        w.run(
            f"UPDATE {audit_chain.CHAIN_TABLE} SET leaf_hash = %s WHERE position = %s",
            (bytes(32), 3),
        )
    with pytest.raises(RuntimeError, match="no longer matches"):
        inclusion_proof(db, 9)


def test_proofs_from_stored_blocks_are_the_proofs_from_every_leaf(
    bus: CommandBus, logged: BuddoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks of 4 leaves here (1,024 in the service): a proof reads block roots and at most a
    couple of blocks of leaves, and is the very proof all the leaves give."""
    monkeypatch.setattr(audit, "BLOCK_LEAVES", 4)
    db, tool, key = AuditDb(logged), verifier(), public_jwk(KEY.public_key())
    first = checkpoint_after(bus, logged, 3)  # a log signed before blocks were kept
    with db.read() as q:
        assert audit.blocks_kept(q) == first // 4
    second = checkpoint_after(bus, logged, 5)
    with db.read() as q:
        leaves = audit.leaf_hashes(q, 0, second)
        assert audit.blocks_kept(q) == second // 4
    events = {e["position"]: e for e in events_page(db, 0, 200)["events"]}  # type: ignore[attr-defined]
    for position in range(1, logged.max_position() + 1):
        proof = inclusion_proof(db, position)
        assert proof.path == merkle.inclusion_path(proof.leaf_index, leaves)
        assert tool.check_inclusion(key, proof.as_json(), events[position]).startswith("position")
    expected = [p.hex() for p in merkle.consistency_path(first, leaves)]
    assert consistency_proof(db, first, second)["path"] == expected


def test_no_proof_is_given_from_a_stored_block_edited_after_signing(
    bus: CommandBus, logged: BuddoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit, "BLOCK_LEAVES", 4)
    db = AuditDb(logged)
    first = checkpoint_after(bus, logged, 3)
    second = checkpoint_after(bus, logged, 5)
    with db.write() as w:
        w.run(f"UPDATE {audit_chain.BLOCK_TABLE} SET root = %s WHERE block = %s", (bytes(32), 1))
    with pytest.raises(RuntimeError, match="no longer matches"):
        inclusion_proof(db, 1)
    with pytest.raises(RuntimeError, match="no longer matches"):
        consistency_proof(db, first, second)


def checkpoint_after(bus: CommandBus, store: BuddoStore, entries: int) -> int:
    workload(bus, entries, seed=entries)
    return checkpoint(store)


def test_export_totals_tie_to_the_trial_balance(
    bus: CommandBus, logged: BuddoStore, tmp_path: Path
) -> None:
    start, end = "2000-01-01T00:00:00.000000Z", "2999-01-01T00:00:00.000000Z"
    with AuditDb(logged).read() as q:
        manifest = export_journal(q, start, end, "recorded", "csv", tmp_path / "out")
        trial = audit_queries.trial_balance(q, start, end)
    assert trial.problems() == []
    assert manifest["sum_debits"] == manifest["sum_credits"] == trial.total("debits")
    assert trial.total("credits") == trial.total("debits")
    lines = (tmp_path / "out/journal.csv").read_text().splitlines()
    assert manifest["row_count"] == len(lines) - 1
    assert manifest["checkpoint"]["tree_size"] == logged.max_position()  # type: ignore[index]


def test_replay_and_rebuild_digests_equal_live_ones_after_a_random_workload(
    bus: CommandBus, store: BuddoStore
) -> None:
    workload(bus, 40, seed=11)
    assert all(report.matches for report in replay_and_compare(store))
    assert all(report.matches for report in rebuild(store, registry.INLINE))
    with AuditDb(store).read() as q:
        assert audit_queries.conservation_problems(q) == []


def test_a_store_made_before_the_chain_is_chained_on_start(
    bus: CommandBus, store: BuddoStore
) -> None:
    workload(bus, 3)
    with AuditDb(store).write() as w:
        w.run(f"DELETE FROM {audit_chain.CHAIN_TABLE}")
    store.create_schema(registry.schema_statements())
    assert verify_chain(AuditDb(store), None).discrepancy is None
    assert verify_chain(AuditDb(store), None).events == store.max_position()


@pytest.mark.slow
def test_an_auditor_may_pause_between_queries_longer_than_writers_may(store: BuddoStore) -> None:
    """A replay of a large log digests millions of rows between two queries of one snapshot;
    the 5-second idle limit that guards the writers' table lock must not end its snapshot."""
    with AuditDb(store).read() as q:
        assert q.one("SELECT 1") == (1,)
        time.sleep(WRITERS_IDLE_LIMIT_SECONDS + 1)
        assert q.one("SELECT 2") == (2,)
