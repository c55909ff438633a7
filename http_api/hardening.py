"""Request hardening: a request id, a bounded handling time, one access-log line per request,
and security headers on every response.

The access log names the method, the path without its query string (authorization codes,
tokens and PKCE values travel in queries), the status, the time taken and the request id.
It never logs a header or a body.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from http_api.errors import error_response
from ledger.errors import UnavailableError

access_log = logging.getLogger("buddo.access")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)
# A caller's own id is kept only when it is short and plain (it ends up in our log).
CALLER_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
TIMEOUT_RETRY_AFTER_SECONDS = 2
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def request_id_of(request: web.Request) -> str:
    """The caller's X-Request-Id when it is well formed, else a fresh one."""
    sent = request.headers.get(REQUEST_ID_HEADER, "")
    return sent if CALLER_ID.fullmatch(sent) else uuid.uuid4().hex


def request_middleware(timeout_seconds: float) -> Middleware:
    """The outermost middleware: id, time bound, access log."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        request[REQUEST_ID] = request_id_of(request)
        began = time.perf_counter()
        status = 0
        try:
            response = await _bounded(request, handler, timeout_seconds)
        except web.HTTPException as exc:  # redirects the error middleware lets through
            status = exc.status
            raise
        else:
            status = response.status
        finally:
            _log(request, status, time.perf_counter() - began)
        return response

    return middleware


async def _bounded(request: web.Request, handler: Handler, seconds: float) -> web.StreamResponse:
    try:
        async with asyncio.timeout(seconds):
            return await handler(request)
    except TimeoutError:
        access_log.warning("request %s ran past %gs", request[REQUEST_ID], seconds)
        return error_response(
            UnavailableError("The request took too long.", TIMEOUT_RETRY_AFTER_SECONDS),
            request,
        )


def _log(request: web.Request, status: int, seconds: float) -> None:
    # raw_path is percent-encoded (no control characters reach the log) and has no query.
    access_log.info(
        "%s %s %s %d %.1fms",
        request[REQUEST_ID],
        request.method,
        request.rel_url.raw_path,
        status,
        seconds * 1000,
    )


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every response, errors and redirects included."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    # Any answer may carry a token, a code or a balance: never cached unless a handler says
    # so itself (the stylesheet).
    response.headers.setdefault("Cache-Control", "no-store")
    if REQUEST_ID in request:
        response.headers.setdefault(REQUEST_ID_HEADER, request[REQUEST_ID])
