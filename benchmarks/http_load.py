"""Load over real HTTP: a `buddo serve` subprocess on loopback, and aiohttp clients driving it.

Every loop is bounded twice, by a duration and by a count, so a slow machine only measures
fewer operations and a fast one never runs away.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from benchmarks.context import REPO_ROOT
from benchmarks.timing import Measurement

Request = Callable[[], Awaitable[None]]

START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0
HEALTH_POLL_SECONDS = 0.1
LOG_TAIL_CHARS = 2_000


@dataclass(frozen=True)
class Server:
    """A running service: where to reach it and where its log goes."""

    url: str
    log_path: Path


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def buddo_server(environ: Mapping[str, str], log_path: Path) -> Iterator[Server]:
    """`python -m http_api.cli serve` with `environ` as its only BUDDO_* settings; stopped
    with SIGINT (a graceful shutdown) and killed if it does not stop."""
    port = free_port()
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("BUDDO_")}
    env = inherited | dict(environ) | {"BUDDO_HOST": "127.0.0.1", "BUDDO_PORT": str(port)}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "http_api.cli", "serve"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield Server(f"http://127.0.0.1:{port}", log_path)
        finally:
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def log_tail(server: Server) -> str:
    """The end of the server's log, for an error message."""
    with contextlib.suppress(OSError):
        return server.log_path.read_text(errors="replace")[-LOG_TAIL_CHARS:]
    return ""


async def wait_until_healthy(session: aiohttp.ClientSession, server: Server) -> None:
    """Poll GET /health until it answers 200; fail with the server's log if it never does."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(f"{server.url}/health") as response:
                if response.status == 200:
                    return
        await asyncio.sleep(HEALTH_POLL_SECONDS)
    raise RuntimeError(f"the server did not become healthy:\n{log_tail(server)}")


async def expect(response: aiohttp.ClientResponse, status: int) -> None:
    """Read the whole answer; anything but `status` is an error (a benchmark of errors is void)."""
    body = await response.read()
    if response.status != status:
        raise RuntimeError(
            f"{response.method} {response.url.path}: {response.status} {body[:300]!r}"
        )


async def closed_loop(request: Request, clients: int, duration: float, max_ops: int) -> Measurement:
    """`clients` concurrent callers, each sending its next request when its last one is answered."""
    clock = time.perf_counter
    latencies: list[float] = []
    began = clock()
    deadline = began + duration

    async def client() -> None:
        while clock() < deadline and len(latencies) < max_ops:
            sent = clock()
            await request()
            latencies.append(clock() - sent)

    await asyncio.gather(*(client() for _ in range(clients)))
    return Measurement(clients, len(latencies), clock() - began, tuple(latencies))


async def paced(request: Request, interval: float, duration: float, max_ops: int) -> Measurement:
    """One caller sending a request every `interval` seconds (later if the last one is slow):
    the latency a light user sees, without adding load of its own."""
    clock = time.perf_counter
    latencies: list[float] = []
    began = clock()
    for tick in range(max_ops):
        wait = began + tick * interval - clock()
        if wait > 0:
            await asyncio.sleep(wait)
        if clock() - began >= duration:
            break
        sent = clock()
        await request()
        latencies.append(clock() - sent)
    return Measurement(1, len(latencies), clock() - began, tuple(latencies))
