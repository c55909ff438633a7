"""`/api/operator/*` (spec 6.2) and the treasury's grant (`/api/admin/points/grant`, 5.2)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from aiohttp import web

from commands import oauth
from commands.points import EntryRecorded, GrantPoints
from http_api.authn import APP_PRINCIPAL, PRINCIPAL
from http_api.external_api import entry_response, idempotency
from http_api.keys import SERVICES
from http_api.oauth_apps_api import APP, APP_FIELDS, UPDATE, app_json, check_web_urls
from http_api.parsing import Body, Field, query_int, read_body
from http_api.routes import Route, Schema
from http_api.views import INTEGER, STRING, wrapped
from ledger.accounts import MAX_AMOUNT, AccountKind, account_name
from ledger.errors import ForbiddenError, ValidationError
from ledger.times import iso_z
from projections import external_queries, oauth_queries, user_queries
from projections.db import ReadDatabase
from projections.oauth_queries import AppView

MAX_WINDOW_DAYS = 365
GRANT = Body(
    {
        "user_id": Field("uuid", required=False),
        "app_id": Field("uuid", required=False),
        "amount": Field("integer", minimum=1, maximum=MAX_AMOUNT),
        "reason": Field("string", min_length=1, max_length=200),
    }
)


async def operated_app(request: web.Request) -> AppView:
    """The token's app, if the token's user owns it (spec 6.2: else 403)."""
    principal = request[APP_PRINCIPAL]
    app = await oauth_queries.live_app(request.app[SERVICES].reads, principal.app_id)
    if app.owner_id != str(principal.user_id):
        raise ForbiddenError("Only the app's owner may use the operator API.")
    return app


async def operator_app(request: web.Request) -> web.Response:
    app = await operated_app(request)
    users = await external_queries.total_users(request.app[SERVICES].reads, UUID(app.id))
    return web.json_response({"app": {**app_json(app), "total_users": users}})


async def update_operator_app(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    app = await operated_app(request)
    changes = check_web_urls(await read_body(request, UPDATE))
    owner = request[APP_PRINCIPAL].user_id
    await services.bus.execute(oauth.UpdateApp(owner, UUID(app.id), changes))
    updated = await oauth_queries.live_app(services.reads, UUID(app.id))
    return web.json_response({"app": app_json(updated)})


async def operator_analytics(request: web.Request) -> web.Response:
    app = await operated_app(request)
    window = query_int(request, "window_days", 30, 1, MAX_WINDOW_DAYS)
    today = datetime.now(UTC).date()
    found = await external_queries.analytics(
        request.app[SERVICES].reads, UUID(app.id), window, today
    )
    return web.json_response({"analytics": found})


def entry_json(entry: EntryRecorded) -> dict[str, Any]:
    """A journal entry as the admin API shows it."""
    return {
        "id": str(entry.entry_id),
        "kind": entry.kind,
        "postings": [
            {"account": p.account, "delta": p.delta, "balance_after": p.balance_after}
            for p in entry.postings
        ],
        "memo": entry.memo,
        "app_id": str(entry.app_id) if entry.app_id else None,
        "inserted_at": iso_z(entry.recorded_at),
    }


async def grant_target(db: ReadDatabase, body: dict[str, Any]) -> str:
    """The account a grant goes to: exactly one existing user or app."""
    if ("user_id" in body) == ("app_id" in body):
        raise ValidationError({"user_id": ["give user_id or app_id, not both"]})
    if "user_id" in body:
        user = await user_queries.user(db, UUID(body["user_id"]))
        return account_name(AccountKind.USER, UUID(user.id))
    app = await oauth_queries.live_app(db, UUID(body["app_id"]))
    return account_name(AccountKind.APP, UUID(app.id))


async def grant_points(request: web.Request) -> web.Response:
    """The treasury issues points to a user or an app."""
    services = request.app[SERVICES]
    key = idempotency(request, f"admin-grant:{request[PRINCIPAL].user_id}")
    body = await read_body(request, GRANT)
    target = await grant_target(services.reads, body)
    entry: EntryRecorded = await services.bus.execute(
        GrantPoints(target, body["amount"], body["reason"], idempotency=key)
    )
    return entry_response({"entry": entry_json(entry)}, entry)


ANALYTICS: Schema = wrapped(
    "analytics",
    {
        "type": "object",
        "required": [
            "total_awards",
            "total_spends",
            "total_users",
            "window_days",
            "ad_impressions",
            "ad_clicks",
            "daily",
        ],
        "properties": {
            "total_awards": INTEGER,
            "total_spends": INTEGER,
            "total_users": INTEGER,
            "window_days": INTEGER,
            "ad_impressions": INTEGER,
            "ad_clicks": INTEGER,
            "daily": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["date", "spends", "awards", "active_users"],
                    "properties": {
                        "date": STRING,
                        "spends": INTEGER,
                        "awards": INTEGER,
                        "active_users": INTEGER,
                    },
                },
            },
        },
    },
)
ENTRY: Schema = wrapped(
    "entry",
    {
        "type": "object",
        "required": ["id", "kind", "postings", "memo", "app_id", "inserted_at"],
        "properties": {
            "id": STRING,
            "kind": STRING,
            "postings": {"type": "array", "items": {"type": "object"}},
            "memo": STRING,
            "app_id": {"type": ["string", "null"]},
            "inserted_at": STRING,
        },
    },
)

OPERATOR_ROUTES = [
    Route(
        "GET",
        "/api/operator/app",
        operator_app,
        "The token's app, for its owner",
        "operator",
        auth="oauth:app:balance:read",
        responses={
            200: wrapped(
                "app",
                {
                    "type": "object",
                    "required": [*APP_FIELDS, "total_users"],
                    "properties": {**APP_FIELDS, "total_users": INTEGER},
                },
            )
        },
    ),
    Route(
        "PUT",
        "/api/operator/app",
        update_operator_app,
        "Change the token's app, for its owner",
        "operator",
        auth="oauth:app:balance:read",
        request=UPDATE.schema(),
        responses={200: APP},
    ),
    Route(
        "GET",
        "/api/operator/analytics",
        operator_analytics,
        "The app's analytics over a window of days",
        "operator",
        auth="oauth:app:balance:read",
        parameters=(
            {
                "name": "window_days",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_WINDOW_DAYS},
            },
        ),
        responses={200: ANALYTICS},
    ),
    Route(
        "POST",
        "/api/admin/points/grant",
        grant_points,
        "The treasury issues points to a user or an app",
        "admin",
        auth="admin",
        request=GRANT.schema(),
        responses={201: ENTRY},
    ),
]
