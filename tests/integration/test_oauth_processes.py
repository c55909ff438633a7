"""Two real `buddo serve` processes on one PostgreSQL database: an OAuth revocation, or a
refresh-token reuse, through one process holds on the other at once (spec 5.5: revocation is
immediate on every server process)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from tests.conftest import GENEROUS_LIMITS
from tests.e2e.helpers import outbox_codes
from tests.integration.test_auth_processes import (
    PASSWORD,
    Server,
    call,
    login,
    register,
    start_server,
    stop,
    wait_ready,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

REDIRECT_URI = "https://app.example/callback"
SCOPE = "profile:read points:read"
MAIL_DEADLINE_SECONDS = 30.0  # mail is written in the background; a bound, not an expectation


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def servers(postgres_url: str, tmp_path: Path, data_dir: Path) -> Iterator[tuple[Server, Server]]:
    """Processes A and B sharing the database and the data directory (so the token key)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BUDDO_")} | {
        "BUDDO_DATABASE_URL": postgres_url,
        "BUDDO_DATA_DIR": str(data_dir),
        "BUDDO_RATE_LIMITS": GENEROUS_LIMITS,
        "BUDDO_LOG_LEVEL": "WARNING",
    }
    started: list[Server] = []
    try:
        for name in ("a", "b"):
            started.append(start_server(environ, tmp_path / f"server-{name}.log"))  # noqa: PERF401
        yield started[0], started[1]
    finally:
        for server in started:
            stop(server)


@pytest.fixture
async def http(
    servers: tuple[Server, Server], tmp_path: Path
) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        for server, name in zip(servers, "ab", strict=True):
            await wait_ready(session, server, tmp_path / f"server-{name}.log")
        yield session


async def post_json(http: aiohttp.ClientSession, url: str, **body: str) -> tuple[int, Any]:
    """POST a JSON body (`call` takes `token` for the bearer header; these bodies hold one)."""
    async with http.post(url, json=body) as response:
        return response.status, await response.json()


async def verified_login(
    http: aiohttp.ClientSession, server: Server, data_dir: Path, tag: str
) -> str:
    """A new user with a verified email (apps need one), logged in: their JWT."""
    email = await register(http, server, tag)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + MAIL_DEADLINE_SECONDS
    while not (codes := outbox_codes(data_dir, email)):
        assert loop.time() < deadline, f"no verification mail to {email}"
        await asyncio.sleep(0.05)
    status, body = await post_json(http, f"{server.url}/api/auth/verify-email", token=codes[-1])
    assert status == 200, body
    return await login(http, server, email, PASSWORD)


async def new_app(http: aiohttp.ClientSession, server: Server, jwt: str) -> dict[str, Any]:
    status, body = await call(
        http,
        "POST",
        f"{server.url}/api/oauth/apps",
        jwt,
        app_name="Two-process app",
        redirect_uris=[REDIRECT_URI],
        requested_scopes=SCOPE.split(),
    )
    assert status == 201, body
    app: dict[str, Any] = body["app"]
    return app


async def tokens_via(
    http: aiohttp.ClientSession, server: Server, jwt: str, app: dict[str, Any]
) -> dict[str, Any]:
    """Authorize (API mode) and redeem the code, both on `server`."""
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    )
    params = {
        "response_type": "code",
        "client_id": app["client_id"],
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPE,
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    headers = {"Authorization": f"Bearer {jwt}", "Accept": "application/json"}
    async with http.get(
        f"{server.url}/api/oauth/authorize", params=params, headers=headers
    ) as response:
        assert response.status == 200, await response.text()
        location = (await response.json())["redirect_to"]
    code = parse_qs(urlsplit(location).query)["code"][0]
    return await token(
        http,
        server,
        app,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT_URI,
        code_verifier=verifier,
    )


async def token_call(
    http: aiohttp.ClientSession, server: Server, app: dict[str, Any], **fields: str
) -> tuple[int, dict[str, Any]]:
    credentials = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
    async with http.post(
        f"{server.url}/api/oauth/token", data={**fields, **credentials}
    ) as response:
        body: dict[str, Any] = await response.json()
        return response.status, body


async def token(
    http: aiohttp.ClientSession, server: Server, app: dict[str, Any], **fields: str
) -> dict[str, Any]:
    status, body = await token_call(http, server, app, **fields)
    assert status == 200, body
    return body


async def refresh_via(
    http: aiohttp.ClientSession, server: Server, app: dict[str, Any], refresh_token: str
) -> tuple[int, dict[str, Any]]:
    return await token_call(
        http, server, app, grant_type="refresh_token", refresh_token=refresh_token
    )


async def revoke_via(
    http: aiohttp.ClientSession, server: Server, app: dict[str, Any], token_value: str
) -> None:
    fields = {
        "token": token_value,
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
    }
    async with http.post(f"{server.url}/api/oauth/revoke", data=fields) as response:
        assert response.status == 200, await response.text()


async def user_status(http: aiohttp.ClientSession, server: Server, access_token: str) -> int:
    status, _ = await call(http, "GET", f"{server.url}/api/external/user", access_token)
    return status


async def introspect_via(
    http: aiohttp.ClientSession, server: Server, token_value: str
) -> dict[str, Any]:
    status, body = await post_json(http, f"{server.url}/api/oauth/token/verify", token=token_value)
    assert status == 200, body
    result: dict[str, Any] = body
    return result


async def test_a_revocation_through_one_process_holds_on_the_other_at_once(
    servers: tuple[Server, Server], http: aiohttp.ClientSession, data_dir: Path
) -> None:
    a, b = servers
    jwt = await verified_login(http, a, data_dir, "oauth_revoke")
    app = await new_app(http, a, jwt)
    tokens = await tokens_via(http, a, jwt, app)
    access, refresh_token = tokens["access_token"], tokens["refresh_token"]
    assert await user_status(http, b, access) == 200  # B has seen the token work
    assert (await introspect_via(http, b, access))["active"] is True

    await revoke_via(http, a, app, access)

    assert await user_status(http, b, access) == 401
    assert await user_status(http, a, access) == 401
    for server in (a, b):
        assert await introspect_via(http, server, access) == {"active": False}
    assert (await introspect_via(http, b, refresh_token))["active"] is True  # only that token

    await revoke_via(http, a, app, refresh_token)

    for server in (a, b):
        assert await introspect_via(http, server, refresh_token) == {"active": False}
    status, body = await refresh_via(http, b, app, refresh_token)
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_refresh_reuse_through_one_process_after_rotation_on_the_other(
    servers: tuple[Server, Server], http: aiohttp.ClientSession, data_dir: Path
) -> None:
    a, b = servers
    jwt = await verified_login(http, b, data_dir, "oauth_reuse")
    app = await new_app(http, b, jwt)
    first = await tokens_via(http, a, jwt, app)
    status, second = await refresh_via(http, a, app, first["refresh_token"])
    assert status == 200, second
    status, third = await refresh_via(http, a, app, second["refresh_token"])
    assert status == 200, third

    # An identical retry of the last rotation, through B: the same pair, nothing revoked
    # (both processes derive successors with the one token key of the shared data dir).
    status, retried = await refresh_via(http, b, app, second["refresh_token"])
    assert status == 200, retried
    assert (retried["access_token"], retried["refresh_token"]) == (
        third["access_token"],
        third["refresh_token"],
    )
    assert await user_status(http, b, third["access_token"]) == 200

    # `first` was retired two rotations ago: presenting it through B is reuse.
    status, body = await refresh_via(http, b, app, first["refresh_token"])
    assert (status, body["error"]) == (400, "invalid_grant")

    for server in (a, b):
        assert await user_status(http, server, third["access_token"]) == 401
        assert await introspect_via(http, server, third["access_token"]) == {"active": False}
        assert await introspect_via(http, server, third["refresh_token"]) == {"active": False}
    status, body = await refresh_via(http, a, app, third["refresh_token"])
    assert (status, body["error"]) == (400, "invalid_grant")
