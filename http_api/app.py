"""The application factory: the one place where the HTTP service is put together."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from http_api.admin_api import ADMIN_ROUTES
from http_api.auth_api import AUTH_ROUTES
from http_api.authn import ROUTE_TABLE, auth_middleware, limit_middleware, route_table
from http_api.errors import error_middleware
from http_api.external_api import EXTERNAL_ROUTES
from http_api.keys import SERVICES
from http_api.oauth_api import OAUTH_ROUTES
from http_api.oauth_apps_api import APP_ROUTES
from http_api.operator_api import OPERATOR_ROUTES
from http_api.ratelimit import rate_limit_headers
from http_api.routes import Route, add_routes
from http_api.settings import Settings
from http_api.system import ROUTES, SYSTEM_ROUTES
from http_api.wiring import open_services


def all_routes() -> list[Route]:
    """Every route of the service, in the order they are registered."""
    return [
        *SYSTEM_ROUTES,
        *AUTH_ROUTES,
        *ADMIN_ROUTES,
        *APP_ROUTES,
        *OAUTH_ROUTES,
        *EXTERNAL_ROUTES,
        *OPERATOR_ROUTES,
    ]


def create_app(settings: Settings) -> web.Application:
    """Build the aiohttp application; nothing connects until it starts."""
    app = web.Application(
        middlewares=[rate_limit_headers, error_middleware, limit_middleware, auth_middleware],
        client_max_size=settings.max_body_bytes,
    )
    routes = all_routes()
    app[ROUTES] = routes
    app[ROUTE_TABLE] = route_table(routes)
    add_routes(app, routes)

    async def services(app: web.Application) -> AsyncIterator[None]:
        app[SERVICES] = await open_services(settings)
        yield
        await app[SERVICES].close()

    app.cleanup_ctx.append(services)
    return app
