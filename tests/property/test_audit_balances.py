"""Point-in-time balances equal a model replayed from the log to the same point (Hypothesis).

Random grants (some with a business date) and transfers go through the real store; the log is
then replayed into a plain model, and `buddo audit balance` answers, by position, by recorded
time and by effective time, must equal the model's sums up to the same point.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands.audit_db import AuditDb
from commands.bus import CommandBus
from commands.points import GrantPoints, TransferPoints
from commands.store import BuddoStore
from ledger.errors import InsufficientPointsError
from ledger.journal import JournalEntry
from ledger.times import iso_z
from projections import audit_queries

USERS = tuple(UUID(f"00000000-0000-4000-8000-00000000000{i}") for i in range(1, 4))
ACCOUNTS = ("treasury", *(f"user:{u}" for u in USERS))
BASE = datetime(2026, 1, 1, tzinfo=UTC)

grant = st.tuples(
    st.just("grant"), st.sampled_from(USERS), st.integers(1, 50), st.none() | st.integers(-30, 30)
)
transfer = st.tuples(
    st.just("transfer"), st.sampled_from(USERS), st.sampled_from(USERS), st.integers(1, 50)
)

# (position, recorded, effective, {account: delta}) for every entry of the log
Entry = tuple[int, datetime, datetime, dict[str, int]]


def run(bus: CommandBus, op: tuple[object, ...]) -> None:
    if op[0] == "grant":
        _, user, amount, days = op
        when = None if days is None else BASE + timedelta(days=int(str(days)))
        bus.handle(GrantPoints(f"user:{user}", int(str(amount)), "g", effective_at=when))
    elif op[1] != op[2]:
        _, payer, payee, amount = op
        with contextlib.suppress(InsufficientPointsError):
            bus.handle(TransferPoints(payer, payee, int(str(amount)), "t"))  # type: ignore[arg-type]


def replayed(store: BuddoStore) -> list[Entry]:
    """The model: every journal entry of the log, read back from the events themselves."""
    entries, after = [], 0
    while batch := store.read_events(after, 500):
        for position, event in batch:
            if isinstance(event, JournalEntry.Recorded):
                deltas = {p["account"]: int(p["delta"]) for p in event.postings}
                effective = event.effective_at or event.timestamp
                entries.append((position, event.timestamp, effective, deltas))
        after = batch[-1][0]
    return entries


def model_sum(entries: list[Entry], account: str, included: object) -> int:
    return sum(e[3].get(account, 0) for e in entries if included(e))  # type: ignore[operator]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(grant | transfer, min_size=1, max_size=12), data=st.data())
def test_point_in_time_balances_equal_the_replayed_model(
    bus: CommandBus, store: BuddoStore, ops: list[tuple[object, ...]], data: st.DataObject
) -> None:
    for op in ops:
        run(bus, op)
    entries = replayed(store)  # the store keeps earlier examples' entries too
    for _ in range(5):
        account = data.draw(st.sampled_from(ACCOUNTS))
        # An index, not sampled_from(entries): what Hypothesis draws must not depend on state.
        entry = entries[data.draw(st.integers(0, 10_000)) % len(entries)] if entries else None
        if entry is None:
            return
        position, recorded, effective = entry[0], entry[1], entry[2]
        with AuditDb(store).read() as q:
            at_position = audit_queries.balance_at_position(q, account, position)
            at_recorded = audit_queries.balance_at_time(q, account, iso_z(recorded))
            at_effective = audit_queries.balance_at_time(q, account, iso_z(effective), "effective")
        assert at_position == model_sum(entries, account, lambda e, p=position: e[0] <= p)
        assert at_recorded == model_sum(entries, account, lambda e, t=recorded: e[1] <= t)
        assert at_effective == model_sum(entries, account, lambda e, t=effective: e[2] <= t)
