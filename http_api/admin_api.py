"""`/api/admin/*` for users: verify an email, suspend, unsuspend (an admin's JWT)."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from aiohttp import web

from commands import users
from http_api.authn import PRINCIPAL
from http_api.keys import SERVICES
from http_api.parsing import Body, path_uuid, read_body
from http_api.routes import Handler, Route, Schema
from http_api.views import ADMIN_FIELDS, user_json, user_schema, wrapped
from projections import user_queries

EMPTY = Body()
USER_ID = (
    {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}},
)


def _user_action(make: Callable[[UUID, UUID], object]) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        await read_body(request, EMPTY)
        services = request.app[SERVICES]
        user_id = path_uuid(request, "id")
        await user_queries.user(services.reads, user_id)  # 404 for an unknown user
        await services.bus.execute(make(user_id, request[PRINCIPAL].user_id))
        user = await user_queries.user(services.reads, user_id)
        return web.json_response({"user": user_json(user, ADMIN_FIELDS)})

    return handler


verify_email = _user_action(lambda user_id, _admin: users.AdminVerifyEmail(user_id))
suspend = _user_action(users.SuspendUser)
unsuspend = _user_action(users.UnsuspendUser)

ADMIN_USER: dict[int, Schema] = {200: wrapped("user", user_schema(ADMIN_FIELDS))}

ADMIN_ROUTES = [
    Route(
        "POST",
        "/api/admin/users/{id}/verify-email",
        verify_email,
        "Mark a user's email verified",
        "admin",
        auth="admin",
        parameters=USER_ID,
        responses=ADMIN_USER,
    ),
    Route(
        "POST",
        "/api/admin/users/{id}/suspend",
        suspend,
        "Suspend a user and revoke their credentials",
        "admin",
        auth="admin",
        parameters=USER_ID,
        responses=ADMIN_USER,
    ),
    Route(
        "POST",
        "/api/admin/users/{id}/unsuspend",
        unsuspend,
        "Lift a suspension",
        "admin",
        auth="admin",
        parameters=USER_ID,
        responses=ADMIN_USER,
    ),
]
