"""Two real `buddo serve` processes on one PostgreSQL database: a revocation on one holds on the
other at once (design §5: security-critical reads are never stale)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import GENEROUS_LIMITS

BUDDO = str(Path(sys.executable).with_name("buddo"))
READY_DEADLINE_SECONDS = 120.0  # a bound on start-up, not an expectation of speed
STOP_TIMEOUT_SECONDS = 30.0
PASSWORD = "correct horse battery"

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """One `buddo serve` process and its base URL."""

    process: subprocess.Popen[bytes]
    url: str


def start_server(environ: dict[str, str], log: Path) -> Server:
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [BUDDO, "serve", "--port", str(port)], env=environ, stdout=out, stderr=out
        )
    return Server(process, f"http://127.0.0.1:{port}")


def stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture
def servers(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    """Processes A and B, started together, sharing the database and the data directory."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BUDDO_")} | {
        "BUDDO_DATABASE_URL": postgres_url,
        "BUDDO_DATA_DIR": str(tmp_path / "data"),
        "BUDDO_RATE_LIMITS": GENEROUS_LIMITS,
        "BUDDO_LOG_LEVEL": "WARNING",
    }
    started: list[Server] = []
    try:
        for name in ("a", "b"):  # each kept as soon as it runs, for the teardown
            started.append(start_server(environ, tmp_path / f"server-{name}.log"))  # noqa: PERF401
        yield started[0], started[1]
    finally:
        for server in started:
            stop(server)


def check_running(server: Server, log: Path) -> None:
    """Fail with the server's log if its process has ended."""
    assert server.process.poll() is None, log.read_text()


async def wait_ready(http: aiohttp.ClientSession, server: Server, log: Path) -> None:
    """Poll /health until the process answers 200 (or fail if it died or never does)."""
    deadline = asyncio.get_running_loop().time() + READY_DEADLINE_SECONDS
    while True:
        check_running(server, log)
        try:
            async with http.get(f"{server.url}/health") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        assert asyncio.get_running_loop().time() < deadline, "server not ready in time"
        await asyncio.sleep(0.1)


@pytest.fixture
async def http(
    servers: tuple[Server, Server], tmp_path: Path
) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        for server, name in zip(servers, "ab", strict=True):
            await wait_ready(session, server, tmp_path / f"server-{name}.log")
        yield session


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    token: str | None = None,
    **body: Any,
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.request(method, url, json=body or None, headers=headers) as response:
        return response.status, await response.json()


async def login(http: aiohttp.ClientSession, server: Server, email: str, password: str) -> str:
    status, body = await call(
        http, "POST", f"{server.url}/api/auth/login", email=email, password=password
    )
    assert status == 200, body
    token: str = body["token"]
    return token


async def register(http: aiohttp.ClientSession, server: Server, tag: str) -> str:
    email = f"{tag}@example.com"
    status, body = await call(
        http,
        "POST",
        f"{server.url}/api/auth/register",
        email=email,
        password=PASSWORD,
        username=tag,
    )
    assert status == 201, body
    return email


async def me(http: aiohttp.ClientSession, server: Server, token: str) -> int:
    status, _ = await call(http, "GET", f"{server.url}/api/auth/me", token)
    return status


async def test_logout_on_one_process_holds_on_the_other_at_once(
    servers: tuple[Server, Server],
    http: aiohttp.ClientSession,
) -> None:
    a, b = servers
    email = await register(http, a, "logout_user")
    token = await login(http, a, email, PASSWORD)
    assert await me(http, b, token) == 200

    status, _ = await call(http, "POST", f"{a.url}/api/auth/logout", token)
    assert status == 200
    assert await me(http, b, token) == 401
    assert await me(http, a, token) == 401


async def test_a_password_change_on_one_process_holds_on_the_other_at_once(
    servers: tuple[Server, Server],
    http: aiohttp.ClientSession,
) -> None:
    a, b = servers
    email = await register(http, b, "change_user")
    kept = await login(http, a, email, PASSWORD)
    other = await login(http, b, email, PASSWORD)  # B now holds the user in its cache
    assert await me(http, b, other) == 200

    status, body = await call(
        http,
        "POST",
        f"{a.url}/api/auth/change-password",
        kept,
        current_password=PASSWORD,
        new_password="a new password",
    )
    assert status == 200, body
    assert await me(http, b, other) == 401
    assert await me(http, b, kept) == 200
    old, _ = await call(http, "POST", f"{b.url}/api/auth/login", email=email, password=PASSWORD)
    assert old == 401
    assert await login(http, b, email, "a new password")


@pytest.fixture
def admin_email(postgres_url: str, tmp_path: Path) -> str:
    """An admin, made on the command line as the first admin is (spec 5.2)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BUDDO_")} | {
        "BUDDO_DATABASE_URL": postgres_url,
        "BUDDO_DATA_DIR": str(tmp_path / "data"),
    }
    email = "boss@example.com"
    made = subprocess.run(
        [BUDDO, "admin", "create", "--email", email, "--password", PASSWORD],
        env=environ,
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    return email


async def test_a_suspension_on_one_process_holds_on_the_other_at_once(
    servers: tuple[Server, Server],
    http: aiohttp.ClientSession,
    admin_email: str,
) -> None:
    a, b = servers
    admin = await login(http, a, admin_email, PASSWORD)
    email = await register(http, a, "suspended_user")
    token = await login(http, b, email, PASSWORD)
    status, body = await call(http, "GET", f"{b.url}/api/auth/me", token)
    assert status == 200

    suspended, _ = await call(
        http, "POST", f"{a.url}/api/admin/users/{body['user']['id']}/suspend", admin
    )
    assert suspended == 200
    assert await me(http, b, token) == 401
    refused, _ = await call(http, "POST", f"{b.url}/api/auth/login", email=email, password=PASSWORD)
    assert refused == 403
