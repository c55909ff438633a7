"""Every error of the OAuth protocol endpoints (token, revocation, introspection) is RFC 6749's
`{"error", "error_description"}`, whatever the failure: body size, content type, method, rate
limit, an unreachable store, a timeout (spec section 1)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

from http_api.app import create_app
from http_api.errors import error_middleware
from http_api.hardening import request_middleware
from http_api.ratelimit import Decision, RateLimitedError
from http_api.settings import load_settings

PROTOCOL_PATHS = ("/api/oauth/token", "/api/oauth/revoke", "/api/oauth/token/verify")
TOO_LARGE = 65 * 1024
FORM = "application/x-www-form-urlencoded"


async def assert_oauth_error(response: ClientResponse, status: int, code: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    body: dict[str, Any] = await response.json()
    assert body["error"] == code
    assert isinstance(body["error_description"], str)
    assert "message" not in body
    assert response.headers["Cache-Control"] == "no-store"
    return body


@pytest.mark.parametrize("path", PROTOCOL_PATHS)
async def test_a_body_over_the_limit_is_413_in_the_oauth_shape(
    client: TestClient,  # type: ignore[type-arg]
    path: str,
) -> None:
    response = await client.post(
        path, data="token=" + "a" * TOO_LARGE, headers={"Content-Type": FORM}
    )
    await assert_oauth_error(response, 413, "payload_too_large")


@pytest.mark.parametrize("path", PROTOCOL_PATHS)
@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", None])
async def test_a_body_of_another_content_type_is_invalid_request_in_the_oauth_shape(
    client: TestClient,  # type: ignore[type-arg]
    path: str,
    content_type: str | None,
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.post(path, data=b"token=abc", headers=headers)
    await assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize("path", PROTOCOL_PATHS)
async def test_another_method_is_405_in_the_oauth_shape(
    client: TestClient,  # type: ignore[type-arg]
    path: str,
) -> None:
    response = await client.get(path)
    await assert_oauth_error(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == "POST"


async def test_introspection_over_its_limit_is_429_in_the_oauth_shape(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    aiohttp_client: Any,
) -> None:
    environ = {"BUDDO_DATA_DIR": str(tmp_path / "data"), "BUDDO_RATE_LIMITS": "introspect=1/60"}
    if backend == "postgres":
        environ["BUDDO_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    client = await aiohttp_client(create_app(load_settings(environ)))
    first = await client.post("/api/oauth/token/verify", json={"token": "x"})
    assert first.status == 200

    response = await client.post("/api/oauth/token/verify", json={"token": "x"})

    body = await assert_oauth_error(response, 429, "rate_limited")
    assert body["retry_after"] == int(response.headers["Retry-After"])


async def rate_limited(_request: web.Request) -> web.Response:
    raise RateLimitedError(Decision(allowed=False, limit=1, remaining=0, reset_seconds=7))


async def store_down(_request: web.Request) -> web.Response:
    raise psycopg.OperationalError("connection refused")


async def slow(_request: web.Request) -> web.Response:
    await asyncio.sleep(5)
    return web.json_response({})


@pytest.mark.parametrize(
    ("handler", "status", "code"),
    [
        (rate_limited, 429, "rate_limited"),
        (store_down, 503, "service_unavailable"),
        (slow, 503, "service_unavailable"),
    ],
    ids=["rate-limited", "store-down", "timeout"],
)
async def test_limits_outages_and_timeouts_of_protocol_paths_are_in_the_oauth_shape(
    aiohttp_client: Any, handler: Any, status: int, code: str
) -> None:
    app = web.Application(middlewares=[request_middleware(0.05), error_middleware])
    for path in PROTOCOL_PATHS:
        app.router.add_post(path, handler)
    app.router.add_post("/api/oauth/apps", handler)
    client = await aiohttp_client(app)

    for path in PROTOCOL_PATHS:
        body = await assert_oauth_error(await client.post(path), status, code)
        assert body["retry_after"] >= 1
    elsewhere = await (await client.post("/api/oauth/apps")).json()
    assert set(elsewhere) == {"error", "message", "retry_after"}
