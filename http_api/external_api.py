"""`/api/external/*`: what an app may do for a user with an OAuth access token (spec 6)."""

from __future__ import annotations

from aiohttp import web

from http_api.authn import APP_PRINCIPAL
from http_api.keys import SERVICES
from http_api.routes import Route
from http_api.views import user_json, user_schema, wrapped
from projections import user_queries

EXTERNAL_USER_FIELDS = ("id", "username", "email", "tier", "email_verified")


async def external_user(request: web.Request) -> web.Response:
    """The token's user, without admin or TOTP flags."""
    services = request.app[SERVICES]
    user = await user_queries.user(services.reads, request[APP_PRINCIPAL].user_id)
    return web.json_response({"user": user_json(user, EXTERNAL_USER_FIELDS)})


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
]
