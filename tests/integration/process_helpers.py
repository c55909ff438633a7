"""Real `buddo serve` processes for the reliability tests: start, kill, stop, and a world of
an admin, an app with every scope approved and a connected user, set up over HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import GENEROUS_LIMITS
from tests.e2e.helpers import PASSWORD, Person
from tests.e2e.oauth_helpers import ALL_SCOPES, bearer, connect, register_app, verified_person
from tests.e2e.points_helpers import approve_all

BUDDO = str(Path(sys.executable).with_name("buddo"))
READY_DEADLINE_SECONDS = 120.0  # a bound on start-up, not an expectation of speed
STOP_DEADLINE_SECONDS = 60.0
SPEND = "/api/external/points/spend"
SCOPE = " ".join(sorted(ALL_SCOPES))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_environ(data_dir: Path, database_url: str = "", **extra: str) -> dict[str, str]:
    """The process environment of a server (and of the CLI run against the same store)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BUDDO_")} | {
        "BUDDO_DATA_DIR": str(data_dir),
        "BUDDO_RATE_LIMITS": GENEROUS_LIMITS,
        "BUDDO_LOG_LEVEL": "WARNING",
        **extra,
    }
    if database_url:
        environ["BUDDO_DATABASE_URL"] = database_url
    return environ


@dataclass
class ServerProcess:
    """One `buddo serve` process on a fixed port; it can be started again on the same port."""

    environ: Mapping[str, str]
    log_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.log_dir / f"server-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [BUDDO, "serve", "--port", str(self.port)],
                env=dict(self.environ),
                stdout=out,
                stderr=out,
            )

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, deadline: float = STOP_DEADLINE_SECONDS) -> int:
        assert self.process is not None
        return self.process.wait(timeout=deadline)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs at all."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """Teardown: SIGTERM, then SIGKILL if it does not go."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_text(self) -> str:
        return "\n".join(
            (self.log_dir / f"server-{n}.log").read_text(errors="replace")
            for n in range(1, self.starts + 1)
        )

    async def wait_ready(self) -> float:
        """Poll /health until 200; the seconds it took (fails if the process died)."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        async with aiohttp.ClientSession() as http:
            while True:
                assert self.process is not None
                assert self.process.poll() is None, self.log_text()
                try:
                    async with http.get(f"{self.url}/health") as response:
                        if response.status == 200:
                            return loop.time() - began
                except aiohttp.ClientError:
                    pass
                assert loop.time() - began < READY_DEADLINE_SECONDS, self.log_text()
                await asyncio.sleep(0.05)


def create_admin(environ: Mapping[str, str]) -> Person:
    """The first admin, made with `buddo admin create` as the spec says (before serving)."""
    email = "boss@example.com"
    made = subprocess.run(
        [BUDDO, "admin", "create", "--email", email, "--password", PASSWORD],
        env=dict(environ),
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    return Person(None, Path(), email=email, username="boss")  # type: ignore[arg-type]


@dataclass
class World:
    """An app with every scope approved, one connected user granted points, and an admin."""

    http: aiohttp.ClientSession
    admin: Person
    user: Person
    app_id: str
    tokens: dict[str, Any]
    revoked_token: str

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.tokens["access_token"])

    async def balances(self) -> tuple[int, int]:
        """The user's and the app's balances (read models)."""
        async with self.http.get("/api/external/points", headers=self.auth) as user:
            assert user.status == 200, await user.text()
            mine = int((await user.json())["balance"])
        async with self.http.get("/api/external/app/balance", headers=self.auth) as app:
            assert app.status == 200, await app.text()
            return mine, int((await app.json())["balance"])


async def make_world(
    http: aiohttp.ClientSession, data_dir: Path, admin: Person, grant: int
) -> World:
    """Set up over HTTP (`http` has the server as its base URL)."""
    admin.client = http  # type: ignore[assignment]
    await admin.login()
    owner = await verified_person(http, data_dir)  # type: ignore[arg-type]
    app = await register_app(http, owner, requested_scopes=sorted(ALL_SCOPES))  # type: ignore[arg-type]
    await approve_all(http, admin, app)  # type: ignore[arg-type]
    user = await verified_person(http, data_dir)  # type: ignore[arg-type]
    tokens = await connect(http, user, app, scope=SCOPE)  # type: ignore[arg-type]
    doomed = await connect(http, user, app, scope=SCOPE)  # type: ignore[arg-type]
    revoked = await http.post(
        "/api/oauth/revoke", json={"token": doomed["access_token"], **app.credentials()}
    )
    assert revoked.status == 200, await revoked.text()
    granted = await http.post(
        "/api/admin/points/grant",
        json={"user_id": user.user["id"], "amount": grant, "reason": "test"},
        headers=admin.auth,
    )
    assert granted.status == 201, await granted.text()
    return World(http, admin, user, app.id, tokens, doomed["access_token"])


async def spend_once(
    http: aiohttp.ClientSession, auth: dict[str, str], key: str, amount: int = 1
) -> tuple[int, dict[str, Any], Mapping[str, str]]:
    """One keyed spend: status, body and headers."""
    headers = {**auth, "Idempotency-Key": key}
    body = {"amount": amount, "description": key}
    async with http.post(SPEND, json=body, headers=headers) as response:
        return response.status, await response.json(), response.headers


async def settle(world: World, answered: Mapping[str, str], unanswered: set[str]) -> None:
    """Retry every key with the same body: an answered one replays its own transaction, an
    unanswered one gets a 201 (the original if it committed, a new one if it had not)."""
    for key, transaction_id in answered.items():
        status, body, headers = await spend_once(world.http, world.auth, key)
        assert status == 201, body
        assert body["transaction"]["id"] == transaction_id, (key, body)
        assert headers.get("Idempotent-Replayed") == "true", key
    for key in sorted(unanswered):
        status, body, _ = await spend_once(world.http, world.auth, key)
        assert status == 201, (key, body)


@dataclass
class Load:
    """Keyed spends from a few clients until told to stop, with what each one got: a 201's
    transaction, or a key whose outcome is unknown (refused, or the connection failed)."""

    world: World
    prefix: str = "load"
    answered: dict[str, str] = field(default_factory=dict)
    unanswered: set[str] = field(default_factory=set)
    statuses: list[int] = field(default_factory=list)
    refusals: list[tuple[dict[str, object], str | None]] = field(default_factory=list)
    slowest: float = 0.0
    running: bool = True

    async def client(self, number: int) -> None:
        for n in range(10_000_000):
            if not self.running:
                return
            key = f"{self.prefix}-{number}-{n}"
            began = time.monotonic()
            try:
                status, body, headers = await spend_once(self.world.http, self.world.auth, key)
            except (aiohttp.ClientError, TimeoutError):
                self.unanswered.add(key)
                await asyncio.sleep(0.1)
                continue
            finally:
                self.slowest = max(self.slowest, time.monotonic() - began)
            self.statuses.append(status)
            if status == 201:
                self.answered[key] = body["transaction"]["id"]
            else:
                self.unanswered.add(key)
                self.refusals.append((body, headers.get("Retry-After")))
                await asyncio.sleep(0.1)

    async def until_answered(self, count: int, deadline: float = 120.0) -> None:
        """Wait until `count` spends in all got a 201 (fails after `deadline` seconds)."""
        give_up = time.monotonic() + deadline
        while len(self.answered) < count:
            assert time.monotonic() < give_up, f"only {len(self.answered)} spends answered"
            await asyncio.sleep(0.02)
