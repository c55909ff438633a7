"""Store outage: this machine's PostgreSQL stops for a few seconds under a spend load, then
starts again. In between, requests get 503 with the error JSON and Retry-After (never a 500,
never a hang past the request timeout) and /health names the store; afterwards the same server
process serves again by itself and nothing acknowledged is lost.

It stops the shared cluster, so CI runs it alone (`-m outage`); the cluster is started again
whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
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

pytestmark = [pytest.mark.outage, pytest.mark.postgres]

GRANT = 1_000_000
CLIENTS = 4
OUTAGE_SECONDS = 5.0
REQUEST_TIMEOUT = 10  # BUDDO_REQUEST_TIMEOUT for the server under test
SLOWEST_ANSWER_SECONDS = REQUEST_TIMEOUT + 20  # generous: a busy 2-core machine
RECOVERY_DEADLINE_SECONDS = 60.0
CLUSTER = ["pg_ctlcluster", "--skip-systemctl-redirect"]


def cluster(action: str) -> None:
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    subprocess.run([*CLUSTER, version, "main", action], check=True, timeout=120)


def wait_for_postgres() -> None:
    for _ in range(120):
        if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"], check=False).returncode == 0:
            return
        time.sleep(0.5)


@contextlib.contextmanager
def postgres_stopped() -> Iterator[None]:
    """The cluster down for the block; up again afterwards, whatever happened."""
    try:
        cluster("stop")
        yield
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            cluster("start")
        wait_for_postgres()


async def health(http: aiohttp.ClientSession) -> tuple[int, dict[str, object]]:
    async with http.get("/health") as response:
        return response.status, await response.json()


async def test_postgres_outage_is_503_then_service_resumes_without_restart(
    postgres_url: str, tmp_path: Path
) -> None:
    environ = server_environ(
        tmp_path / "data",
        postgres_url,
        BUDDO_STORE_TIMEOUT="2",
        BUDDO_REQUEST_TIMEOUT=str(REQUEST_TIMEOUT),
    )
    admin = create_admin(environ)
    server = ServerProcess(environ, tmp_path)
    server.start()
    timeout = aiohttp.ClientTimeout(total=SLOWEST_ANSWER_SECONDS + 30)
    try:
        await server.wait_ready()
        async with aiohttp.ClientSession(base_url=server.url, timeout=timeout) as http:
            world = await make_world(http, tmp_path / "data", admin, GRANT)
            load = Load(world)
            clients = [asyncio.create_task(load.client(n)) for n in range(CLIENTS)]
            await load.until_answered(20)
            sick: list[tuple[int, dict[str, object]]] = []
            with postgres_stopped():
                until = time.monotonic() + OUTAGE_SECONDS
                while time.monotonic() < until:
                    sick.append(await health(http))
                    await asyncio.sleep(0.5)
            await load.until_answered(len(load.answered) + 20, RECOVERY_DEADLINE_SECONDS)
            load.running = False
            await asyncio.gather(*clients)

            assert any(status == 503 for status, _ in sick), sick
            for status, body in sick:
                if status == 503:
                    assert (body["error"], body["store"]) == ("service_unavailable", "postgres")
            assert (await health(http))[0] == 200
            assert set(load.statuses) <= {201, 503}, load.statuses
            assert 503 in load.statuses
            for body, retry_after in load.refusals:
                assert body["error"] == "service_unavailable", body
                assert set(body) == {"error", "message", "retry_after"}, body
                assert retry_after is not None
                assert retry_after.isdigit()
            assert load.slowest < SLOWEST_ANSWER_SECONDS
            await settle(world, load.answered, load.unanswered)
            spent = len(load.answered) + len(load.unanswered)
            assert await world.balances() == (GRANT - spent, spent)
    finally:
        server.stop()
