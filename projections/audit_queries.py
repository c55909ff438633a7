"""Finance queries over the history read model: point-in-time balances, trial balance, journal.

Times are the read model's ISO-8601 strings (`iso_z`), compared as text. "By recorded" uses when
the system wrote an entry; "by effective" its business date (`effective_at`, or the recorded time
when it has none). A period is [start, end): start inclusive, end exclusive.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ledger.accounts import TREASURY

TIME_COLUMN = {"recorded": "recorded_at", "effective": "COALESCE(effective_at, recorded_at)"}
JOURNAL_COLUMNS = (
    "position",
    "entry_id",
    "kind",
    "account",
    "delta",
    "balance_after",
    "counterparty",
    "app_id",
    "memo",
    "metadata",
    "recorded_at",
    "effective_at",
)


class Reader(Protocol):
    """One read-only snapshot: statements with `%s` placeholders, rows as tuples."""

    def rows(self, statement: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]: ...

    def stream(
        self, statement: str, params: Sequence[object] = ()
    ) -> Iterator[tuple[Any, ...]]: ...


def _time(by: str) -> str:
    if by not in TIME_COLUMN:
        raise ValueError(f"by must be one of {sorted(TIME_COLUMN)}")
    return TIME_COLUMN[by]


def balance_at_position(q: Reader, account: str, position: int) -> int:
    """The balance of `account` right after the event at `position`."""
    ((total,),) = q.rows(
        "SELECT COALESCE(SUM(delta), 0) FROM account_history WHERE account = %s AND position <= %s",
        (account, position),
    )
    return int(total)


def balance_at_time(q: Reader, account: str, at: str, by: str = "recorded") -> int:
    """The balance of `account` counting every posting at or before `at` (ISO, `iso_z`)."""
    ((total,),) = q.rows(
        "SELECT COALESCE(SUM(delta), 0) FROM account_history"
        f" WHERE account = %s AND {_time(by)} <= %s",
        (account, at),
    )
    return int(total)


@dataclass(frozen=True)
class TrialLine:
    """One account over a period: where it started, what moved, where it ended."""

    account: str
    opening: int
    debits: int
    credits: int
    closing: int

    @property
    def ties(self) -> bool:
        return self.opening - self.debits + self.credits == self.closing


@dataclass(frozen=True)
class RollForward:
    """One app's account over a period, its movements broken down by kind of entry."""

    account: str
    opening: int
    movements: dict[str, int]
    closing: int

    @property
    def ties(self) -> bool:
        return self.opening + sum(self.movements.values()) == self.closing


@dataclass(frozen=True)
class TrialBalance:
    """Every account over [start, end), with the checks that must hold."""

    start: str
    end: str
    by: str
    lines: list[TrialLine]
    apps: list[RollForward] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(int(getattr(line, name)) for line in self.lines)

    def problems(self) -> list[str]:
        """Every check that fails (an empty list when the books tie)."""
        found = [f"{line.account} does not roll forward" for line in self.lines if not line.ties]
        found += [f"{app.account} roll-forward does not tie" for app in self.apps if not app.ties]
        if self.total("opening") != 0 or self.total("closing") != 0:
            found.append("balances do not sum to zero")
        if self.total("debits") != self.total("credits"):
            found.append("debits and credits differ")
        found += [
            f"{line.account} closes negative"
            for line in self.lines
            if line.closing < 0 and line.account != TREASURY
        ]
        return found


def trial_balance(q: Reader, start: str, end: str, by: str = "recorded") -> TrialBalance:
    """Opening, debits, credits and closing per account, and each app's roll-forward."""
    t = _time(by)
    rows = q.rows(
        f"SELECT account, SUM(CASE WHEN {t} < %s THEN delta ELSE 0 END),"
        f" SUM(CASE WHEN {t} >= %s AND delta < 0 THEN -delta ELSE 0 END),"
        f" SUM(CASE WHEN {t} >= %s AND delta > 0 THEN delta ELSE 0 END),"
        " SUM(delta)"
        f" FROM account_history WHERE {t} < %s GROUP BY account ORDER BY account",
        (start, start, start, end),
    )
    lines = [TrialLine(str(r[0]), *(int(v) for v in r[1:])) for r in rows]
    return TrialBalance(start, end, by, lines, _roll_forwards(q, lines, start, end, t))


def _roll_forwards(
    q: Reader, lines: list[TrialLine], start: str, end: str, t: str
) -> list[RollForward]:
    moved: dict[str, dict[str, int]] = {}
    for account, kind, total in q.rows(
        f"SELECT account, kind, SUM(delta) FROM account_history WHERE account LIKE 'app:%%'"
        f" AND {t} >= %s AND {t} < %s GROUP BY account, kind ORDER BY account, kind",
        (start, end),
    ):
        moved.setdefault(str(account), {})[str(kind)] = int(total)
    return [
        RollForward(line.account, line.opening, moved.get(line.account, {}), line.closing)
        for line in lines
        if line.account.startswith("app:")
    ]


def journal(q: Reader, start: str, end: str, by: str = "recorded") -> Iterator[tuple[Any, ...]]:
    """Every posting in [start, end), in log order (JOURNAL_COLUMNS)."""
    t = _time(by)
    return q.stream(
        f"SELECT {', '.join(JOURNAL_COLUMNS)} FROM account_history"
        f" WHERE {t} >= %s AND {t} < %s ORDER BY position, account",
        (start, end),
    )


def conservation_problems(q: Reader) -> list[str]:
    """The live balances sum to zero and only the treasury is negative."""
    rows = q.rows("SELECT account, balance FROM balances ORDER BY account")
    problems = [
        f"{account} is negative ({balance})"
        for account, balance in rows
        if int(balance) < 0 and account != TREASURY
    ]
    total = sum(int(balance) for _, balance in rows)
    if total != 0:
        problems.insert(0, f"balances sum to {total}, not 0")
    return problems
