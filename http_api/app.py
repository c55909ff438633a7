"""The application factory: the one place where the HTTP service is put together."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from http_api.admin_api import ADMIN_ROUTES
from http_api.ads_api import ADS_ROUTES
from http_api.audit_api import AUDIT_ROUTES, audit_context
from http_api.auth_api import AUTH_ROUTES
from http_api.authn import ROUTE_TABLE, auth_middleware, limit_middleware, route_table
from http_api.browser_authorize import BROWSER_ROUTES
from http_api.browser_pages import page_error_middleware, setup_templates
from http_api.browser_session import browser_keys_context
from http_api.chat_api import CHAT_ROUTES
from http_api.deploy_api import DEPLOY_ROUTES, resume_deployments
from http_api.errors import error_middleware
from http_api.external_api import EXTERNAL_ROUTES
from http_api.hardening import request_middleware, security_headers
from http_api.keys import SERVICES
from http_api.learning_api import LEARNING_ROUTES
from http_api.oauth_api import OAUTH_ROUTES
from http_api.oauth_apps_api import APP_ROUTES
from http_api.operator_api import OPERATOR_ROUTES
from http_api.public_api import PUBLIC_ROUTES
from http_api.ratelimit import rate_limit_headers
from http_api.routes import Route, add_routes
from http_api.settings import Settings
from http_api.social_api import SOCIAL_ROUTES
from http_api.system import ROUTES, SYSTEM_ROUTES
from http_api.wiring import open_services


def all_routes() -> list[Route]:
    """Every route of the service, in the order they are registered."""
    return [
        *SYSTEM_ROUTES,
        *AUTH_ROUTES,
        *ADMIN_ROUTES,
        *AUDIT_ROUTES,
        *APP_ROUTES,
        *OAUTH_ROUTES,
        *BROWSER_ROUTES,
        *EXTERNAL_ROUTES,
        *OPERATOR_ROUTES,
        *ADS_ROUTES,
        *SOCIAL_ROUTES,
        *CHAT_ROUTES,
        *PUBLIC_ROUTES,
        *LEARNING_ROUTES,
        *DEPLOY_ROUTES,
    ]


def create_app(settings: Settings) -> web.Application:
    """Build the aiohttp application; nothing connects until it starts."""
    app = web.Application(
        middlewares=[
            request_middleware(settings.request_timeout),  # outermost: sees every answer
            rate_limit_headers,
            error_middleware,
            page_error_middleware,  # inside the JSON one: a browser sees errors as pages
            limit_middleware,
            auth_middleware,
        ],
        client_max_size=settings.max_body_bytes,
    )
    setup_templates(app)
    app.on_response_prepare.append(security_headers)
    routes = all_routes()
    app[ROUTES] = routes
    app[ROUTE_TABLE] = route_table(routes)
    add_routes(app, routes)

    async def services(app: web.Application) -> AsyncIterator[None]:
        app[SERVICES] = opened = await open_services(settings)
        await resume_deployments(opened.reads, opened.runtime)
        yield
        await app[SERVICES].close()

    app.cleanup_ctx.append(services)
    app.cleanup_ctx.append(audit_context)  # after services: it uses the store
    app.cleanup_ctx.append(browser_keys_context)  # after services: it reads the settings
    return app
