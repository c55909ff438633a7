"""`buddo audit …`: verify the log, sign checkpoints, and print proofs an outsider can check."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from rich.console import Console

from commands.audit import consistency_proof, inclusion_proof, write_checkpoint
from commands.audit_db import AuditDb
from commands.audit_verify import verify_chain
from http_api.audit_key import existing_public_key, load_audit_key, read_public_key
from http_api.cli_support import fail, progress_bar, reading_store
from http_api.finance_cli import add_finance_commands
from http_api.settings import Settings
from http_api.wiring import open_store
from ledger.errors import BuddoError
from projections.audit_queries import conservation_problems
from projections.audit_replay import replay_and_compare


def _public_key(settings: Settings, path: str | None) -> Ed25519PublicKey | None:
    return read_public_key(Path(path)) if path else existing_public_key(settings)


def _verify(settings: Settings, args: argparse.Namespace) -> int:
    key = _public_key(settings, args.public_key)
    console = Console(stderr=True)
    with reading_store(settings) as store, progress_bar(console) as bar:
        db = AuditDb(store)
        head = store.max_position()
        chain = bar.add_task("chain", total=head)
        report = verify_chain(db, key, lambda n: bar.advance(chain, n))
        if report.discrepancy is not None:
            return fail(f"verify FAILED at {report.discrepancy}")
        if key is None and report.checkpoints:
            return fail("no audit public key (--public-key FILE): signatures not checked")
        replay = bar.add_task("replay", total=head)
        reports = replay_and_compare(store, lambda n: bar.advance(replay, n))
        with db.read() as q:
            problems = conservation_problems(q)
    print(f"chain: {report.events} events, {report.checkpoints} signed checkpoints: ok")  # noqa: T201
    for rebuilt in reports:
        if not rebuilt.matches:
            return fail(f"verify FAILED: read model {rebuilt.name} differs from a replay")
    print(f"replay: {len(reports)} read models equal a replay of the log: ok")  # noqa: T201
    if problems:
        return fail(f"verify FAILED: conservation: {problems[0]}")
    print("conservation: balances sum to zero, only the treasury is negative: ok")  # noqa: T201
    return 0


def _checkpoint(settings: Settings, _: argparse.Namespace) -> int:
    key = load_audit_key(settings)
    store = open_store(settings)
    try:
        made = write_checkpoint(AuditDb(store), key, datetime.now(UTC))
    finally:
        store.close()
    if made is None:
        print("the latest checkpoint already covers the whole log")  # noqa: T201
    else:
        print(json.dumps(made.as_json()))  # noqa: T201
    return 0


def _prove(settings: Settings, args: argparse.Namespace) -> int:
    try:
        with reading_store(settings) as store:
            proof = inclusion_proof(AuditDb(store), args.position)
    except BuddoError as error:
        return fail(error.message)
    print(json.dumps(proof.as_json(), indent=2))  # noqa: T201
    return 0


def _consistency(settings: Settings, args: argparse.Namespace) -> int:
    try:
        with reading_store(settings) as store:
            proof = consistency_proof(AuditDb(store), args.old_size, args.new_size)
    except BuddoError as error:
        return fail(error.message)
    print(json.dumps(proof, indent=2))  # noqa: T201
    return 0


def add_audit_commands(audit: argparse.ArgumentParser) -> None:
    """Register the `buddo audit` actions on its parser (finance ones come from finance_cli)."""
    actions = audit.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = actions.add_parser(
        "verify",
        help="recompute the chain and checkpoints, replay every read model, check conservation",
    )
    verify.add_argument(
        "--public-key", help="the checkpoint key (JWK or PEM); default: the configured one"
    )
    verify.set_defaults(run=_verify)
    actions.add_parser("checkpoint", help="sign a checkpoint of the log now").set_defaults(
        run=_checkpoint
    )
    prove = actions.add_parser("prove", help="inclusion proof of the event at POSITION")
    prove.add_argument("position", type=int, metavar="POSITION")
    prove.set_defaults(run=_prove)
    consistency = actions.add_parser(
        "consistency", help="consistency proof between two checkpoints' tree sizes"
    )
    consistency.add_argument("old_size", type=int, metavar="OLD_SIZE")
    consistency.add_argument("new_size", type=int, metavar="NEW_SIZE")
    consistency.set_defaults(run=_consistency)
    add_finance_commands(actions)
