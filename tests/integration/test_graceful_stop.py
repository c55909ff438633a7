"""Graceful stop: SIGTERM under a spend load stops accepting, lets in-flight requests finish,
closes the committer and the pools, and exits 0; every request either completed (201) or was
refused at the connection, nothing is half-written, and a restart needs no repair."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.integration.process_helpers import (
    Load,
    ServerProcess,
    create_admin,
    make_world,
    server_environ,
    settle,
)

pytestmark = pytest.mark.slow

GRANT = 1_000_000
CLIENTS = 8
ANSWERED_BEFORE_STOP = 40


@pytest.fixture
def server(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    url = str(request.getfixturevalue("postgres_url")) if backend == "postgres" else ""
    running = ServerProcess(server_environ(tmp_path / "data", url), tmp_path)
    try:
        yield running
    finally:
        running.stop()


async def test_sigterm_under_load_drains_and_exits_zero(
    server: ServerProcess, tmp_path: Path
) -> None:
    admin = create_admin(server.environ)
    server.start()
    await server.wait_ready()
    async with aiohttp.ClientSession(base_url=server.url) as http:
        world = await make_world(http, tmp_path / "data", admin, GRANT)
        load = Load(world, prefix="term")
        clients = [asyncio.create_task(load.client(n)) for n in range(CLIENTS)]
        await load.until_answered(ANSWERED_BEFORE_STOP)
        server.signal(signal.SIGTERM)
        code = await asyncio.to_thread(server.wait)
        load.running = False
        await asyncio.gather(*clients)

    log = server.log_text()
    assert code == 0, log
    assert set(load.statuses) == {201}, load.refusals  # in flight: completed, not cut off
    assert "Traceback" not in log, log

    server.start()
    await server.wait_ready()
    async with aiohttp.ClientSession(base_url=server.url) as http:
        world.http = http
        await settle(world, load.answered, load.unanswered)
        spent = len(load.answered) + len(load.unanswered)
        assert await world.balances() == (GRANT - spent, spent)
