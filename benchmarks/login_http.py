"""Scenario `login_http`: logins per second over real HTTP, against the bare password-hash rate.

A login is mostly one Argon2id verification, run on the service's store thread pool. So the
limit is the KDF's own rate with as many threads as that pool has, measured in this process
on the same machine, just before. Beside it: the latency of a cheap request (`GET /health`)
alone and while the logins run, which shows whether hashing starves everything else.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections.abc import Iterator

import aiohttp
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from benchmarks.context import BenchContext
from benchmarks.http_load import (
    Request,
    Server,
    buddo_server,
    closed_loop,
    expect,
    paced,
    wait_until_healthy,
)
from benchmarks.scenario import Outcome, Scenario
from benchmarks.timing import Measurement, Operation, run_for, warm_up
from commands.credentials import KDF_ITERATIONS, KDF_MEMORY_KIB, hash_password

log = logging.getLogger(__name__)

BACKENDS = ("sqlite", "postgres")
STORE_THREADS = 8  # the service's default (BUDDO_STORE_THREADS): the threads that hash
LOGIN_CLIENTS = 16  # twice the hashing threads, so the pool never waits for a request
FEW_LOGIN_CLIENTS = 2  # diagnostic: one hash at a time per core of the test machine
USERS = 32
PASSWORD = "correct horse battery staple"  # noqa: S105 - a benchmark user's password
HEALTH_INTERVAL_SECONDS = 0.01  # the probe asks /health 100 times a second at most
WARM_UP_SECONDS = 1.0
MAX_LOGINS = 100_000  # bounds by count beside the duration
MAX_PROBES = 100_000
RATE_LIMITS = "login=1000000/60,register=1000000/3600"
KDF_BASELINE = "kdf_threads"


def run(ctx: BenchContext) -> Outcome:
    """The KDF alone first (the server not yet started), then each backend over HTTP."""
    outcome = Outcome(
        parameters={
            "duration_s": ctx.duration,
            "warm_up_s": WARM_UP_SECONDS,
            "store_threads": STORE_THREADS,
            "login_clients": LOGIN_CLIENTS,
            "users": USERS,
            "health_interval_ms": HEALTH_INTERVAL_SECONDS * 1000,
            "kdf": f"Argon2id, {KDF_MEMORY_KIB} KiB, {KDF_ITERATIONS} passes, 1 lane",
        }
    )
    _kdf_baseline(ctx, outcome)
    for backend in BACKENDS:
        _run_backend(ctx, backend, outcome)
    return outcome


def _kdf_baseline(ctx: BenchContext, outcome: Outcome) -> None:
    encoded = hash_password(PASSWORD)

    def make(_: int) -> Operation:
        # The raw KDF, not verify_password: the service bounds concurrent hashes
        # (credentials.KDF_SLOTS), and the baseline is what the machine can do unbounded.
        return lambda: Argon2id.verify_phc_encoded(PASSWORD.encode(), encoded)

    warm_up(WARM_UP_SECONDS, make, STORE_THREADS)
    threads = run_for(ctx.duration, make, STORE_THREADS)
    label = f"bare Argon2id verify, {STORE_THREADS} threads, in-process"
    outcome.add_baseline(KDF_BASELINE, "-", label, threads)
    _log_row("-", label, threads)
    single = run_for(ctx.duration, make, 1)
    outcome.add("-", "bare Argon2id verify, 1 thread", single, KDF_BASELINE, diagnostic=True)
    _log_row("-", "bare Argon2id verify, 1 thread", single)


def _run_backend(ctx: BenchContext, backend: str, outcome: Outcome) -> None:
    data_dir = ctx.temp_dir / f"login_{backend}"
    database = ctx.postgres_url if backend == "postgres" else f"sqlite:///{data_dir}/buddo.sqlite"
    environ = {
        "BUDDO_DATA_DIR": str(data_dir),
        "BUDDO_DATABASE_URL": database,
        "BUDDO_STORE_THREADS": str(STORE_THREADS),
        "BUDDO_RATE_LIMITS": RATE_LIMITS,
        "BUDDO_LOG_LEVEL": "WARNING",
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    with buddo_server(environ, ctx.temp_dir / f"serve_{backend}.log") as server:
        asyncio.run(_measure(ctx, server, backend, outcome))


async def _measure(ctx: BenchContext, server: Server, backend: str, outcome: Outcome) -> None:
    connector = aiohttp.TCPConnector(limit=LOGIN_CLIENTS + 4)
    async with aiohttp.ClientSession(connector=connector) as session:
        await wait_until_healthy(session, server)
        emails = await _register(session, server, USERS)
        login, health = _login(session, server, emails), _health(session, server)

        await closed_loop(login, LOGIN_CLIENTS, WARM_UP_SECONDS, MAX_LOGINS)
        alone = await paced(health, HEALTH_INTERVAL_SECONDS, ctx.duration, MAX_PROBES)
        key = f"health_alone_{backend}"
        outcome.add_baseline(key, backend, "GET /health alone, one paced client", alone)
        _log_row(backend, "GET /health alone", alone)

        for clients in (LOGIN_CLIENTS, FEW_LOGIN_CLIENTS):
            await _logins_beside_health(ctx, backend, outcome, (login, health, key), clients)


async def _logins_beside_health(
    ctx: BenchContext,
    backend: str,
    outcome: Outcome,
    requests: tuple[Request, Request, str],
    clients: int,
) -> None:
    login, health, alone_key = requests
    logins, during = await asyncio.gather(
        closed_loop(login, clients, ctx.duration, MAX_LOGINS),
        paced(health, HEALTH_INTERVAL_SECONDS, ctx.duration, MAX_PROBES),
    )
    diagnostic = clients != LOGIN_CLIENTS
    label = f"POST /api/auth/login, {clients} clients"
    outcome.add(backend, label, logins, KDF_BASELINE, diagnostic=diagnostic)
    _log_row(backend, label, logins)
    label = f"GET /health while {clients} clients log in"
    outcome.add(backend, label, during, alone_key, diagnostic=diagnostic)
    _log_row(backend, label, during)


async def _register(session: aiohttp.ClientSession, server: Server, count: int) -> list[str]:
    """`count` new users through the API; their email addresses."""
    tag = secrets.token_hex(4)
    emails = [f"bench{n}.{tag}@example.com" for n in range(count)]

    async def register(n: int, email: str) -> None:
        body = {"email": email, "username": f"bench_{tag}_{n}", "password": PASSWORD}
        async with session.post(f"{server.url}/api/auth/register", json=body) as response:
            await expect(response, 201)

    await asyncio.gather(*(register(n, email) for n, email in enumerate(emails)))
    return emails


def _login(session: aiohttp.ClientSession, server: Server, emails: list[str]) -> Request:
    turn: Iterator[str] = itertools.cycle(emails)

    async def login() -> None:
        body = {"email": next(turn), "password": PASSWORD}
        async with session.post(f"{server.url}/api/auth/login", json=body) as response:
            await expect(response, 200)

    return login


def _health(session: aiohttp.ClientSession, server: Server) -> Request:
    async def health() -> None:
        async with session.get(f"{server.url}/health") as response:
            await expect(response, 200)

    return health


def _log_row(backend: str, label: str, measured: Measurement) -> None:
    log.info(
        "  %-8s %-52s %8.1f ops/s  p50 %7.2f ms  p99 %7.2f ms",
        backend,
        label,
        measured.ops_per_second,
        measured.percentile_ms(0.50),
        measured.percentile_ms(0.99),
    )


SCENARIO = Scenario(
    name="login_http",
    title="Logins over HTTP against the bare password-hash rate",
    about=(
        "A `buddo serve` subprocess on loopback (its store on SQLite, then on PostgreSQL) with "
        f"{STORE_THREADS} store threads and rate limits raised out of the way; {USERS} users "
        "registered through `POST /api/auth/register`. The benchmark process drives it with "
        f"aiohttp: {LOGIN_CLIENTS} clients each send their next `POST /api/auth/login` when "
        "the last is answered (a login verifies an Argon2id hash on the store pool, records the "
        "sign-in as an event and signs a JWT). The baseline, measured first in this process on "
        f"the same machine with the server not yet started, is the raw Argon2id verify of the "
        f"service's parameters on {STORE_THREADS} threads: no service can log users in faster "
        "than the machine can check their passwords. Ratio = logins/s ÷ verifies/s. "
        "Beside it, one client "
        f"asks `GET /health` every {HEALTH_INTERVAL_SECONDS * 1000:g} ms, alone and while the "
        "logins run: compare its p50/p99 in the two rows (its ratio only says it kept pace)."
    ),
    notes=(
        "- Argon2id in `cryptography` releases the GIL, so the pool's threads hash on every "
        "core at once: the machine's cores, not the thread count, bound the rate (compare the "
        "1-thread row with the baseline).\n"
        "- A login also looks the user up, appends one event, signs a JWT and crosses HTTP on "
        "both sides: its ratio is the share of the bare KDF rate the service delivers.\n"
        "- Hashing is off the event loop but not off the CPU. An earlier run, with all "
        f"{STORE_THREADS} store threads hashing at once, starved the loop's thread on this "
        "2-core machine (`/health` p99 6 -> 166 ms). The service now hashes on at most all "
        "cores but one (`commands/credentials.KDF_SLOTS`), which costs some login throughput "
        "on a small machine and keeps `/health` near its idle latency under full login load; "
        f"the {FEW_LOGIN_CLIENTS}-client rows are *diagnostic*.\n"
        "- The load generator shares the machine with the server, as a client on the same host "
        "would; its CPU is part of what the server competes with."
    ),
    run=run,
)
