"""`buddo serve --workers N`: several processes on one port, every rule still true across them."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import secrets
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from tests.conftest import GENEROUS_LIMITS
from tests.integration.test_auth_processes import (
    BUDDO,
    PASSWORD,
    Server,
    call,
    free_port,
    login,
    register,
    stop,
    wait_ready,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
WORKERS = 2
SPENDS = 60
COVERED = 37
REDIRECT = "https://app.example/callback"


def environment(postgres_url: str, data_dir: Path) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("BUDDO_")} | {
        "BUDDO_DATABASE_URL": postgres_url,
        "BUDDO_DATA_DIR": str(data_dir),
        "BUDDO_RATE_LIMITS": GENEROUS_LIMITS,
        "BUDDO_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def workers(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Server, str]]:
    """`buddo serve --workers 2` on one port, and an admin made on the command line."""
    environ = environment(postgres_url, tmp_path / "data")
    admin = "boss@example.com"
    made = subprocess.run(
        [BUDDO, "admin", "create", "--email", admin, "--password", PASSWORD],
        env=environ,
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    port = free_port()
    with (tmp_path / "workers.log").open("wb") as out:
        process = subprocess.Popen(
            [BUDDO, "serve", "--port", str(port), "--workers", str(WORKERS)],
            env=environ,
            stdout=out,
            stderr=out,
        )
    server = Server(process, f"http://127.0.0.1:{port}")
    try:
        yield server, admin
    finally:
        stop(server)


@pytest.fixture
async def http(workers: tuple[Server, str], tmp_path: Path) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        await wait_ready(session, workers[0], tmp_path / "workers.log")
        yield session


async def spend_token(http: aiohttp.ClientSession, url: str, admin: str, user: str) -> str:
    """A real access token with points:spend, through the app, the approval and the flow."""
    status, body = await call(
        http,
        "POST",
        f"{url}/api/oauth/apps",
        admin,
        app_name="Shop",
        redirect_uris=[REDIRECT],
        requested_scopes=["points:spend"],
    )
    assert status == 201, body
    app = body["app"]
    status, pending = await call(http, "GET", f"{url}/api/admin/scope-requests", admin)
    for request in pending["scope_requests"]:
        approve = f"{url}/api/admin/scope-requests/{request['id']}/approve"
        status, body = await call(http, "POST", approve, admin, note="ok")
        assert status == 200, body
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    query = {
        "response_type": "code",
        "client_id": app["client_id"],
        "redirect_uri": REDIRECT,
        "scope": "points:spend",
        "code_challenge": challenge.decode().rstrip("="),
        "code_challenge_method": "S256",
    }
    headers = {"Authorization": f"Bearer {user}", "Accept": "application/json"}
    async with http.get(f"{url}/api/oauth/authorize", params=query, headers=headers) as answer:
        target = (await answer.json())["redirect_to"]
        code = parse_qs(urlsplit(target).query).get("code", [target])[0]
    status, tokens = await call(
        http,
        "POST",
        f"{url}/api/oauth/token",
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        code_verifier=verifier,
        client_id=app["client_id"],
        client_secret=app["client_secret"],
    )
    assert status == 200, tokens
    return str(tokens["access_token"])


async def test_concurrent_spends_across_workers_never_overdraw(
    workers: tuple[Server, str], http: aiohttp.ClientSession, postgres_url: str, tmp_path: Path
) -> None:
    database, data_dir = postgres_url, tmp_path / "data"
    server, admin_email = workers
    admin = await login(http, server, admin_email, PASSWORD)
    user = await login(http, server, await register(http, server, "spender"), PASSWORD)
    status, me = await call(http, "GET", f"{server.url}/api/auth/me", user)
    assert status == 200
    token = await spend_token(http, server.url, admin, user)
    status, _ = await call(
        http,
        "POST",
        f"{server.url}/api/admin/points/grant",
        admin,
        user_id=me["user"]["id"],
        amount=COVERED,
        reason="start",
    )
    assert status == 201

    answers = await asyncio.gather(
        *(
            call(http, "POST", f"{server.url}/api/external/points/spend", token, amount=1)
            for _ in range(SPENDS)
        )
    )

    statuses = sorted(status for status, _ in answers)
    assert statuses == [201] * COVERED + [422] * (SPENDS - COVERED)
    after = sorted(
        body["transaction"]["balance_after"] for status, body in answers if status == 201
    )
    assert after == list(range(COVERED))  # each balance once: no lost or doubled update
    status, me = await call(http, "GET", f"{server.url}/api/auth/me", user)
    assert me["user"]["points"] == 0
    rebuilt = await asyncio.to_thread(
        subprocess.run,
        [BUDDO, "projections", "rebuild"],
        env=environment(database, data_dir),
        capture_output=True,
        check=False,
        timeout=300,
    )
    assert rebuilt.returncode == 0, rebuilt.stdout  # every read model equals a replay


def test_workers_need_postgresql(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BUDDO_")} | {
        "BUDDO_DATA_DIR": str(tmp_path / "data"),
    }
    refused = subprocess.run(
        [BUDDO, "serve", "--port", str(free_port()), "--workers", "2"],
        env=environ,
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert refused.returncode == 2
    assert b"needs PostgreSQL" in refused.stderr
