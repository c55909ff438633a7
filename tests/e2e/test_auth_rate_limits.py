"""The documented limits on the account endpoints, over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from http_api.app import create_app
from http_api.ratelimit import MemoryRateLimiter, PostgresRateLimiter
from http_api.settings import load_settings
from projections.db import PostgresReadDatabase
from tests.e2e.auth_helpers import services

START = 1_800_000_000.0  # a minute and an hour boundary


class FakeClock:
    """A clock that moves only when told to, so no window ends halfway through a test."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def documented(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    aiohttp_client: Any,
) -> tuple[TestClient, FakeClock]:  # type: ignore[type-arg]
    """The service with the documented limits (no BUDDO_RATE_LIMITS), limited on a fake clock."""
    environ = {"BUDDO_DATA_DIR": str(tmp_path / "data")}
    if backend == "postgres":
        environ["BUDDO_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    client: TestClient = await aiohttp_client(create_app(load_settings(environ)))  # type: ignore[type-arg]
    clock = FakeClock()
    wired = services(client)
    # The same limiter the wiring chose for this backend, reading the fake clock.
    if isinstance(wired.reads, PostgresReadDatabase):
        assert isinstance(wired.limiter, PostgresRateLimiter)
        wired.limiter = PostgresRateLimiter(wired.reads.pool, clock=clock)
    else:
        assert isinstance(wired.limiter, MemoryRateLimiter)
        wired.limiter = MemoryRateLimiter(clock=clock)
    return client, clock


def limit_headers(response: ClientResponse) -> tuple[str, str, str]:
    headers = response.headers
    return headers["RateLimit-Limit"], headers["RateLimit-Remaining"], headers["RateLimit-Reset"]


async def test_the_eleventh_login_in_a_minute_is_refused(
    documented: tuple[TestClient, FakeClock],  # type: ignore[type-arg]
) -> None:
    client, clock = documented
    guess = {"email": "someone@example.com", "password": "a wrong guess"}
    for attempt in range(1, 11):
        response = await client.post("/api/auth/login", json=guess)
        assert response.status == 401
        assert limit_headers(response) == ("10", str(10 - attempt), "60")

    refused = await client.post("/api/auth/login", json=guess)
    assert refused.status == 429
    assert await refused.json() == {
        "error": "rate_limited",
        "message": "Too many requests; retry in 60 seconds.",
        "retry_after": 60,
    }
    assert refused.headers["Retry-After"] == "60"
    assert limit_headers(refused) == ("10", "0", "60")

    clock.now += 45
    still = await client.post("/api/auth/login", json=guess)
    assert still.status == 429
    assert still.headers["Retry-After"] == "15"

    clock.now += 15
    next_minute = await client.post("/api/auth/login", json=guess)
    assert next_minute.status == 401
    assert limit_headers(next_minute) == ("10", "9", "60")


async def test_a_malformed_login_counts_too(documented: tuple[TestClient, FakeClock]) -> None:  # type: ignore[type-arg]
    client, _ = documented
    for _ in range(10):
        response = await client.post(
            "/api/auth/login", data=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert response.status == 400
    refused = await client.post(
        "/api/auth/login", json={"email": "a@example.com", "password": "whatever it is"}
    )
    assert refused.status == 429


@pytest.mark.parametrize("path", ["/api/auth/register", "/api/auth/forgot-password"])
async def test_the_sixth_in_an_hour_is_refused(
    documented: tuple[TestClient, FakeClock],  # type: ignore[type-arg]
    path: str,
) -> None:
    client, clock = documented

    def body() -> dict[str, str]:
        tag = uuid.uuid4().hex[:8]
        fields = {
            "email": f"r-{tag}@example.com",
            "password": "long enough",
            "username": f"r_{tag}",
        }
        return fields if path.endswith("register") else {"email": fields["email"]}

    for attempt in range(1, 6):
        response = await client.post(path, json=body())
        assert response.status in {200, 201}
        assert limit_headers(response) == ("5", str(5 - attempt), "3600")
    refused = await client.post(path, json=body())
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "3600"
    clock.now += 3600
    assert (await client.post(path, json=body())).status in {200, 201}


async def test_an_unlimited_endpoint_carries_no_limit_headers(
    documented: tuple[TestClient, FakeClock],  # type: ignore[type-arg]
) -> None:
    client, _ = documented
    response = await client.get("/health")
    assert "RateLimit-Limit" not in response.headers
