"""`buddo`: the command line for people and scripts (serve, projections, and more)."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Callable, Sequence

from rich.console import Console
from rich.table import Table

from commands.bus import CommandBus
from commands.users import RegisterUser
from http_api.audit_cli import add_audit_commands
from http_api.cli_support import progress_bar
from http_api.finance_cli import add_reconcile_command
from http_api.serve import run_server, serve_workers
from http_api.settings import Settings, SettingsError, load_settings
from http_api.wiring import open_store
from ledger.errors import BuddoError, ValidationError
from projections import registry
from projections.runner import rebuild, status

EXIT_USAGE = 2
EXIT_FAILED = 1


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    host = args.host or settings.host
    port = args.port or settings.port
    if args.workers > 1:
        return serve_workers(settings, host, port, args.workers)
    run_server(settings, host, port)
    return 0


def _projections_status(settings: Settings, _: argparse.Namespace) -> int:
    store = open_store(settings)
    try:
        rows = status(store, registry.live_projections())
    finally:
        store.close()
    table = Table("projection", "position", "head", "lag")
    for row in rows:
        table.add_row(row.name, str(row.position), str(row.head), str(row.lag))
    Console().print(table)
    return 0


def _projections_rebuild(settings: Settings, _: argparse.Namespace) -> int:
    console = Console(stderr=True)
    store = open_store(settings)
    try:
        head = store.max_position()
        with progress_bar(console) as bar:
            task = bar.add_task("rebuilding", total=head)
            reports = rebuild(store, registry.INLINE, lambda n: bar.advance(task, n))
    finally:
        store.close()
    table = Table("projection", "position", "live digest", "rebuilt digest", "match")
    for report in reports:
        table.add_row(
            report.name,
            str(report.position),
            report.live_digest[:16],
            report.rebuilt_digest[:16],
            "yes" if report.matches else "NO",
        )
    Console().print(table)
    return 0 if all(r.matches for r in reports) else EXIT_FAILED


def _ask_password() -> str:
    first = getpass.getpass("Password for the new admin: ")
    if first != getpass.getpass("Again: "):
        raise ValidationError({"password": ["the two entries differ"]})
    return first


def _admin_create(settings: Settings, args: argparse.Namespace) -> int:
    password = args.password if args.password is not None else _ask_password()
    username = args.username or args.email.partition("@")[0].replace(".", "_")[:30]
    bus = CommandBus(open_store(settings), threads=1)
    try:
        done = bus.handle(RegisterUser(args.email, username, password, None, is_admin=True))
    except BuddoError as error:
        print(f"buddo: {error.message} {getattr(error, 'fields', '')}".rstrip(), file=sys.stderr)  # noqa: T201
        return EXIT_FAILED
    finally:
        bus.close()
    print(f"admin {username} <{args.email}> created with id {done.user_id}")  # noqa: T201
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="buddo",
        description="Buddo Ledger: the points-economy API service and its tools. "
        "Settings come from BUDDO_* environment variables (docs/operations.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", help="address to listen on (BUDDO_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (BUDDO_PORT)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        choices=range(1, 65),
        metavar="N",
        help="processes sharing the port (PostgreSQL only; default 1)",
    )
    serve.set_defaults(run=_serve)

    projections = commands.add_parser("projections", help="inspect and rebuild read models")
    actions = projections.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("status", help="each read model's position and lag").set_defaults(
        run=_projections_status
    )
    actions.add_parser(
        "rebuild", help="replay the log into fresh tables and compare digests with the live ones"
    ).set_defaults(run=_projections_rebuild)

    admin = commands.add_parser("admin", help="administer accounts")
    admin_actions = admin.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = admin_actions.add_parser("create", help="create an admin (the first one, too)")
    create.add_argument("--email", required=True)
    create.add_argument("--username", help="defaults to the email's local part")
    create.add_argument("--password", help="prompted for (twice) when not given")
    create.set_defaults(run=_admin_create)

    add_audit_commands(commands.add_parser("audit", help="verify the log, proofs, finance"))
    add_reconcile_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `buddo` console script."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"buddo: {error}", file=sys.stderr)  # noqa: T201
        return EXIT_USAGE
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    run: Callable[[Settings, argparse.Namespace], int] = args.run
    return run(settings, args)


if __name__ == "__main__":
    sys.exit(main())
