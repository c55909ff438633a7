"""`/api/external/*`: what an app may do for a user with an OAuth access token (spec 6.1)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from aiohttp import web

from commands import sessions
from commands.points import EntryRecorded, Idempotency, SpendPoints
from commands.transfers import PointsSent, SendPoints
from http_api.authn import APP_PRINCIPAL, AppPrincipal
from http_api.keys import SERVICES
from http_api.paging import PAGE_QUERY
from http_api.parsing import Body, Field, query_int, query_value, read_body
from http_api.routes import Route, Schema
from http_api.views import INTEGER, NULLABLE, STRING, object_schema, user_json, user_schema, wrapped
from ledger.accounts import MAX_AMOUNT, AccountKind, account_name
from ledger.errors import ValidationError
from ledger.idempotency import check_key
from ledger.journal import MAX_MEMO_LENGTH, MAX_METADATA_KEYS
from ledger.times import iso_z
from projections import external_queries, queries, user_queries

EXTERNAL_USER_FIELDS = ("id", "username", "email", "tier", "email_verified")
REPLAYED_HEADER = "Idempotent-Replayed"
AMOUNT = Field("integer", minimum=1, maximum=MAX_AMOUNT)
SPEND = Body(
    {
        "amount": AMOUNT,
        "description": Field("string", required=False, max_length=MAX_MEMO_LENGTH),
        "metadata": Field("object", required=False, max_items=MAX_METADATA_KEYS),
    }
)
TRANSFER = Body(
    {
        "to_user_id": Field("uuid", required=False),
        "to_username": Field("string", required=False, min_length=1, max_length=30),
        "amount": AMOUNT,
        "note": Field("string", required=False, max_length=MAX_MEMO_LENGTH),
    }
)
EMPTY = Body()


def now_iso() -> str:
    return iso_z(datetime.now(UTC))


def idempotency(request: web.Request, scope: str) -> Idempotency | None:
    """The request's Idempotency-Key within `scope` (spec section 1), if it sent one."""
    keys = request.headers.getall("Idempotency-Key", [])
    if not keys:
        return None
    if len(keys) > 1:
        raise ValidationError({"Idempotency-Key": ["send one key"]})
    return Idempotency(scope, check_key(keys[0]))


def caller_scope(principal: AppPrincipal) -> str:
    """Idempotency keys are kept per app and user."""
    return f"external:{principal.app_id}:{principal.user_id}"


def entry_response(body: dict[str, Any], entry: EntryRecorded) -> web.Response:
    """201 with the entry's answer; a replay says so in a header."""
    headers = {REPLAYED_HEADER: "true"} if entry.replayed else {}
    return web.json_response(body, status=201, headers=headers)


async def external_user(request: web.Request) -> web.Response:
    """The token's user, without admin or TOTP flags."""
    services = request.app[SERVICES]
    user = await user_queries.user(services.reads, request[APP_PRINCIPAL].user_id)
    return web.json_response({"user": user_json(user, EXTERNAL_USER_FIELDS)})


async def points(request: web.Request) -> web.Response:
    principal = request[APP_PRINCIPAL]
    account = account_name(AccountKind.USER, principal.user_id)
    found = await queries.balance(request.app[SERVICES].reads, account)
    return web.json_response(
        {"balance": found.balance, "user_id": str(principal.user_id), "as_of": now_iso()}
    )


def transaction_json(entry: EntryRecorded, user_id: UUID, kind: str) -> dict[str, Any]:
    """What spend and transfer answers share: the entry, seen from the paying user."""
    account = account_name(AccountKind.USER, user_id)
    return {
        "id": str(entry.entry_id),
        "type": kind,
        "amount": -next(p.delta for p in entry.postings if p.account == account),
        "from_user_id": str(user_id),
        "app_id": str(entry.app_id),
        "balance_after": entry.balance_after(account),
        "inserted_at": iso_z(entry.recorded_at),
    }


def spend_json(entry: EntryRecorded, user_id: UUID) -> dict[str, Any]:
    shared = transaction_json(entry, user_id, "spend")
    return {**shared, "description": entry.memo, "metadata": entry.metadata}


async def spend(request: web.Request) -> web.Response:
    """Debit the user, credit the app: one entry (spec 6.1)."""
    services = request.app[SERVICES]
    principal = request[APP_PRINCIPAL]
    key = idempotency(request, caller_scope(principal))
    body = await read_body(request, SPEND)
    entry: EntryRecorded = await services.bus.execute(
        SpendPoints(
            user_id=principal.user_id,
            app_id=principal.app_id,
            amount=body["amount"],
            description=body.get("description", ""),
            metadata=body.get("metadata", {}),
            idempotency=key,
        )
    )
    return entry_response({"transaction": spend_json(entry, principal.user_id)}, entry)


def transfer_json(sent: PointsSent, user_id: UUID) -> dict[str, Any]:
    shared = transaction_json(sent.entry, user_id, "transfer")
    return {**shared, "to_user_id": str(sent.to_user_id), "note": sent.entry.memo}


async def transfer(request: web.Request) -> web.Response:
    """Move points from the user to another user (spec 6.1)."""
    services = request.app[SERVICES]
    principal = request[APP_PRINCIPAL]
    key = idempotency(request, caller_scope(principal))
    body = await read_body(request, TRANSFER)
    recipient = body.get("to_user_id")
    sent: PointsSent = await services.bus.execute(
        SendPoints(
            from_user_id=principal.user_id,
            amount=body["amount"],
            to_user_id=UUID(recipient) if recipient else None,
            to_username=body.get("to_username"),
            note=body.get("note", ""),
            app_id=principal.app_id,
            idempotency=key,
        )
    )
    return entry_response({"transaction": transfer_json(sent, principal.user_id)}, sent.entry)


def history_json(item: queries.HistoryItem) -> dict[str, Any]:
    return {
        "id": item.entry_id,
        "type": item.kind,
        "amount": abs(item.delta),
        "delta": item.delta,
        "balance_after": item.balance_after,
        "counterparty": item.counterparty,
        "app_id": item.app_id,
        "description": item.memo,
        "metadata": item.metadata,
        "inserted_at": item.recorded_at,
    }


async def history(request: web.Request) -> web.Response:
    """This user's entries made through this app, newest first."""
    principal = request[APP_PRINCIPAL]
    page = await queries.history(
        request.app[SERVICES].reads,
        account_name(AccountKind.USER, principal.user_id),
        limit=query_int(request, "limit", queries.DEFAULT_PAGE, 1, queries.MAX_PAGE),
        cursor=query_value(request, "cursor"),
        app_id=str(principal.app_id),
    )
    return web.json_response(
        {"transactions": [history_json(i) for i in page.items], "next_cursor": page.next_cursor}
    )


async def session_status(request: web.Request) -> web.Response:
    reads = request.app[SERVICES].reads
    found = await external_queries.session_of_grant(reads, request[APP_PRINCIPAL].grant_id)
    return web.json_response({"session": found.as_json(now_iso())})


async def session_end(request: web.Request) -> web.Response:
    """End the token's session; its session token stops working."""
    services = request.app[SERVICES]
    await read_body(request, EMPTY)
    grant_id = request[APP_PRINCIPAL].grant_id
    found = await external_queries.session_of_grant(services.reads, grant_id)
    await services.bus.execute(sessions.EndSession(UUID(found.id), "ended_by_app"))
    ended = await external_queries.session_of_grant(services.reads, grant_id)
    return web.json_response({"session": ended.as_json(now_iso())})


async def app_balance(request: web.Request) -> web.Response:
    app_id = request[APP_PRINCIPAL].app_id
    found = await queries.balance(
        request.app[SERVICES].reads, account_name(AccountKind.APP, app_id)
    )
    return web.json_response({"app_id": str(app_id), "balance": found.balance, "as_of": now_iso()})


SPEND_SCHEMA = object_schema(
    {
        "id": STRING,
        "type": {"type": "string", "enum": ["spend"]},
        "amount": INTEGER,
        "from_user_id": STRING,
        "app_id": STRING,
        "description": STRING,
        "metadata": {"type": "object"},
        "balance_after": INTEGER,
        "inserted_at": STRING,
    }
)
TRANSFER_SCHEMA = object_schema(
    {
        "id": STRING,
        "type": {"type": "string", "enum": ["transfer"]},
        "amount": INTEGER,
        "from_user_id": STRING,
        "to_user_id": STRING,
        "app_id": STRING,
        "note": STRING,
        "balance_after": INTEGER,
        "inserted_at": STRING,
    }
)
HISTORY_SCHEMA = object_schema(
    {
        "id": STRING,
        "type": STRING,
        "amount": INTEGER,
        "delta": INTEGER,
        "balance_after": INTEGER,
        "counterparty": NULLABLE,
        "app_id": NULLABLE,
        "description": STRING,
        "metadata": {"type": "object"},
        "inserted_at": STRING,
    }
)
SESSION_SCHEMA = wrapped(
    "session",
    object_schema(
        {
            "id": STRING,
            "active": {"type": "boolean"},
            "started_at": STRING,
            "last_heartbeat_at": NULLABLE,
            "expires_at": STRING,
            "ended_at": NULLABLE,
        }
    ),
)
IDEMPOTENCY_HEADER: Schema = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
}

EXTERNAL_ROUTES = [
    Route(
        "GET",
        "/api/external/user",
        external_user,
        "The user the token acts for",
        "external",
        auth="oauth:profile:read",
        responses={200: wrapped("user", user_schema(EXTERNAL_USER_FIELDS))},
    ),
    Route(
        "GET",
        "/api/external/points",
        points,
        "The user's balance",
        "external",
        auth="oauth:points:read",
        responses={200: object_schema({"balance": INTEGER, "user_id": STRING, "as_of": STRING})},
    ),
    Route(
        "POST",
        "/api/external/points/spend",
        spend,
        "Spend the user's points in this app",
        "external",
        auth="oauth:points:spend",
        request=SPEND.schema(),
        parameters=(IDEMPOTENCY_HEADER,),
        responses={201: wrapped("transaction", SPEND_SCHEMA)},
    ),
    Route(
        "POST",
        "/api/external/points/transfer",
        transfer,
        "Move the user's points to another user",
        "external",
        auth="oauth:points:transfer",
        request=TRANSFER.schema(),
        parameters=(IDEMPOTENCY_HEADER,),
        responses={201: wrapped("transaction", TRANSFER_SCHEMA)},
    ),
    Route(
        "GET",
        "/api/external/points/history",
        history,
        "The user's entries made through this app, newest first",
        "external",
        auth="oauth:points:read",
        parameters=PAGE_QUERY,
        responses={
            200: object_schema(
                {
                    "transactions": {"type": "array", "items": HISTORY_SCHEMA},
                    "next_cursor": NULLABLE,
                }
            )
        },
    ),
    Route(
        "GET",
        "/api/external/session/status",
        session_status,
        "The token's app session",
        "external",
        auth="oauth:profile:read",
        responses={200: SESSION_SCHEMA},
    ),
    Route(
        "POST",
        "/api/external/session/end",
        session_end,
        "End the token's app session",
        "external",
        auth="oauth:profile:read",
        responses={200: SESSION_SCHEMA},
    ),
    Route(
        "GET",
        "/api/external/app/balance",
        app_balance,
        "The app's own balance",
        "external",
        auth="oauth:app:balance:read",
        responses={200: object_schema({"app_id": STRING, "balance": INTEGER, "as_of": STRING})},
    ),
]
