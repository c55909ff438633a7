"""Scenario `oauth_http`: token introspection and an OAuth-authenticated read over real HTTP,
against an aiohttp handler that answers a constant, served the same way in the same run.

Issue 4's design target: an authenticated read at no less than half the rate of the constant
handler. Both servers are single processes started the same way (`http_api.transport.serve_app`,
the same logging set-up and level, no aiohttp access log); the load comes from this process.
Beside throughput and latency, each row's server CPU per request is recorded (the server
process's user + system time over the measurement, from /proc), which does not depend on
whether the load generator kept up.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email
import hashlib
import itertools
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

from benchmarks.constant_server import PATH as CONSTANT_PATH
from benchmarks.context import REPO_ROOT, BenchContext
from benchmarks.http_load import Request, closed_loop, expect, free_port, wait_until_healthy
from benchmarks.http_load import Server as HttpServer
from benchmarks.scenario import Outcome, Scenario
from benchmarks.timing import Measurement

log = logging.getLogger(__name__)

BACKENDS = ("sqlite", "postgres")
CLIENTS = 16  # concurrent closed-loop clients; enough to keep one server process busy
WARM_UP_SECONDS = 1.0
MAX_REQUESTS = 1_000_000  # a bound by count beside the duration
STOP_TIMEOUT_SECONDS = 30.0
MAIL_DEADLINE_SECONDS = 30.0
LOG_LEVEL = "WARNING"  # both servers: aiohttp's access log (INFO) is therefore off in both
RATE_LIMITS = "introspect=100000000/60,login=1000000/60,register=1000000/3600"
PASSWORD = "correct horse battery staple"  # noqa: S105 - a benchmark user's password
REDIRECT_URI = "https://bench.example/callback"
SCOPE = "profile:read points:read"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ROUNDS = 5  # each pair alternates in this many slices of duration / ROUNDS


@dataclass(frozen=True)
class Running:
    """A server process and where to reach it."""

    process: subprocess.Popen[bytes]
    server: HttpServer

    def cpu_seconds(self) -> float:
        """User + system CPU time of the whole process (every thread) so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


Case = tuple[str, Running, Request]  # label, the server it loads, the request


@contextlib.contextmanager
def serve(argv: list[str], environ: Mapping[str, str], log_path: Path) -> Iterator[Running]:
    """Start `argv` (which listens on `environ`'s BUDDO_PORT or its own --port), stop it after."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("BUDDO_")}
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            argv, cwd=REPO_ROOT, env=inherited | dict(environ), stdout=out, stderr=out
        )
    port = environ.get("BUDDO_PORT") or argv[argv.index("--port") + 1]
    try:
        yield Running(process, HttpServer(f"http://127.0.0.1:{port}", log_path))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def run(ctx: BenchContext) -> Outcome:
    outcome = Outcome(
        parameters={
            "duration_s": ctx.duration,
            "warm_up_s": WARM_UP_SECONDS,
            "clients": CLIENTS,
            "rounds": ROUNDS,
            "log_level": LOG_LEVEL,
            "access_log": "none in either server (serve_app passes access_log=None)",
            "rate_limits": RATE_LIMITS,
        }
    )
    outcome.details["machine load (1-min load average)"] = {"at start": os.getloadavg()[0]}
    port = free_port()
    constant_argv = [
        sys.executable,
        "-m",
        "benchmarks.constant_server",
        "--port",
        str(port),
        "--log-level",
        LOG_LEVEL,
    ]
    with serve(constant_argv, {}, ctx.temp_dir / "constant.log") as constant:
        for backend in BACKENDS:
            _run_backend(ctx, backend, constant, outcome)
    outcome.details["machine load (1-min load average)"]["at end"] = os.getloadavg()[0]
    return outcome


def _run_backend(ctx: BenchContext, backend: str, constant: Running, outcome: Outcome) -> None:
    data_dir = ctx.temp_dir / f"oauth_{backend}"
    data_dir.mkdir(parents=True, exist_ok=True)
    database = ctx.postgres_url if backend == "postgres" else f"sqlite:///{data_dir}/buddo.sqlite"
    environ = {
        "BUDDO_DATA_DIR": str(data_dir),
        "BUDDO_DATABASE_URL": database,
        "BUDDO_RATE_LIMITS": RATE_LIMITS,
        "BUDDO_LOG_LEVEL": LOG_LEVEL,
        "BUDDO_HOST": "127.0.0.1",
        "BUDDO_PORT": str(free_port()),
    }
    argv = [sys.executable, "-m", "http_api.cli", "serve"]
    with serve(argv, environ, ctx.temp_dir / f"serve_{backend}.log") as buddo:
        asyncio.run(_measure(ctx, backend, (constant, buddo), data_dir, outcome))


async def _measure(
    ctx: BenchContext,
    backend: str,
    servers: tuple[Running, Running],
    data_dir: Path,
    outcome: Outcome,
) -> None:
    constant, buddo = servers
    connector = aiohttp.TCPConnector(limit=CLIENTS + 4)
    async with aiohttp.ClientSession(connector=connector) as session:
        await wait_until_healthy(session, buddo.server)
        # One user, app and token per client: requests in flight together carry different
        # tokens, as they would from real clients (the server looks them up together).
        tokens = [await _access_token(session, buddo.server.url, data_dir) for _ in range(CLIENTS)]
        bodies = [{"token": token} for token in tokens]
        bearers = [{"Authorization": f"Bearer {token}"} for token in tokens]
        constant_url = f"{constant.server.url}{CONSTANT_PATH}"
        get_user = _get(session, f"{buddo.server.url}/api/external/user", bearers)
        verify_url = f"{buddo.server.url}/api/oauth/token/verify"
        pairs: list[tuple[str, Case, Case]] = [
            (
                "get",
                ("GET /constant (aiohttp, constant JSON)", constant, _get(session, constant_url)),
                ("GET /api/external/user, bearer access token", buddo, get_user),
            ),
            (
                "post",
                (
                    "POST /constant (aiohttp, reads the same body)",
                    constant,
                    _post(session, constant_url, bodies),
                ),
                (
                    "POST /api/oauth/token/verify (introspection, active token)",
                    buddo,
                    _post(session, verify_url, bodies, active=True),
                ),
            ),
        ]
        for name, baseline, measured in pairs:
            results = await _interleaved(ctx.duration, (baseline, measured))
            key = f"constant_{name}_{backend}"
            for (label, _, _), (measurement, cpu_ms) in zip(
                (baseline, measured), results, strict=True
            ):
                extra = {"server_cpu_ms_per_request": round(cpu_ms, 3)}
                if label == baseline[0]:
                    outcome.add_baseline(key, backend, label, measurement, **extra)
                else:
                    outcome.add(backend, label, measurement, key, **extra)
                cpu_table = outcome.details.setdefault(f"server CPU ms/request ({backend})", {})
                cpu_table[label] = round(cpu_ms, 3)
                _log_row(backend, label, measurement, cpu_ms)


async def _interleaved(
    duration: float, cases: tuple[Case, Case]
) -> list[tuple[Measurement, float]]:
    """Each case for `duration` seconds in all, in ROUNDS alternating slices (so a change in
    the machine's load falls on both alike): its merged measurement and server CPU ms/request."""
    for _, _, request in cases:
        await closed_loop(request, CLIENTS, WARM_UP_SECONDS, MAX_REQUESTS)
    slices: list[list[Measurement]] = [[] for _ in cases]
    cpu = [0.0 for _ in cases]
    for _ in range(ROUNDS):
        for index, (_, running, request) in enumerate(cases):
            before = running.cpu_seconds()
            slices[index].append(
                await closed_loop(request, CLIENTS, duration / ROUNDS, MAX_REQUESTS)
            )
            cpu[index] += running.cpu_seconds() - before
    results = []
    for parts, seconds in zip(slices, cpu, strict=True):
        merged = Measurement(
            CLIENTS,
            sum(part.ops for part in parts),
            sum(part.seconds for part in parts),
            tuple(latency for part in parts for latency in part.latencies),
        )
        results.append((merged, seconds * 1000 / max(1, merged.ops)))
    return results


def _get(
    session: aiohttp.ClientSession, url: str, headers: list[dict[str, str]] | None = None
) -> Request:
    """GET `url`, each call with the next of `headers` in turn."""
    turns = itertools.cycle(headers or [{}])

    async def get() -> None:
        async with session.get(url, headers=next(turns)) as response:
            await expect(response, 200)

    return get


def _post(
    session: aiohttp.ClientSession, url: str, bodies: list[dict[str, str]], *, active: bool = False
) -> Request:
    """POST to `url`, each call with the next of `bodies` in turn."""
    turns = itertools.cycle(bodies)

    async def post() -> None:
        async with session.post(url, json=next(turns)) as response:
            if active:
                answer = await response.json()
                if response.status != 200 or answer.get("active") is not True:
                    raise RuntimeError(f"introspection: {response.status} {answer}")
            else:
                await expect(response, 200)

    return post


async def _access_token(session: aiohttp.ClientSession, url: str, data_dir: Path) -> str:
    """A user with a verified email, an app of theirs, and an access token it was granted."""
    tag = secrets.token_hex(4)
    address = f"oauth.{tag}@example.com"
    await _call(
        session,
        "POST",
        f"{url}/api/auth/register",
        201,
        json={
            "email": address,
            "username": f"oauth_{tag}",
            "password": PASSWORD,
        },
    )
    code = await _mailed_code(data_dir, address)
    await _call(session, "POST", f"{url}/api/auth/verify-email", 200, json={"token": code})
    login = await _call(
        session, "POST", f"{url}/api/auth/login", 200, json={"email": address, "password": PASSWORD}
    )
    jwt = {"Authorization": f"Bearer {login['token']}"}
    app = (
        await _call(
            session,
            "POST",
            f"{url}/api/oauth/apps",
            201,
            headers=jwt,
            json={
                "app_name": "Bench app",
                "redirect_uris": [REDIRECT_URI],
                "requested_scopes": SCOPE.split(),
            },
        )
    )["app"]
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    params = {
        "response_type": "code",
        "client_id": app["client_id"],
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPE,
        "state": tag,
        "code_challenge": base64.urlsafe_b64encode(digest).decode().rstrip("="),
        "code_challenge_method": "S256",
    }
    headers = {**jwt, "Accept": "application/json"}
    consent = await _call(
        session, "GET", f"{url}/api/oauth/authorize", 200, params=params, headers=headers
    )
    grant_code = parse_qs(urlsplit(consent["redirect_to"]).query)["code"][0]
    tokens = await _call(
        session,
        "POST",
        f"{url}/api/oauth/token",
        200,
        data={
            "grant_type": "authorization_code",
            "code": grant_code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
        },
    )
    token: str = tokens["access_token"]
    return token


async def _call(
    session: aiohttp.ClientSession, method: str, url: str, status: int, **kwargs: Any
) -> Any:
    async with session.request(method, url, **kwargs) as response:
        if response.status != status:
            raise RuntimeError(f"{method} {url}: {response.status} {await response.text()}")
        return await response.json()


async def _mailed_code(data_dir: Path, address: str) -> str:
    """The verification code mailed to `address` (the outbox in the data dir)."""
    deadline = time.monotonic() + MAIL_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        for path in sorted((data_dir / "outbox").glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes())
            payload = message.get_payload(decode=True)
            if message["To"] != address or not isinstance(payload, bytes):
                continue
            for line in payload.decode().splitlines():
                if line.startswith("    ") and "." in line:
                    return line.strip()
        await asyncio.sleep(0.05)
    raise RuntimeError(f"no verification mail to {address}")


def _log_row(backend: str, label: str, measured: Measurement, cpu_ms: float) -> None:
    log.info(
        "  %-8s %-60s %8.1f req/s  p50 %6.2f ms  p99 %6.2f ms  server CPU %5.3f ms/req",
        backend,
        label,
        measured.ops_per_second,
        measured.percentile_ms(0.50),
        measured.percentile_ms(0.99),
        cpu_ms,
    )


SCENARIO = Scenario(
    name="oauth_http",
    title="OAuth introspection and an authenticated read over HTTP, against a constant handler",
    about=(
        "A `buddo serve` subprocess on loopback (its store on SQLite, then on PostgreSQL), its "
        "rate limits raised out of the way, and beside it, for the whole run, a second "
        "subprocess serving a plain aiohttp handler that answers a constant JSON object "
        "(`benchmarks/constant_server.py`), started the same way "
        f"(`http_api.transport.serve_app`, the same logging set-up at {LOG_LEVEL}, no aiohttp "
        "access log in either). Setup goes "
        f"through the API, {CLIENTS} times: a user registers and verifies their email, "
        "registers an app, authorizes it (API mode) and redeems the code for an access token. "
        f"Then {CLIENTS} aiohttp clients in the benchmark process each send their next request "
        "when the last is answered, each request with the next of the tokens in turn (so the "
        "requests in flight together carry different tokens, as from real clients): "
        "`GET /api/external/user` with the bearer access token "
        "(an authenticated read: the token's digest looked up in the credentials read model, "
        "then the user) against `GET /constant`, and `POST /api/oauth/token/verify` with the "
        "token (introspection) against `POST /constant` with the same body. Each pair is "
        f"measured in {ROUNDS} alternating slices (constant, service, constant, ...) adding up "
        "to the duration each, so a change in the machine's load falls on both alike; "
        "ratio = service ÷ constant. Design "
        "target: the authenticated read at ≥ 0.5."
    ),
    notes=(
        "- Rounds ran on different machines of this kind (the previous one on an AMD EPYC, this "
        "one on an Intel Xeon, both 2 cores): compare rounds by the ratio column; the "
        "absolute rates quoted from earlier rounds are for orientation only.\n"
        "- Server CPU per request (below the table, per backend) is the server process's user "
        "+ system time over the measurement divided by the requests answered: it shows the "
        "work per request whether or not the load generator, which shares the 2 cores, kept "
        "up. PostgreSQL's own backend processes are not in it.\n"
        "- The constant handler's rate is bounded partly by the load generator (one Python "
        "process); a faster client would raise the baseline more than the OAuth rows, so the "
        "ratios here are if anything flattering.\n"
        "- These figures were taken while other work shared the machine (the 1-min load "
        "average is recorded below the table); the alternating slices keep each ratio fair, "
        "but absolute rates move from run to run.\n"
        "- **Where we stand:** below the design target of 0.5 (the ratio column): the "
        "authenticated read at 0.16 (SQLite) and 0.23 (PostgreSQL) of a constant handler that "
        "answered 15,000 requests/s in this run, introspection at 0.23 on both. In absolute "
        "terms 2,500-3,500 authenticated reads/s at p99 8-15 ms, for 0.28 ms (PostgreSQL) and "
        "0.42 ms (SQLite) of server CPU per request, against 0.63 ms on both in the previous "
        "round (and 0.05 ms for the constant handler). This round: the token checks of "
        "requests in flight together are one query per turn of the event loop, and so are "
        "the profiles the handler shows and, on PostgreSQL, the rate limiter's counters "
        "(`projections/db.py`, `Lookup`; `http_api/ratelimit.py`, `_Tally`); introspection reads "
        "the app's `client_id` in the same query. Each request still reads the token's state "
        "from the database after it arrived: a revocation holds on the very next request on "
        "every process (design §5), which rules out the in-process cache a 0.5 ratio would "
        "take on this machine.\n"
        "- Profile (py-spy, event loop thread, PostgreSQL): about a fifth of the samples are "
        "the shared queries (psycopg's async execute path), a fifth HTTP parsing and writing, "
        "the rest middleware, JSON and the loop itself; on SQLite the two lookups each cross "
        "to the reader threads."
    ),
    run=run,
)
