"""The baseline of `oauth_http`: aiohttp handlers that answer a constant, served the way
`buddo serve` serves (`http_api.transport.serve_app`, the same logging set-up, no aiohttp access
log, the default keep-alive and shutdown timeouts), in a process of its own.

    python -m benchmarks.constant_server --port PORT [--log-level WARNING]
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from aiohttp import web

from http_api.settings import Settings
from http_api.transport import serve_app

CONSTANT = {"status": "ok"}
PATH = "/constant"


async def constant_get(_request: web.Request) -> web.Response:
    return web.json_response(CONSTANT)


async def constant_post(request: web.Request) -> web.Response:
    """Reads the body (as any POST handler must), then answers the constant."""
    await request.read()
    return web.json_response(CONSTANT)


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get(PATH, constant_get)
    app.router.add_post(PATH, constant_post)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.constant_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    defaults = Settings()
    serve_app(
        make_app(),
        args.host,
        args.port,
        keepalive_timeout=defaults.keepalive_timeout,
        shutdown_timeout=defaults.shutdown_timeout,
    )


if __name__ == "__main__":
    main()
