"""What happens below the application: requests aiohttp's HTTP parser refuses.

A request line or header over the parser's limit, a malformed request line, bytes that are not
HTTP: aiohttp answers these itself, before any middleware or signal runs, in text/plain that
echoes the refused bytes (aio-libs/aiohttp#3287 asks for a hook; none exists in 3.x). Here they
get the spec's error JSON and the security headers like every other answer, and the log names
the kind of failure without the bytes, which may carry a token in a query string.

aiohttp makes its request handler class in `web.Server.__call__`, so the one way in is a Server
subclass; `ErrorJsonAppRunner` gives its server that class.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, BadHttpMethod, LineTooLong
from aiohttp.web_protocol import RequestHandler

from http_api.errors import InvalidRequestError, error_response
from http_api.hardening import SECURITY_HEADERS
from ledger.errors import BuddoError

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 8190  # aiohttp's default limit on the request line and on each header


def refusal_message(exc: BaseException | None) -> str:
    """What the caller did wrong, in words that never quote what it sent."""
    if isinstance(exc, LineTooLong):
        return (
            f"The request line or a header is longer than {MAX_LINE_BYTES} bytes; "
            "send long values in a JSON body."
        )
    if isinstance(exc, BadHttpMethod):
        return "The request does not start with an HTTP method."
    return "The request is not well-formed HTTP/1.1."


class ErrorJsonRequestHandler(RequestHandler):
    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,  # noqa: ARG002 aiohttp's text, which quotes the request
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("a response was already under way; the connection is closed")
        if isinstance(exc, BadHttpMessage) and 400 <= status < 500:
            kind = type(exc).__name__
            log.info("refused an unreadable request from %s: %s", request.remote, kind)
            refusal = InvalidRequestError(refusal_message(exc))
            response = error_response(refusal, request)
            response.set_status(status)
        else:
            log.error("error below the application from %s", request.remote, exc_info=exc)
            failure = BuddoError("Something went wrong on our side.")
            response = error_response(failure, request)
        response.headers.update(SECURITY_HEADERS)
        response.headers["Cache-Control"] = "no-store"
        response.force_close()
        return response


class ErrorJsonServer(web.Server):
    def __call__(self) -> RequestHandler:
        return ErrorJsonRequestHandler(self, loop=self._loop, **self._kwargs)


class ErrorJsonAppRunner(web.AppRunner):
    """web.AppRunner whose connections answer parser refusals in the error JSON."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # Same state, one method different: the application's handler, request factory and
        # settings stay exactly as aiohttp made them.
        server.__class__ = ErrorJsonServer
        return server


def serve_app(
    app: web.Application,
    host: str,
    port: int,
    *,
    reuse_port: bool = False,
    keepalive_timeout: float,
    shutdown_timeout: float,
) -> None:
    """web.run_app with ErrorJsonAppRunner: serve until SIGINT or SIGTERM, then stop accepting,
    let in-flight requests finish (for at most `shutdown_timeout`) and run on_cleanup."""
    with contextlib.suppress(web.GracefulExit, KeyboardInterrupt):
        asyncio.run(
            _serve(
                app,
                host,
                port,
                reuse_port=reuse_port,
                keepalive_timeout=keepalive_timeout,
                shutdown_timeout=shutdown_timeout,
            )
        )


async def _serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    reuse_port: bool,
    keepalive_timeout: float,
    shutdown_timeout: float,
) -> None:
    runner = ErrorJsonAppRunner(
        app,
        handle_signals=True,  # SIGINT and SIGTERM raise web.GracefulExit
        access_log=None,  # http_api.hardening logs each request, without its query string
        keepalive_timeout=keepalive_timeout,
        shutdown_timeout=shutdown_timeout,
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, reuse_port=reuse_port).start()
        await asyncio.Event().wait()  # until a signal
    finally:
        await runner.cleanup()
