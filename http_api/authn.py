"""Authentication: the middleware that applies spec section 2 to every route.

Each route declares what it takes (`Route.auth`): nothing, an operator JWT, an admin's JWT, or
an OAuth access token with a scope. The wrong kind of token is `401 wrong_token_type`; missing
or bad credentials are `401` with a `WWW-Authenticate: Bearer` header.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from aiohttp import web

from commands.credentials import digest
from http_api.errors import Handler
from http_api.jwt_codec import TokenExpiredError, looks_like_jwt
from http_api.keys import SERVICES
from http_api.ratelimit import client_address, enforce_request
from http_api.routes import Route
from ledger.errors import ForbiddenError, UnauthorizedError
from projections.oauth_queries import TOKEN_STATUS
from projections.user_queries import jwt_status


class WrongTokenTypeError(UnauthorizedError):
    """A JWT where an OAuth token belongs, or the reverse."""

    code = "wrong_token_type"

    def __init__(self, expected: str) -> None:
        super().__init__(f"This endpoint takes {expected}.")


class InsufficientScopeError(ForbiddenError):
    """A valid OAuth token without the scope the endpoint needs (RFC 6750 3.1)."""

    code = "insufficient_scope"

    def __init__(self, scope: str) -> None:
        super().__init__(f"This endpoint needs the scope {scope}.")
        self.scope = scope

    def extra(self) -> dict[str, object]:
        return {"required_scope": self.scope}

    def headers(self) -> dict[str, str]:
        return {
            "WWW-Authenticate": f'Bearer realm="buddo", error="insufficient_scope",'
            f' scope="{self.scope}"'
        }


class EmailNotVerifiedError(ForbiddenError):
    """The caller must verify their email address first."""

    code = "email_not_verified"

    def __init__(self) -> None:
        super().__init__("Verify your email address first.")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user, and the credential they called with."""

    user_id: UUID
    jti: str
    is_admin: bool
    email_verified: bool


@dataclass(frozen=True)
class AppPrincipal:
    """An app acting for a user with an OAuth access token."""

    user_id: UUID
    app_id: UUID
    grant_id: UUID
    scopes: frozenset[str]


PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal", Principal)
APP_PRINCIPAL: web.RequestKey[AppPrincipal] = web.RequestKey("app_principal", AppPrincipal)
ROUTE_TABLE: web.AppKey[dict[tuple[str, str], Route]] = web.AppKey("route_table", dict)


def route_table(routes: list[Route]) -> dict[tuple[str, str], Route]:
    """(method, path template) -> the route, for the middlewares."""
    return {(route.method, route.path): route for route in routes}


def bearer_token(request: web.Request) -> str | None:
    """The token of an `Authorization: Bearer …` header, if there is one."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate_jwt(request: web.Request, token: str) -> Principal:
    """A principal for a genuine, unrevoked operator JWT of a user who is not suspended."""
    services = request.app[SERVICES]
    claims = services.codec.verify(token)
    status = await jwt_status(services.reads, claims.jti, str(claims.user_id))
    if status is None or status.revoked or status.suspended:
        raise UnauthorizedError("The token is invalid.")
    return Principal(claims.user_id, claims.jti, status.is_admin, status.email_verified)


async def authenticate_access_token(request: web.Request, token: str) -> AppPrincipal:
    """The app and user behind a live OAuth access token (the inline read model: never stale)."""
    status = await request.app[SERVICES].reads.lookup(TOKEN_STATUS, digest(token))
    if status is None or status.kind != "access" or status.revoked or status.user_suspended:
        raise UnauthorizedError("The token is invalid.")
    if datetime.fromisoformat(status.expires_at) <= datetime.now(UTC):
        raise TokenExpiredError
    return AppPrincipal(
        UUID(status.user_id), UUID(status.app_id), UUID(status.grant_id), frozenset(status.scopes)
    )


def route_of(request: web.Request) -> Route | None:
    """The declared route a request matched, if any."""
    resource = request.match_info.route.resource
    if resource is None:
        return None
    method = "GET" if request.method == "HEAD" else request.method
    return request.app[ROUTE_TABLE].get((method, resource.canonical))


@web.middleware
async def limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count a rate-limited route's request by client address, whatever its outcome."""
    route = route_of(request)
    if route is not None and route.limit:
        services = request.app[SERVICES]
        address = client_address(request, services.settings.trusted_proxies)
        await enforce_request(request, services.limiter, services.limits[route.limit], address)
    return await handler(request)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate by the route's rule before the handler runs."""
    route = route_of(request)
    rule = route.auth if route is not None else "none"
    if rule == "none":
        return await handler(request)
    token = bearer_token(request)
    if token is None:
        raise UnauthorizedError("Authentication required.")
    if rule in {"jwt", "admin"}:
        if not looks_like_jwt(token):
            raise WrongTokenTypeError("an operator JWT from /api/auth/login")
        principal = await authenticate_jwt(request, token)
        if rule == "admin" and not principal.is_admin:
            raise ForbiddenError("Only admins may do this.")
        request[PRINCIPAL] = principal
        return await handler(request)
    if looks_like_jwt(token):
        raise WrongTokenTypeError("an OAuth access token")
    app_principal = await authenticate_access_token(request, token)
    scope = rule.removeprefix("oauth:")
    if scope not in app_principal.scopes:
        raise InsufficientScopeError(scope)
    request[APP_PRINCIPAL] = app_principal
    return await handler(request)
