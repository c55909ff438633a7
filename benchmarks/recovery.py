"""Scenario `recovery`: from SIGKILL to the first successful spend, on an empty and a long log.

On each backend a `buddo serve` process gets real OAuth tokens, a spend load of 16 clients,
and SIGKILL in the middle of it; the clock runs from the kill to the first 201 of a spend
sent every 10 ms at the restarted process on the same storage. The baseline is the same
on a store with almost no events; the measured row is the same after RECOVERY_BENCH_EVENTS
journal entries were appended. Start-up does not replay the log (the read models are written
in the events' own transactions), so the two should be alike.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import aiohttp

from benchmarks.audit_replay import _entry
from benchmarks.context import BenchContext
from benchmarks.scenario import Outcome, Scenario
from benchmarks.timing import Measurement
from http_api.settings import load_settings
from http_api.wiring import open_store
from tests.integration.process_helpers import (
    ServerProcess,
    World,
    create_admin,
    make_world,
    server_environ,
    spend_once,
)

EVENTS = int(os.environ.get("RECOVERY_BENCH_EVENTS", "100000"))
BUILD_BATCH = 1_000
LOAD_CLIENTS = 16
POLL_SECONDS = 0.01
BASELINE = "empty_log"


def run(ctx: BenchContext) -> Outcome:
    outcome = Outcome(parameters={"events": EVENTS, "load_clients": LOAD_CLIENTS})
    for backend in ("sqlite", "postgres"):
        asyncio.run(_backend(ctx, backend, outcome))
    return outcome


async def _backend(ctx: BenchContext, backend: str, outcome: Outcome) -> None:
    data_dir = ctx.temp_dir / backend
    data_dir.mkdir(parents=True)
    database = ctx.postgres_url if backend == "postgres" else f"sqlite:///{data_dir}/b.sqlite"
    environ = server_environ(data_dir, database)
    admin = create_admin(environ)
    server = ServerProcess(environ, data_dir)
    server.start()
    try:
        await server.wait_ready()
        async with aiohttp.ClientSession(server.url) as http:
            world = await make_world(http, data_dir, admin, grant=1_000_000_000)
            empty = await _kill_and_recover(server, world)
            outcome.add_baseline(
                BASELINE, backend, "SIGKILL under load -> first spend, empty log", empty
            )
            server.kill()
            await asyncio.to_thread(_build, environ)
            server.start()
            await server.wait_ready()
            long = await _kill_and_recover(server, world)
            label = f"SIGKILL under load -> first spend, {EVENTS:,} more events"
            outcome.add(backend, label, long, BASELINE)
            print(f"  {backend}: recovery {empty.seconds:.2f} s empty, {long.seconds:.2f} s long")
    finally:
        server.stop()


async def _kill_and_recover(server: ServerProcess, world: World) -> Measurement:
    """Kill the server mid-load, start it again, and time the first successful spend."""
    load = [asyncio.create_task(_spend_forever(world, n)) for n in range(LOAD_CLIENTS)]
    await asyncio.sleep(1.0)
    server.kill()
    killed = time.monotonic()
    for task in load:
        task.cancel()
    await asyncio.gather(*load, return_exceptions=True)
    server.start()
    while True:
        try:
            status, _, _ = await spend_once(world.http, world.auth, f"after-{uuid.uuid4()}")
            if status == 201:
                break
        except (aiohttp.ClientError, TimeoutError):
            pass
        await asyncio.sleep(POLL_SECONDS)
    seconds = time.monotonic() - killed
    return Measurement(threads=1, ops=1, seconds=seconds, latencies=(seconds,))


async def _spend_forever(world: World, number: int) -> None:
    while True:
        try:
            await spend_once(world.http, world.auth, f"load-{number}-{uuid.uuid4()}")
        except (aiohttp.ClientError, TimeoutError):
            await asyncio.sleep(0.05)


def _build(environ: dict[str, str]) -> None:
    """Append EVENTS journal entries in batches, with the server down."""
    settings = load_settings({k: v for k, v in environ.items() if k.startswith("BUDDO_")})
    store = open_store(settings)
    try:
        users = [f"user:{uuid.uuid4()}" for _ in range(64)]
        apps = [uuid.uuid4() for _ in range(4)]
        balances = dict.fromkeys(users, 0) | {"treasury": 0}
        for start in range(0, EVENTS, BUILD_BATCH):
            store.save(
                *(_entry(i, users, apps, balances) for i in range(start, start + BUILD_BATCH))
            )
    finally:
        store.close()


SCENARIO = Scenario(
    name="recovery",
    title="From SIGKILL to the first successful spend",
    about=(
        f"A `buddo serve` process (SQLite, then PostgreSQL) serving {LOAD_CLIENTS} clients "
        "that spend with real OAuth tokens is killed with SIGKILL and started again on the "
        "same storage and port; the time runs from the kill to the first `201` of a spend "
        f"sent every {POLL_SECONDS * 1000:g} ms. Baseline: the same on a store with only the "
        f"set-up's events. Measured: the same after {EVENTS:,} more journal events "
        "(`RECOVERY_BENCH_EVENTS`). *Ops/s* is 1 ÷ the recovery time, so the ratio is "
        "baseline time ÷ measured time: near 1.0 means start-up does not grow with the log."
    ),
    notes=(
        "- Start-up opens the store and checks the schema; it replays nothing, because every "
        "read model is written in its events' own transaction and is current after a crash "
        "(their tracking positions say so).\n"
        "- Most of the time is the interpreter and the app starting; the audit chain "
        "backfill runs only for stores that predate it.\n"
        "- The store-outage figures (error rate and latency while PostgreSQL is down) are "
        "not measured here: stopping the machine's server would disturb everything else "
        "running; `tests/integration/test_store_outage.py` checks the behaviour instead."
    ),
    run=run,
)
