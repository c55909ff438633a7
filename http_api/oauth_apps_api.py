"""OAuth apps (spec 5.1) and their admin side (5.2): registration, my-apps, scope requests."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from aiohttp import web

from commands import oauth
from http_api.authn import PRINCIPAL, EmailNotVerifiedError
from http_api.keys import SERVICES
from http_api.paging import PAGE_QUERY, page_query, page_schema
from http_api.parsing import Body, Field, path_uuid, query_value, read_body
from http_api.ratelimit import enforce_request
from http_api.routes import Handler, Route, Schema
from http_api.views import NULLABLE, STRING, object_schema, wrapped
from ledger.errors import NotFoundError, ValidationError
from ledger.oauth import ALL_SCOPES, AUTH_METHODS, DEFAULT_AUTH_METHOD
from projections import oauth_queries
from projections.db import ReadDatabase
from projections.oauth_queries import AppView

URL = Field("string", required=False, max_length=2_000, nullable=True)
DETAILS = {
    "app_name": Field("string", min_length=1, max_length=100),
    "app_description": Field("string", required=False, max_length=1_000, nullable=True),
    "logo_url": URL,
    "website_url": URL,
    "redirect_uris": Field("array", max_items=10),
}
CREATE = Body(
    {
        **DETAILS,
        "requested_scopes": Field("array", required=False, max_items=len(ALL_SCOPES)),
        "token_endpoint_auth_method": Field("string", required=False, enum=AUTH_METHODS),
    }
)
UPDATE = Body(
    {
        **{name: Field(**{**spec.__dict__, "required": False}) for name, spec in DETAILS.items()},
        "listed": Field("boolean", required=False),
    }
)
SCOPE_REQUEST = Body(
    {
        "scopes": Field("array", max_items=len(ALL_SCOPES)),
        "reason": Field("string", required=False, max_length=1_000),
    }
)
DECISION = Body({"note": Field("string", required=False, max_length=1_000)})
EMPTY = Body()


def app_json(app: AppView) -> dict[str, Any]:
    """An app as its owner sees it (its secret is never stored, so never shown again)."""
    return {
        "id": app.id,
        "client_id": app.client_id,
        "app_name": app.app_name,
        "app_description": app.app_description,
        "logo_url": app.logo_url,
        "website_url": app.website_url,
        "redirect_uris": app.redirect_uris,
        "allowed_scopes": app.allowed_scopes,
        "is_approved": app.is_approved,
        "listed": app.listed,
        "suspended": app.suspended,
        "token_endpoint_auth_method": app.auth_method,
        "inserted_at": app.inserted_at,
        "updated_at": app.updated_at,
    }


def public_app_json(app: AppView) -> dict[str, Any]:
    """What anyone may see of an app (spec 5.1)."""
    return {
        "client_id": app.client_id,
        "app_name": app.app_name,
        "app_description": app.app_description,
        "logo_url": app.logo_url,
        "website_url": app.website_url,
        "allowed_scopes": app.allowed_scopes,
    }


def check_web_urls(body: dict[str, Any]) -> dict[str, Any]:
    """logo_url and website_url, when given, are absolute http(s) URLs."""
    problems = {
        name: ["must be an absolute http or https URL"]
        for name in ("logo_url", "website_url")
        if body.get(name)
        and (
            urlsplit(body[name]).scheme not in {"http", "https"} or not urlsplit(body[name]).netloc
        )
    }
    if problems:
        raise ValidationError(problems)
    return body


async def owned_app(db: ReadDatabase, owner_id: UUID, app_id: UUID) -> AppView:
    """The caller's live app; anyone else's (or a deleted one) is not found."""
    app = await oauth_queries.live_app(db, app_id)
    if app.owner_id != str(owner_id):
        raise NotFoundError("No such app.")
    return app


async def create_app(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    principal = request[PRINCIPAL]
    limit = services.limits["create_oauth_app"]
    await enforce_request(request, services.limiter, limit, f"user:{principal.user_id}")
    if not principal.email_verified:
        raise EmailNotVerifiedError
    body = check_web_urls(await read_body(request, CREATE))
    scopes = body.pop("requested_scopes", [])
    method = body.pop("token_endpoint_auth_method", DEFAULT_AUTH_METHOD)
    done: oauth.AppRegistered = await services.bus.execute(
        oauth.RegisterApp(principal.user_id, body, scopes, auth_method=method)
    )
    app = await owned_app(services.reads, principal.user_id, done.app_id)
    shown = {**app_json(app), "client_secret": done.client_secret}
    return web.json_response({"app": shown}, status=201, headers={"Cache-Control": "no-store"})


async def public_app(request: web.Request) -> web.Response:
    app = await oauth_queries.app_by_client(
        request.app[SERVICES].reads, request.match_info["client_id"]
    )
    if app is None:
        raise NotFoundError("No such app.")
    return web.json_response({"app": public_app_json(app)})


async def my_apps(request: web.Request) -> web.Response:
    apps, next_cursor = await oauth_queries.apps_of_owner(
        request.app[SERVICES].reads, request[PRINCIPAL].user_id, *page_query(request)
    )
    return web.json_response({"apps": [app_json(app) for app in apps], "next_cursor": next_cursor})


async def my_app(request: web.Request) -> web.Response:
    reads = request.app[SERVICES].reads
    app = await owned_app(reads, request[PRINCIPAL].user_id, path_uuid(request, "id"))
    pending = await oauth_queries.pending_scopes(reads, UUID(app.id))
    return web.json_response({"app": {**app_json(app), "pending_scopes": pending}})


async def update_my_app(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    owner, app_id = request[PRINCIPAL].user_id, path_uuid(request, "id")
    await owned_app(services.reads, owner, app_id)
    changes = check_web_urls(await read_body(request, UPDATE))
    await services.bus.execute(oauth.UpdateApp(owner, app_id, changes))
    return web.json_response({"app": app_json(await owned_app(services.reads, owner, app_id))})


async def request_scopes(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    owner, app_id = request[PRINCIPAL].user_id, path_uuid(request, "id")
    await owned_app(services.reads, owner, app_id)
    body = await read_body(request, SCOPE_REQUEST)
    request_id = await services.bus.execute(
        oauth.RequestScopes(owner, app_id, body["scopes"], body.get("reason", ""))
    )
    made = await oauth_queries.scope_request(services.reads, request_id)
    return web.json_response({"scope_request": made.as_json()}, status=201)


async def my_scope_requests(request: web.Request) -> web.Response:
    reads = request.app[SERVICES].reads
    app = await owned_app(reads, request[PRINCIPAL].user_id, path_uuid(request, "id"))
    requests, next_cursor = await oauth_queries.scope_requests_of_app(
        reads, UUID(app.id), *page_query(request)
    )
    return web.json_response(
        {"scope_requests": [r.as_json() for r in requests], "next_cursor": next_cursor}
    )


async def rotate_secret(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    owner, app_id = request[PRINCIPAL].user_id, path_uuid(request, "id")
    await read_body(request, EMPTY)
    await owned_app(services.reads, owner, app_id)
    client_id, secret = await services.bus.execute(oauth.RotateSecret(owner, app_id))
    return web.json_response(
        {"client_id": client_id, "client_secret": secret}, headers={"Cache-Control": "no-store"}
    )


async def delete_my_app(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    owner, app_id = request[PRINCIPAL].user_id, path_uuid(request, "id")
    await owned_app(services.reads, owner, app_id)
    await services.bus.execute(oauth.DeleteApp(owner, app_id))
    return web.Response(status=204)


async def admin_scope_requests(request: web.Request) -> web.Response:
    status = query_value(request, "status")
    if status not in {None, "pending", "approved", "denied"}:
        raise ValidationError({"status": ["must be pending, approved or denied"]})
    found, next_cursor = await oauth_queries.scope_requests(
        request.app[SERVICES].reads, status, *page_query(request)
    )
    return web.json_response(
        {"scope_requests": [r.as_json() for r in found], "next_cursor": next_cursor}
    )


def _decide(approve: bool) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        services = request.app[SERVICES]
        request_id = path_uuid(request, "id")
        body = await read_body(request, DECISION)
        await oauth_queries.scope_request(services.reads, request_id)
        await services.bus.execute(
            oauth.DecideScopeRequest(
                request_id, request[PRINCIPAL].user_id, approve, body.get("note", "")
            )
        )
        decided = await oauth_queries.scope_request(services.reads, request_id)
        return web.json_response({"scope_request": decided.as_json()})

    return handler


def _suspension(suspended: bool) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        services = request.app[SERVICES]
        app_id = path_uuid(request, "id")
        await read_body(request, EMPTY)
        await oauth_queries.live_app(services.reads, app_id)
        await services.bus.execute(
            oauth.SetAppSuspended(app_id, request[PRINCIPAL].user_id, suspended)
        )
        app = await oauth_queries.live_app(services.reads, app_id)
        return web.json_response({"app": app_json(app)})

    return handler


approve_request = _decide(approve=True)
deny_request = _decide(approve=False)
suspend_app = _suspension(suspended=True)
unsuspend_app = _suspension(suspended=False)

SCOPES = {"type": "array", "items": {"type": "string", "enum": sorted(ALL_SCOPES)}}
APP_FIELDS: Schema = {
    "id": {"type": "string", "format": "uuid"},
    "client_id": STRING,
    "app_name": STRING,
    "app_description": NULLABLE,
    "logo_url": NULLABLE,
    "website_url": NULLABLE,
    "redirect_uris": {"type": "array", "items": STRING},
    "allowed_scopes": SCOPES,
    "is_approved": {"type": "boolean"},
    "listed": {"type": "boolean"},
    "suspended": {"type": "boolean"},
    "token_endpoint_auth_method": {"type": "string", "enum": list(AUTH_METHODS)},
    "inserted_at": STRING,
    "updated_at": STRING,
}


APP = wrapped("app", object_schema(APP_FIELDS))
NEW_APP = wrapped("app", object_schema({**APP_FIELDS, "client_secret": NULLABLE}))
MY_APP = wrapped("app", object_schema({**APP_FIELDS, "pending_scopes": SCOPES}))
PUBLIC_APP = wrapped(
    "app",
    object_schema(
        {
            name: APP_FIELDS[name]
            for name in (
                "client_id",
                "app_name",
                "app_description",
                "logo_url",
                "website_url",
                "allowed_scopes",
            )
        }
    ),
)
SCOPE_REQUEST_SCHEMA = object_schema(
    {
        "id": STRING,
        "app_id": STRING,
        "scopes": SCOPES,
        "status": {"type": "string", "enum": ["pending", "approved", "denied"]},
        "reason": STRING,
        "note": NULLABLE,
        "decided_by": NULLABLE,
        "decided_at": NULLABLE,
        "inserted_at": STRING,
    }
)
SCOPE_REQUEST_LIST = {"type": "array", "items": SCOPE_REQUEST_SCHEMA}
ID = (
    {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}},
)
CLIENT_ID = ({"name": "client_id", "in": "path", "required": True, "schema": STRING},)
LIST_QUERY = (
    {
        "name": "status",
        "in": "query",
        "schema": {"type": "string", "enum": ["pending", "approved", "denied"]},
    },
    *PAGE_QUERY,
)

APP_ROUTES = [
    Route(
        "POST",
        "/api/oauth/apps",
        create_app,
        "Register an OAuth app (the secret is shown only here)",
        "oauth apps",
        auth="jwt",
        request=CREATE.schema(),
        responses={201: NEW_APP},
    ),
    Route(
        "GET",
        "/api/oauth/apps/{client_id}",
        public_app,
        "An app's public card",
        "oauth apps",
        parameters=CLIENT_ID,
        responses={200: PUBLIC_APP},
    ),
    Route(
        "GET",
        "/api/oauth/my-apps",
        my_apps,
        "The caller's apps, oldest first, a page at a time",
        "oauth apps",
        auth="jwt",
        parameters=PAGE_QUERY,
        responses={
            200: page_schema({"apps": {"type": "array", "items": object_schema(APP_FIELDS)}})
        },
    ),
    Route(
        "GET",
        "/api/oauth/my-apps/{id}",
        my_app,
        "One of the caller's apps, with its pending scopes",
        "oauth apps",
        auth="jwt",
        parameters=ID,
        responses={200: MY_APP},
    ),
    Route(
        "PUT",
        "/api/oauth/my-apps/{id}",
        update_my_app,
        "Change an app's details",
        "oauth apps",
        auth="jwt",
        parameters=ID,
        request=UPDATE.schema(),
        responses={200: APP},
    ),
    Route(
        "DELETE",
        "/api/oauth/my-apps/{id}",
        delete_my_app,
        "Delete an app and revoke every token of it",
        "oauth apps",
        auth="jwt",
        parameters=ID,
        responses={204: {}},
    ),
    Route(
        "POST",
        "/api/oauth/my-apps/{id}/scope-request",
        request_scopes,
        "Ask an admin for scopes",
        "oauth apps",
        auth="jwt",
        parameters=ID,
        request=SCOPE_REQUEST.schema(),
        responses={201: wrapped("scope_request", SCOPE_REQUEST_SCHEMA)},
    ),
    Route(
        "GET",
        "/api/oauth/my-apps/{id}/scope-requests",
        my_scope_requests,
        "An app's scope requests in the order they were made, a page at a time",
        "oauth apps",
        auth="jwt",
        parameters=(*ID, *PAGE_QUERY),
        responses={200: page_schema({"scope_requests": SCOPE_REQUEST_LIST})},
    ),
    Route(
        "POST",
        "/api/oauth/my-apps/{id}/rotate-secret",
        rotate_secret,
        "Replace the client secret (the old one stops working at once)",
        "oauth apps",
        auth="jwt",
        parameters=ID,
        responses={
            200: object_schema({"client_id": STRING, "client_secret": STRING}),
        },
    ),
    Route(
        "GET",
        "/api/admin/scope-requests",
        admin_scope_requests,
        "Scope requests, oldest first",
        "admin",
        auth="admin",
        parameters=LIST_QUERY,
        responses={
            200: object_schema({"scope_requests": SCOPE_REQUEST_LIST, "next_cursor": NULLABLE}),
        },
    ),
    Route(
        "POST",
        "/api/admin/scope-requests/{id}/approve",
        approve_request,
        "Approve a scope request",
        "admin",
        auth="admin",
        parameters=ID,
        request=DECISION.schema(),
        responses={200: wrapped("scope_request", SCOPE_REQUEST_SCHEMA)},
    ),
    Route(
        "POST",
        "/api/admin/scope-requests/{id}/deny",
        deny_request,
        "Deny a scope request",
        "admin",
        auth="admin",
        parameters=ID,
        request=DECISION.schema(),
        responses={200: wrapped("scope_request", SCOPE_REQUEST_SCHEMA)},
    ),
    Route(
        "POST",
        "/api/admin/apps/{id}/suspend",
        suspend_app,
        "Suspend an app and revoke every token of it",
        "admin",
        auth="admin",
        parameters=ID,
        responses={200: APP},
    ),
    Route(
        "POST",
        "/api/admin/apps/{id}/unsuspend",
        unsuspend_app,
        "Lift an app's suspension",
        "admin",
        auth="admin",
        parameters=ID,
        responses={200: APP},
    ),
]
