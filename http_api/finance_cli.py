"""`buddo audit balance`, `buddo audit export` and `buddo reconcile`: the books for finance."""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from commands.audit import chain_head, latest_checkpoint
from commands.audit_db import AuditDb, Query
from http_api.cli_support import fail, reading_store
from http_api.settings import Settings
from ledger.times import iso_z
from projections import audit_queries
from projections.audit_queries import JOURNAL_COLUMNS, TrialBalance


def parse_time(text: str) -> str:
    """An ISO-8601 time or date (UTC unless it says otherwise), as the read models write it."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO-8601 time") from None
    return iso_z(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _balance(settings: Settings, args: argparse.Namespace) -> int:
    if (args.at is None) == (args.position is None):
        return fail("give exactly one of --at TIME and --position N")
    with reading_store(settings) as store, AuditDb(store).read() as q:
        if args.position is not None:
            balance = audit_queries.balance_at_position(q, args.account, args.position)
        else:
            balance = audit_queries.balance_at_time(q, args.account, args.at, args.by)
    print(balance)  # noqa: T201
    return 0


def _trial_json(trial: TrialBalance) -> dict[str, Any]:
    totals = {name: trial.total(name) for name in ("opening", "debits", "credits", "closing")}
    return {
        "from": trial.start,
        "to": trial.end,
        "by": trial.by,
        "accounts": [asdict(line) for line in trial.lines],
        "apps": [asdict(app) for app in trial.apps],
        "totals": totals,
        "problems": trial.problems(),
    }


def _print_trial(trial: TrialBalance) -> None:
    table = Table("account", "opening", "debits", "credits", "closing", title="trial balance")
    for line in trial.lines:
        values = (line.opening, line.debits, line.credits, line.closing)
        table.add_row(line.account, *(f"{v:,}" for v in values))
    totals = [trial.total(n) for n in ("opening", "debits", "credits", "closing")]
    table.add_row("total", *(f"{v:,}" for v in totals), style="bold")
    apps = Table("app account", "opening", "movements", "closing", title="app roll-forward")
    for app in trial.apps:
        moved = ", ".join(f"{kind} {total:+,}" for kind, total in app.movements.items())
        apps.add_row(app.account, f"{app.opening:,}", moved or "-", f"{app.closing:,}")
    console = Console()
    console.print(table)
    console.print(apps)


def _reconcile(settings: Settings, args: argparse.Namespace) -> int:
    with reading_store(settings) as store, AuditDb(store).read() as q:
        trial = audit_queries.trial_balance(q, args.start, args.end, args.by)
    if args.json:
        print(json.dumps(_trial_json(trial), indent=2))  # noqa: T201
    else:
        _print_trial(trial)
    problems = trial.problems()
    return fail(f"the books do not tie: {'; '.join(problems)}") if problems else 0


def _write_rows(path: Path, fmt: str, rows: Any) -> dict[str, int]:
    """Write the journal rows; their control totals."""
    totals = {"rows": 0, "debits": 0, "credits": 0, "first_position": 0, "last_position": 0}
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\n") if fmt == "csv" else None
        if writer is not None:
            writer.writerow(JOURNAL_COLUMNS)
        for row in rows:
            record = dict(zip(JOURNAL_COLUMNS, row, strict=True))
            if writer is not None:
                writer.writerow(["" if v is None else v for v in row])
            else:
                file.write(json.dumps(record, separators=(",", ":")) + "\n")
            delta = int(record["delta"])
            totals["debits" if delta < 0 else "credits"] += abs(delta)
            totals["rows"] += 1
            totals["first_position"] = totals["first_position"] or int(record["position"])
            totals["last_position"] = int(record["position"])
    return totals


def export_journal(q: Query, start: str, end: str, by: str, fmt: str, out: Path) -> dict[str, Any]:
    """Every posting of the period into `out`, with a manifest of control totals."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"journal.{fmt}"
    totals = _write_rows(path, fmt, audit_queries.journal(q, start, end, by))
    size, position, head_hash = chain_head(q)
    checkpoint = latest_checkpoint(q)
    manifest = {
        "period": {"from": start, "to": end, "by": by},
        "row_count": totals["rows"],
        "sum_debits": totals["debits"],
        "sum_credits": totals["credits"],
        "first_position": totals["first_position"],
        "last_position": totals["last_position"],
        "files": [{"name": path.name, "sha256": _sha256(path), "rows": totals["rows"]}],
        "chain_head": {"tree_size": size, "position": position, "hash": head_hash.hex()},
        "checkpoint": checkpoint.as_json() if checkpoint else None,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _export(settings: Settings, args: argparse.Namespace) -> int:
    with reading_store(settings) as store, AuditDb(store).read() as q:
        manifest = export_journal(q, args.start, args.end, args.by, args.format, Path(args.out))
    print(json.dumps(manifest, indent=2))  # noqa: T201
    return 0


def _period(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="start", required=True, type=parse_time, metavar="TIME")
    parser.add_argument("--to", dest="end", required=True, type=parse_time, metavar="TIME")
    _by(parser)


def _by(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--by",
        choices=sorted(audit_queries.TIME_COLUMN),
        default="recorded",
        help="recorded time (default) or business effective_at",
    )


def add_finance_commands(actions: Any) -> None:
    """`buddo audit balance` and `buddo audit export`."""
    balance = actions.add_parser("balance", help="an account's balance at a time or position")
    balance.add_argument("account", metavar="ACCOUNT", help="e.g. treasury, user:<id>, app:<id>")
    balance.add_argument("--at", type=parse_time, metavar="TIME")
    balance.add_argument("--position", type=int, metavar="N")
    _by(balance)
    balance.set_defaults(run=_balance)
    export = actions.add_parser("export", help="the period's journal with a manifest")
    _period(export)
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--out", required=True, metavar="DIR")
    export.set_defaults(run=_export)


def add_reconcile_command(commands: Any) -> None:
    """`buddo reconcile`: the trial balance of a period, with its checks."""
    reconcile = commands.add_parser("reconcile", help="trial balance and app roll-forward")
    _period(reconcile)
    reconcile.add_argument("--json", action="store_true", help="JSON instead of tables")
    reconcile.set_defaults(run=_reconcile)
