"""System endpoints: health and the OpenAPI document."""

from __future__ import annotations

import logging

from aiohttp import web

from http_api import __version__
from http_api.keys import SERVICES
from http_api.openapi import openapi_document
from http_api.routes import Route
from ledger.errors import UnavailableError
from projections.queries import projection_lag

log = logging.getLogger(__name__)

HEALTH_SCHEMA = {
    "type": "object",
    "required": ["status", "store", "version", "projection_lag", "runtime"],
    "properties": {
        "status": {"type": "string", "enum": ["ok"]},
        "store": {"type": "string", "enum": ["sqlite", "postgres"]},
        "version": {"type": "string"},
        "projection_lag": {"type": "integer", "minimum": 0},
        "runtime": {"type": "string", "description": "the deployment runtime driver"},
    },
}


async def health(request: web.Request) -> web.Response:
    """Whether the store answers, and how far the read models lag behind the log."""
    services = request.app[SERVICES]
    store = services.settings.backend
    try:
        lag = await projection_lag(services.reads)
    except Exception as error:  # noqa: BLE001 - any failure to read means "not healthy"
        log.warning("health check failed: %s", error)
        unavailable = UnavailableError(f"The {store} store does not answer.", retry_after=2)
        body = {
            "status": "unavailable",
            "store": store,
            "version": __version__,
            "error": unavailable.code,
            "message": unavailable.message,
            "retry_after": unavailable.retry_after,
        }
        return web.json_response(body, status=503, headers={"Retry-After": "2"})
    return web.json_response(
        {
            "status": "ok",
            "store": store,
            "version": __version__,
            "projection_lag": lag,
            "runtime": services.runtime.name,
        }
    )


async def jwks(request: web.Request) -> web.Response:
    """The public keys that verify operator JWTs (empty unless EdDSA is on)."""
    return web.json_response(request.app[SERVICES].codec.jwks())


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI document of every route this server has."""
    return web.json_response(openapi_document(request.app[ROUTES]))


ROUTES: web.AppKey[list[Route]] = web.AppKey("routes", list)

SYSTEM_ROUTES = [
    Route("GET", "/health", health, "Service health", "system", responses={200: HEALTH_SCHEMA}),
    Route(
        "GET",
        "/.well-known/openapi.json",
        openapi,
        "This OpenAPI document",
        "system",
        responses={200: {"type": "object"}},
    ),
    Route(
        "GET",
        "/.well-known/jwks.json",
        jwks,
        "Public keys of operator JWTs (EdDSA)",
        "system",
        responses={
            200: {"type": "object", "required": ["keys"], "properties": {"keys": {"type": "array"}}}
        },
    ),
]
