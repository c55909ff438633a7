"""Hardening: security headers and a request id on every response, an access log without
secrets, a bounded request time, and store outages answered as 503 (never a 500)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from http_api.errors import error_middleware
from http_api.hardening import REQUEST_ID_HEADER, request_middleware, security_headers
from http_api.settings import Settings
from ledger.errors import UnavailableError
from projections.db import PostgresReadDatabase
from tests.e2e.oauth_helpers import connect, register_app, verified_person

SECRET = "s3cr3t-code-value"


async def test_every_response_has_security_headers_and_a_request_id(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    for method, path in [
        ("GET", "/health"),
        ("GET", "/no/such/path"),
        ("POST", "/api/auth/login"),
        ("POST", "/api/oauth/token"),
        ("GET", "/api/auth/me"),
    ]:
        response = await client.request(method, path, json={})
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["Cache-Control"] == "no-store", path
        assert len(response.headers[REQUEST_ID_HEADER]) == 32, path


async def test_a_well_formed_caller_request_id_is_kept_and_others_replaced(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    kept = await client.get("/health", headers={REQUEST_ID_HEADER: "trace-42.a_b"})
    assert kept.headers[REQUEST_ID_HEADER] == "trace-42.a_b"
    replaced = await client.get("/health", headers={REQUEST_ID_HEADER: "bad id\twith tab"})
    assert replaced.headers[REQUEST_ID_HEADER] != "bad id\twith tab"


async def test_the_access_log_has_the_request_id_and_no_secret(
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    owner = await verified_person(client, settings.data_dir)
    app = await register_app(client, owner)
    with caplog.at_level(logging.INFO, logger="buddo.access"):
        tokens = await connect(client, owner, app)
        response = await client.get(
            f"/api/oauth/authorize?code={SECRET}&state={SECRET}",
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
        )
    lines = [r.getMessage() for r in caplog.records if r.name == "buddo.access"]
    assert any(
        response.headers[REQUEST_ID_HEADER] in line and "/api/oauth/authorize" in line
        for line in lines
    ), lines
    text = "\n".join(lines)
    for secret in (SECRET, tokens["access_token"], tokens["refresh_token"], owner.token):
        assert secret not in text


async def slow(_request: web.Request) -> web.Response:
    await asyncio.sleep(5)
    return web.json_response({})


async def broken_store(_request: web.Request) -> web.Response:
    raise psycopg.OperationalError("connection refused: SELECT secret FROM somewhere")


async def test_a_request_past_the_timeout_is_503_with_retry_after(aiohttp_client: Any) -> None:
    app = web.Application(middlewares=[request_middleware(0.05), error_middleware])
    app.router.add_get("/slow", slow)
    app.on_response_prepare.append(security_headers)
    client = await aiohttp_client(app)
    response = await client.get("/slow")
    assert response.status == 503
    assert response.headers["Retry-After"].isdigit()
    assert (await response.json())["error"] == "service_unavailable"


async def test_a_driver_outage_error_is_503_without_details(aiohttp_client: Any) -> None:
    app = web.Application(middlewares=[request_middleware(5), error_middleware])
    app.router.add_get("/broken", broken_store)
    client = await aiohttp_client(app)
    response = await client.get("/broken")
    assert response.status == 503
    assert "Retry-After" in response.headers
    body = await response.json()
    assert set(body) == {"error", "message", "retry_after"}
    assert "SELECT" not in body["message"]


async def test_an_unreachable_read_pool_is_unavailable_within_its_timeout() -> None:
    reads = PostgresReadDatabase({"host": "127.0.0.1", "port": "1", "dbname": "x"}, 1, 0.5)
    await reads.open()
    try:
        with pytest.raises(UnavailableError):
            await asyncio.wait_for(reads.fetch_one("SELECT 1"), timeout=30)
    finally:
        await reads.close()
