"""Requests aiohttp's HTTP parser refuses before any handler runs still get the error JSON and
the security headers from the runner `buddo serve` uses, and never have their bytes echoed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from http_api.app import create_app
from http_api.settings import load_settings
from http_api.transport import ErrorJsonAppRunner

SECRET = "s3cr3t-token-in-a-query"


@pytest.fixture
async def port(tmp_path: Path) -> AsyncIterator[int]:
    settings = load_settings({"BUDDO_DATA_DIR": str(tmp_path / "data")})
    runner = ErrorJsonAppRunner(create_app(settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def exchange(port: int, raw: bytes) -> tuple[str, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    answer = await reader.read()  # the server closes the connection after a refusal
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return status_line, headers, body


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /health?access_token=" + SECRET.encode() + b"x" * 9_000 + b" HTTP/1.1\r\n\r\n",
        b"GET /health HTTP/1.1\r\nX-Long: " + SECRET.encode() + b"y" * 9_000 + b"\r\n\r\n",
        b"\x16\x03\x01" + SECRET.encode() + b"\r\n\r\n",  # TLS on the plain port
        b"GET /health HTTP/1.1\r\nBad Header Name: " + SECRET.encode() + b"\r\n\r\n",
    ],
    ids=["long-request-line", "long-header", "not-http", "bad-header-name"],
)
async def test_a_request_the_parser_refuses_gets_the_error_json(port: int, raw: bytes) -> None:
    status_line, headers, body = await exchange(port, raw)
    assert status_line.split(" ")[1] == "400"
    assert headers["Content-Type"].startswith("application/json")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"
    error = json.loads(body)
    assert error["error"] == "invalid_request"
    assert error["message"]
    assert SECRET not in body.decode()


async def test_the_runner_still_serves_well_formed_requests(port: int) -> None:
    status_line, headers, body = await exchange(
        port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert status_line.split(" ")[1] == "200"
    assert json.loads(body)["status"] == "ok"
    assert "X-Request-Id" in headers
