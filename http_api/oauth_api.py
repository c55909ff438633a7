"""The OAuth 2.0 protocol endpoints (spec 5.3-5.7): authorize, token, introspect, revoke.

The token, introspection and revocation endpoints answer errors as RFC 6749 5.2 JSON. The
authorize endpoint never redirects to a client or URI it cannot vouch for (RFC 6749 4.1.2.1):
those errors are shown as JSON 400 (an HTML page to a browser); every other error goes back to
the client's redirect URI. Browser mode (sign-in and consent pages) is `browser_authorize`.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from aiohttp import web

from commands import grants
from commands.credentials import digest
from commands.grants import ClientCredentials, TokenPair
from http_api import browser_authorize
from http_api.authn import (
    PRINCIPAL,
    WrongTokenTypeError,
    authenticate_jwt,
    bearer_token,
)
from http_api.authorize_request import (
    authorize_parameters,
    consent_location,
    registered_client,
)
from http_api.browser_pages import is_browser
from http_api.jwt_codec import looks_like_jwt
from http_api.keys import SERVICES
from http_api.openapi import OAUTH_ERROR_SCHEMA
from http_api.paging import PAGE_QUERY, page_query, page_schema
from http_api.parsing import Body, Field, path_uuid, read_body
from http_api.routes import Route, Schema
from http_api.views import NULLABLE, STRING
from ledger.errors import (
    BuddoError,
    InvalidClientError,
    OAuthProtocolError,
    UnauthorizedError,
)
from ledger.oauth import ALL_SCOPES
from ledger.times import iso_z
from projections import oauth_queries

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
OPAQUE = Field("string", required=False, max_length=512)
TOKEN = Body(
    {
        "grant_type": Field("string", max_length=64),
        "code": OPAQUE,
        "redirect_uri": Field("string", required=False, max_length=2_000),
        "client_id": Field("string", required=False, max_length=128),
        "client_secret": OPAQUE,
        "code_verifier": Field("string", required=False, max_length=128),
        "refresh_token": OPAQUE,
        "scope": Field("string", required=False, max_length=1_000),
    },
    accepts_form=True,
    ignores_unknown=True,
)
# Introspection (RFC 7662) and revocation (RFC 7009) take the same parameters.
PRESENTED_TOKEN = Body(
    {
        "token": Field("string"),  # any string: a malformed token is just inactive
        "token_type_hint": Field("string", required=False, max_length=64),
        "client_id": Field("string", required=False, max_length=128),
        "client_secret": OPAQUE,
    },
    accepts_form=True,
    ignores_unknown=True,
)


def redirect(request: web.Request, location: str) -> web.Response:
    """302 to `location`, or `{redirect_to}` for a client that asked for JSON (spec 5.3)."""
    if "application/json" in request.headers.get("Accept", ""):
        return web.json_response({"redirect_to": location}, headers=NO_STORE)
    return web.Response(status=302, headers={"Location": location, **NO_STORE})


async def authorize(request: web.Request) -> web.Response:
    """API mode: the caller's JWT is the user's consent; a browser gets pages (spec 5.3)."""
    services = request.app[SERVICES]
    parameters = authorize_parameters(request.query)
    app = await registered_client(services, parameters)
    if is_browser(request):
        return await browser_authorize.sign_in_or_consent(request, app, parameters)
    token = bearer_token(request)
    if token is None:
        raise UnauthorizedError("Sign in: send an operator JWT.")
    if not looks_like_jwt(token):
        raise WrongTokenTypeError("an operator JWT from /api/auth/login")
    user = await authenticate_jwt(request, token)
    return redirect(request, await consent_location(services, user.user_id, app, parameters))


async def read_oauth_body(request: web.Request, body: Body) -> dict[str, Any]:
    """A protocol endpoint's body; malformed ones are RFC 6749 `invalid_request`."""
    try:
        return await read_body(request, body)
    except BuddoError as error:
        if isinstance(error, OAuthProtocolError) or error.code == "payload_too_large":
            raise
        raise OAuthProtocolError("invalid_request", error.message) from None


def client_credentials(request: web.Request, body: dict[str, Any]) -> ClientCredentials | None:
    """Client authentication by HTTP Basic (RFC 6749 2.3.1) or in the body, never both."""
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        if not body.get("client_id"):
            return None
        return ClientCredentials(body["client_id"], body.get("client_secret") or None)
    if body.get("client_secret"):
        raise OAuthProtocolError("invalid_request", "Use one client authentication method.")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClientError() from None
    client_id, colon, secret = decoded.partition(":")
    client_id, secret = unquote_plus(client_id), unquote_plus(secret)
    if not colon or not client_id or body.get("client_id") not in {None, client_id}:
        raise InvalidClientError()
    return ClientCredentials(client_id, secret or None)


def required(body: dict[str, Any], *names: str) -> list[str]:
    """The values of required protocol parameters (invalid_request naming a missing one)."""
    for name in names:
        if not body.get(name):
            raise OAuthProtocolError("invalid_request", f"{name} is required.")
    return [body[name] for name in names]


def token_json(pair: TokenPair) -> dict[str, Any]:
    """The token response of spec 5.4."""
    answer: dict[str, Any] = {
        "access_token": pair.access_token,
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
        "refresh_token": pair.refresh_token,
        "scope": " ".join(pair.scopes),
    }
    if pair.session is not None:
        answer["session_token"] = pair.session.token
        answer["session_token_expires_at"] = iso_z(pair.session.expires_at)
    return answer


async def token(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = await read_oauth_body(request, TOKEN)
    grant_type = body["grant_type"]
    if grant_type not in {"authorization_code", "refresh_token"}:
        raise OAuthProtocolError(
            "unsupported_grant_type", "Use authorization_code or refresh_token."
        )
    client = client_credentials(request, body)
    if client is None:
        raise InvalidClientError("Send client_id, with the secret if the client has one.")
    command: object
    if grant_type == "authorization_code":
        code, redirect_uri, verifier = required(body, "code", "redirect_uri", "code_verifier")
        command = grants.ExchangeCode(client, code, redirect_uri, verifier)
    else:
        (refresh,) = required(body, "refresh_token")
        scope = body.get("scope")
        command = grants.RefreshTokens(client, refresh, scope.split() if scope else None)
    pair: TokenPair = await services.bus.execute(command)
    return web.json_response(token_json(pair), headers=NO_STORE)


INACTIVE = {"active": False}


async def introspect(request: web.Request) -> web.Response:
    """RFC 7662 in the spec's shape: open by default, client credentials optional."""
    services = request.app[SERVICES]
    body = await read_oauth_body(request, PRESENTED_TOKEN)
    client = client_credentials(request, body)
    if client is None and services.settings.introspection_requires_client:
        raise InvalidClientError("Authenticate the client to introspect tokens.")
    app_id = None
    if client is not None:
        app_id = str(await services.bus.execute(grants.AuthenticateClient(client)))
    status = await services.reads.lookup(oauth_queries.TOKEN_STATUS, digest(body["token"]))
    if (
        status is None
        or status.revoked
        or status.user_suspended
        or status.expires_at <= iso_z(datetime.now(UTC))
        or (app_id is not None and status.app_id != app_id)
        or status.client_id is None
    ):
        return web.json_response(INACTIVE, headers=NO_STORE)
    return web.json_response(introspection(status, status.client_id), headers=NO_STORE)


def introspection(status: oauth_queries.TokenStatus, client_id: str) -> dict[str, Any]:
    """An active token: the spec's fields, then RFC 7662's (an access token is a Bearer
    token; a refresh token says so, and a resource server must never take it for one)."""
    return {
        "active": True,
        "user_id": status.user_id,
        "app_id": status.app_id,
        "scopes": status.scopes,
        "expires_at": status.expires_at,
        "scope": " ".join(status.scopes),
        "client_id": client_id,
        "sub": status.user_id,
        "exp": int(datetime.fromisoformat(status.expires_at).timestamp()),
        "token_type": "Bearer" if status.kind == "access" else "refresh_token",
    }


async def revoke(request: web.Request) -> web.Response:
    """RFC 7009: 200 whatever the token was; a refresh token takes its family along."""
    services = request.app[SERVICES]
    body = await read_oauth_body(request, PRESENTED_TOKEN)
    client = client_credentials(request, body)
    if client is None:
        raise InvalidClientError("Send client_id, with the secret if the client has one.")
    await services.bus.execute(grants.RevokeToken(client, body["token"]))
    return web.json_response({}, headers=NO_STORE)


async def metadata(request: web.Request) -> web.Response:
    """RFC 8414 authorization server metadata."""
    issuer = request.app[SERVICES].settings.issuer
    return web.json_response(
        {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/api/oauth/authorize",
            "token_endpoint": f"{issuer}/api/oauth/token",
            "introspection_endpoint": f"{issuer}/api/oauth/token/verify",
            "revocation_endpoint": f"{issuer}/api/oauth/revoke",
            "scopes_supported": sorted(ALL_SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            "introspection_endpoint_auth_methods_supported": [
                "none",
                "client_secret_basic",
                "client_secret_post",
            ],
            "revocation_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            "authorization_response_iss_parameter_supported": True,
            "service_documentation": f"{issuer}/.well-known/openapi.json",
        }
    )


async def connected_apps(request: web.Request) -> web.Response:
    apps, next_cursor = await oauth_queries.connected_apps(
        request.app[SERVICES].reads, request[PRINCIPAL].user_id, *page_query(request)
    )
    return web.json_response({"apps": apps, "next_cursor": next_cursor})


async def disconnect_app(request: web.Request) -> web.Response:
    app_id = path_uuid(request, "app_id")
    await request.app[SERVICES].bus.execute(
        grants.DisconnectApp(request[PRINCIPAL].user_id, app_id)
    )
    return web.Response(status=204)


SCOPE_LIST: Schema = {"type": "array", "items": STRING}
TOKEN_RESPONSE: Schema = {
    "type": "object",
    "required": ["access_token", "token_type", "expires_in", "refresh_token", "scope"],
    "properties": {
        "access_token": STRING,
        "token_type": {"type": "string", "enum": ["Bearer"]},
        "expires_in": {"type": "integer"},
        "refresh_token": STRING,
        "scope": STRING,
        "session_token": STRING,
        "session_token_expires_at": STRING,
    },
}
INTROSPECTION: Schema = {
    "type": "object",
    "required": ["active"],
    "properties": {
        "active": {"type": "boolean"},
        "user_id": STRING,
        "app_id": STRING,
        "scopes": SCOPE_LIST,
        "expires_at": STRING,
        "scope": STRING,
        "client_id": STRING,
        "sub": STRING,
        "exp": {"type": "integer"},
        "token_type": {"type": "string", "enum": ["Bearer", "refresh_token"]},
    },
}
CONNECTED_APP: Schema = {
    "type": "object",
    "required": [
        "app_id",
        "client_id",
        "app_name",
        "logo_url",
        "scopes",
        "connected_at",
        "last_used_at",
    ],
    "properties": {
        "app_id": STRING,
        "client_id": STRING,
        "app_name": STRING,
        "logo_url": NULLABLE,
        "scopes": SCOPE_LIST,
        "connected_at": STRING,
        "last_used_at": NULLABLE,
    },
}


def _query(name: str, schema: Schema, *, required: bool = False) -> Schema:
    return {"name": name, "in": "query", "required": required, "schema": schema}


AUTHORIZE_QUERY = (
    _query("response_type", {"type": "string", "enum": ["code"]}, required=True),
    _query("client_id", STRING, required=True),
    _query("redirect_uri", STRING, required=True),
    _query("scope", STRING, required=True),
    _query("state", STRING),
    _query("code_challenge", {"type": "string", "pattern": "^[A-Za-z0-9_-]{43}$"}, required=True),
    _query("code_challenge_method", {"type": "string", "enum": ["S256"]}, required=True),
)

OAUTH_ROUTES = [
    Route(
        "GET",
        "/api/oauth/authorize",
        authorize,
        "Authorization request: with a JWT it is the consent (API mode) and redirects with a"
        " code; a browser without one gets the sign-in or consent page",
        "oauth",
        parameters=AUTHORIZE_QUERY,
        pages=(200, 400),
        responses={
            200: {
                "type": "object",
                "required": ["redirect_to"],
                "properties": {"redirect_to": STRING},
            },
            302: {},
        },
    ),
    Route(
        "POST",
        "/api/oauth/token",
        token,
        "Exchange a code, or rotate a refresh token",
        "oauth",
        request=TOKEN.schema(),
        form=True,
        responses={200: TOKEN_RESPONSE, 400: OAUTH_ERROR_SCHEMA, 401: OAUTH_ERROR_SCHEMA},
    ),
    Route(
        "POST",
        "/api/oauth/token/verify",
        introspect,
        "Token introspection",
        "oauth",
        request=PRESENTED_TOKEN.schema(),
        form=True,
        limit="introspect",
        responses={200: INTROSPECTION, 400: OAUTH_ERROR_SCHEMA, 401: OAUTH_ERROR_SCHEMA},
    ),
    Route(
        "POST",
        "/api/oauth/revoke",
        revoke,
        "Token revocation (RFC 7009)",
        "oauth",
        request=PRESENTED_TOKEN.schema(),
        form=True,
        responses={200: {"type": "object"}, 400: OAUTH_ERROR_SCHEMA, 401: OAUTH_ERROR_SCHEMA},
    ),
    Route(
        "GET",
        "/.well-known/oauth-authorization-server",
        metadata,
        "Authorization server metadata (RFC 8414)",
        "system",
        responses={200: {"type": "object", "required": ["issuer"]}},
    ),
    Route(
        "GET",
        "/api/user/connected-apps",
        connected_apps,
        "The apps the caller has authorized, by time of connection, a page at a time",
        "user",
        auth="jwt",
        parameters=PAGE_QUERY,
        responses={200: page_schema({"apps": {"type": "array", "items": CONNECTED_APP}})},
    ),
    Route(
        "DELETE",
        "/api/user/connected-apps/{app_id}",
        disconnect_app,
        "Remove an app and revoke its tokens for the caller",
        "user",
        auth="jwt",
        parameters=(
            {
                "name": "app_id",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "format": "uuid"},
            },
        ),
        responses={204: {}},
    ),
]
