"""Scenario `spend_http`: spends per second over real HTTP on PostgreSQL, against the raw
psycopg loop that commits one row per transaction (design section 8: ratio >= 1.0, p99 < 50 ms).

A `buddo serve` subprocess on loopback, its store on PostgreSQL (fsync as the server has it).
Setup goes through the real flow: an admin made with `buddo admin create` (the same
environment as the server), users registered over HTTP and verified by the admin, one app whose
`points:spend` scope the admin approves, each user authorizing it (PKCE, API mode) and
redeeming the code for an access token, and the treasury granting every user plenty of points.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import secrets
import subprocess
import sys
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

from benchmarks.baselines import postgres_raw_commits
from benchmarks.context import REPO_ROOT, BenchContext
from benchmarks.http_load import Request, expect, free_port, wait_until_healthy
from benchmarks.oauth_http import Running, serve
from benchmarks.scenario import Outcome, Scenario
from benchmarks.timing import Measurement

log = logging.getLogger(__name__)

CLIENTS = 64  # concurrent closed-loop clients
HOT_WALLETS = 4  # the hot variant: all clients spend from these few users
WARM_UP_SECONDS = 1.0
MAX_SPENDS = 2_000_000  # a bound by count beside the duration
GRANT = 1_000_000_000  # per user: never runs out
SPEND_AMOUNT = 1
LOG_LEVEL = "WARNING"
RATE_LIMITS = "login=1000000/60,register=1000000/3600,introspect=100000000/60"
PASSWORD = "correct horse battery staple"  # noqa: S105 - a benchmark user's password
REDIRECT_URI = "https://bench.example/callback"
SCOPE = "points:read points:spend"
SETUP_CONCURRENCY = 8
BASELINE = "raw_psycopg_commit"


def run(ctx: BenchContext) -> Outcome:
    data_dir = ctx.temp_dir / "spend_http"
    data_dir.mkdir(parents=True, exist_ok=True)
    environ = {
        "BUDDO_DATA_DIR": str(data_dir),
        "BUDDO_DATABASE_URL": ctx.postgres_url,
        "BUDDO_RATE_LIMITS": RATE_LIMITS,
        "BUDDO_LOG_LEVEL": LOG_LEVEL,
        "BUDDO_HOST": "127.0.0.1",
        "BUDDO_PORT": str(free_port()),
    }
    outcome = Outcome(
        parameters={
            "duration_s": ctx.duration,
            "warm_up_s": WARM_UP_SECONDS,
            "clients": CLIENTS,
            "hot_wallets": HOT_WALLETS,
            "spend_amount": SPEND_AMOUNT,
            "log_level": LOG_LEVEL,
            "server_settings": "defaults (store threads, group commit) but for rate limits",
        }
    )
    admin_email = f"admin.{secrets.token_hex(4)}@example.com"
    _admin_create(environ, admin_email)
    argv = [sys.executable, "-m", "http_api.cli", "serve"]
    with serve(argv, environ, ctx.temp_dir / "serve_spend.log") as buddo:
        asyncio.run(_measure(ctx, buddo, admin_email, outcome))
    return outcome


def _admin_create(environ: dict[str, str], email: str) -> None:
    """The first admin, made on the command line as the spec says, with the server's env."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("BUDDO_")}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "http_api.cli",
            "admin",
            "create",
            "--email",
            email,
            "--password",
            PASSWORD,
        ],
        cwd=REPO_ROOT,
        env=inherited | environ,
        check=True,
        capture_output=True,
    )


async def _measure(ctx: BenchContext, buddo: Running, admin_email: str, outcome: Outcome) -> None:
    connector = aiohttp.TCPConnector(limit=CLIENTS + 8)
    async with aiohttp.ClientSession(connector=connector) as session:
        await wait_until_healthy(session, buddo.server)
        api = Api(session, buddo.server.url)
        began = time.monotonic()
        tokens = await _setup(api, admin_email)
        outcome.details["setup"] = {"seconds": round(time.monotonic() - began, 1)}

        # The baseline on the same database, the server idle, in the same run.
        baseline = await asyncio.to_thread(postgres_raw_commits, ctx.postgres_url, ctx.duration)
        label = "raw psycopg: INSERT ... RETURNING + COMMIT per row, 1 connection"
        outcome.add_baseline(BASELINE, "postgres", label, baseline, p999_ms=_p999(baseline))
        outcome.details.setdefault("p99.9 latency ms", {})[label] = _p999(baseline)
        _log_row(label, baseline, None)

        distinct = [_spend(api, tokens[n]) for n in range(CLIENTS)]
        hot = [_spend(api, tokens[n % HOT_WALLETS]) for n in range(CLIENTS)]
        keyed = [_spend(api, tokens[n], keyed=True) for n in range(CLIENTS)]
        cases = [
            (f"POST spend, {CLIENTS} clients, one wallet each", distinct, False),
            (f"POST spend, {CLIENTS} clients on {HOT_WALLETS} hot wallets", hot, False),
            (f"POST spend + Idempotency-Key, {CLIENTS} clients, one wallet each", keyed, True),
        ]
        for label, requests, diagnostic in cases:
            await _closed_loop(requests, WARM_UP_SECONDS)
            cpu_before = buddo.cpu_seconds()
            measured = await _closed_loop(requests, ctx.duration)
            cpu_ms = (buddo.cpu_seconds() - cpu_before) * 1000 / max(1, measured.ops)
            outcome.add(
                "postgres",
                label,
                measured,
                BASELINE,
                p999_ms=_p999(measured),
                server_cpu_ms_per_request=round(cpu_ms, 3),
                diagnostic=diagnostic,
            )
            outcome.details.setdefault("p99.9 latency ms", {})[label] = _p999(measured)
            outcome.details.setdefault("server CPU ms/request", {})[label] = round(cpu_ms, 3)
            _log_row(label, measured, cpu_ms)


class Api:
    """JSON calls to the service, each expecting one status."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def call(self, method: str, path: str, status: int, **kwargs: Any) -> Any:
        async with self.session.request(method, self.url + path, **kwargs) as response:
            if response.status != status:
                raise RuntimeError(f"{method} {path}: {response.status} {await response.text()}")
            return await response.json()

    async def login(self, email: str) -> dict[str, str]:
        body = {"email": email, "password": PASSWORD}
        answer = await self.call("POST", "/api/auth/login", 200, json=body)
        return {"Authorization": f"Bearer {answer['token']}"}


async def _setup(api: Api, admin_email: str) -> list[str]:
    """`CLIENTS` users, each with an access token of the one app, each granted `GRANT`."""
    admin = await api.login(admin_email)
    tag = secrets.token_hex(4)
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)

    async def user(n: int) -> tuple[str, dict[str, str]]:
        async with gate:
            email = f"spender{n}.{tag}@example.com"
            body = {"email": email, "username": f"sp_{tag}_{n}", "password": PASSWORD}
            made = await api.call("POST", "/api/auth/register", 201, json=body)
            user_id = made["user"]["id"]
            await api.call("POST", f"/api/admin/users/{user_id}/verify-email", 200, headers=admin)
            return user_id, await api.login(email)

    users = await asyncio.gather(*(user(n) for n in range(CLIENTS)))
    owner = users[0][1]
    app = (
        await api.call(
            "POST",
            "/api/oauth/apps",
            201,
            headers=owner,
            json={
                "app_name": "Spend bench",
                "redirect_uris": [REDIRECT_URI],
                "requested_scopes": SCOPE.split(),
            },
        )
    )["app"]
    pending = await api.call("GET", "/api/admin/scope-requests?status=pending", 200, headers=admin)
    for request in pending["scope_requests"]:
        if request["app_id"] == app["id"]:
            path = f"/api/admin/scope-requests/{request['id']}/approve"
            await api.call("POST", path, 200, headers=admin, json={})

    async def token(user_id: str, jwt: dict[str, str]) -> str:
        async with gate:
            access = await _authorize(api, app, jwt)
            grant = {"user_id": user_id, "amount": GRANT, "reason": "bench"}
            await api.call("POST", "/api/admin/points/grant", 201, headers=admin, json=grant)
            return access

    return list(await asyncio.gather(*(token(user_id, jwt) for user_id, jwt in users)))


async def _authorize(api: Api, app: dict[str, Any], jwt: dict[str, str]) -> str:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    params = {
        "response_type": "code",
        "client_id": app["client_id"],
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPE,
        "state": "bench",
        "code_challenge": base64.urlsafe_b64encode(digest).decode().rstrip("="),
        "code_challenge_method": "S256",
    }
    headers = {**jwt, "Accept": "application/json"}
    consent = await api.call("GET", "/api/oauth/authorize", 200, params=params, headers=headers)
    code = parse_qs(urlsplit(consent["redirect_to"]).query)["code"][0]
    tokens = await api.call(
        "POST",
        "/api/oauth/token",
        200,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
        },
    )
    access: str = tokens["access_token"]
    return access


def _spend(api: Api, token: str, *, keyed: bool = False) -> Request:
    url = f"{api.url}/api/external/points/spend"
    body = {"amount": SPEND_AMOUNT, "description": "bench"}
    auth = {"Authorization": f"Bearer {token}"}
    prefix = secrets.token_hex(6)
    counter = iter(range(MAX_SPENDS))

    async def spend() -> None:
        headers = {**auth, "Idempotency-Key": f"{prefix}-{next(counter)}"} if keyed else auth
        async with api.session.post(url, json=body, headers=headers) as response:
            await expect(response, 201)

    return spend


async def _closed_loop(requests: list[Request], duration: float) -> Measurement:
    """One caller per request function, each sending its next request when the last one
    is answered (as `http_load.closed_loop`, but each client with its own request)."""
    clock = time.perf_counter
    latencies: list[float] = []
    began = clock()
    deadline = began + duration

    async def client(request: Request) -> None:
        while clock() < deadline and len(latencies) < MAX_SPENDS:
            sent = clock()
            await request()
            latencies.append(clock() - sent)

    await asyncio.gather(*(client(request) for request in requests))
    return Measurement(len(requests), len(latencies), clock() - began, tuple(latencies))


def _p999(measured: Measurement) -> float:
    return round(measured.percentile_ms(0.999), 3)


def _log_row(label: str, measured: Measurement, cpu_ms: float | None) -> None:
    cpu = "" if cpu_ms is None else f"  server CPU {cpu_ms:5.3f} ms/req"
    log.info(
        "  %-66s %8.1f ops/s  p50 %6.2f ms  p99 %7.2f ms  p99.9 %7.2f ms%s",
        label,
        measured.ops_per_second,
        measured.percentile_ms(0.50),
        measured.percentile_ms(0.99),
        measured.percentile_ms(0.999),
        cpu,
    )


SCENARIO = Scenario(
    name="spend_http",
    title="Spends over HTTP on PostgreSQL, against a raw psycopg commit loop",
    about=(
        "A `buddo serve` subprocess on loopback, its store on PostgreSQL, default store threads "
        "and group commit, rate limits raised out of the way. Setup goes through the real "
        "flow: an admin made with `buddo admin create` (the server's environment), "
        f"{CLIENTS} users registered over HTTP and verified by the admin, one app whose "
        "`points:spend` scope the admin approves, each user authorizing it and redeeming the "
        "code for an access token (PKCE), and the treasury granting each user "
        f"{GRANT:,} points. Then {CLIENTS} aiohttp clients in the benchmark process each send "
        f"their next `POST /api/external/points/spend` (amount {SPEND_AMOUNT}) when the last "
        "is answered: first each client with its own user (distinct wallets), then all "
        f"{CLIENTS} on {HOT_WALLETS} users (hot wallets, which serialize on their account "
        "locks), then distinct wallets with a fresh `Idempotency-Key` on every request "
        "(diagnostic). Every answer must be 201. The baseline, measured in the same run on the "
        "same database with the server idle, is one psycopg connection doing "
        "`INSERT ... RETURNING id` + `COMMIT` per row. Ratio = spends/s ÷ raw commits/s; "
        "design target ≥ 1.0 with p99 < 50 ms."
    ),
    notes=(
        "- Rounds ran on different machines of this kind (the previous one on an AMD EPYC, this "
        "one on an Intel Xeon, both 2 cores): compare rounds by the ratio column; the "
        "absolute rates quoted from earlier rounds are for orientation only.\n"
        "- `p999_ms` is the 99.9th percentile latency; `server_cpu_ms_per_request` is the "
        "server process's user + system CPU over the measurement divided by the spends "
        "answered (PostgreSQL's own processes are not in it).\n"
        "- The load generator (one Python process, 64 aiohttp clients) shares the machine's "
        "cores with the server and PostgreSQL, as a client on the same host would.\n"
        "- **Where we stand:** 0.46 of the raw commit loop (1,064 against 2,331 spends/s), p99 "
        "110 ms: short of the 1.0 target and of p99 < 50 ms, up from 0.32 and p99 183 ms in the "
        "previous round. The server process now uses 0.86 ms of CPU per spend (1.48 before), "
        "so one process tops out near 1,150 spends/s; PostgreSQL is not the limit (group "
        "commit writes 30-60 spends per transaction). This round: the bearer-token check of "
        "requests in flight together is one query per turn of the event loop "
        "(`projections/db.py`, `Lookup`), the request digest no longer deep-copies the "
        "command, and the read models write a whole group commit in one multi-row statement "
        "per table (`Projection.apply_batch`; `unnest` of arrays on PostgreSQL, whose text "
        "psycopg parses once): 4 statements per batch instead of 4 per spend.\n"
        "- Profile (py-spy, the server under this load): the group committer's thread uses "
        "about 0.4 of a core and the event loop's about 0.25. The committer's time is the "
        "library's save path (event objects, JSON transcoding, the pipelined insert and its "
        "waits on PostgreSQL), the hash chain and the read models; the loop's is HTTP, the "
        "shared token query, JSON and handing plans to the committer. The threads share one "
        "interpreter lock. `--workers 2` does not help here: every spend also moves the one "
        "app's account, so two processes' batches collide on it and are redone one by one "
        "(330 spends/s, p99 580 ms in a trial; docs/operations.md)."
    ),
    run=run,
)
