"""The points API over real HTTP against a plain model: random grants, spends, transfers and
keyed retries, with real OAuth tokens.

The service runs in a background thread on its own event loop (an aiohttp TestServer on a
loopback port); the Hypothesis state machine, which is synchronous, talks to it with
`requests`. One server and one set of users and apps serve every example of a run: each
example starts its model from the balances the API reports, and prefixes its idempotency keys
so that examples never share one. After every step: the `balances` read model sums to zero,
every balance the API reports equals the model's, and each app's analytics count exactly the
spends made through it.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from http_api.app import create_app
from http_api.keys import SERVICES
from http_api.settings import Settings, load_settings
from tests.conftest import GENEROUS_LIMITS, create_database, drop_database
from tests.e2e.points_helpers import Connected, connected_user, join

T = TypeVar("T")

MACHINE_SETTINGS = settings(
    max_examples=25,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
CALL_TIMEOUT_SECONDS = 60.0
KEYS = ("k1", "k2", "k3")  # few, so that they collide within an example
MAX_WINDOW = "365"


class LiveServer:
    """The service on a loopback port, served by an event loop in a thread of its own."""

    def __init__(self, settings_: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="live-server")
        self.thread.start()
        try:
            self.client: TestClient = self.run(self._start(settings_))  # type: ignore[type-arg]
        except BaseException:
            self._stop_loop()
            raise
        self.url = str(self.client.make_url("")).rstrip("/")

    async def _start(self, settings_: Settings) -> TestClient:  # type: ignore[type-arg]
        client: TestClient = TestClient(TestServer(create_app(settings_)))  # type: ignore[type-arg]
        await client.start_server()
        return client

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(CALL_TIMEOUT_SECONDS)

    def close(self) -> None:
        try:
            self.run(self.client.close())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()


@dataclass(frozen=True)
class Caller:
    """A user acting through an app with an access token."""

    name: str
    user_id: str
    username: str
    app_id: str
    token: str


@dataclass
class World:
    """Who exists for the whole run: callers, an admin, and each app's owner's token."""

    server: LiveServer
    admin_jwt: str
    callers: list[Caller]
    operators: dict[str, str]  # app id -> an owner's access token

    @property
    def users(self) -> dict[str, str]:
        return {c.user_id: c.username for c in self.callers}

    @property
    def apps(self) -> list[str]:
        return sorted(self.operators)


async def _build_world(client: TestClient, data_dir: Path) -> tuple[str, list[Any]]:  # type: ignore[type-arg]
    """Two apps, each operated by its owner; three more users, one of them in both apps."""
    first = await connected_user(client, data_dir, user_is_owner=True)
    second = await connected_user(client, data_dir, user_is_owner=True)
    alice = await join(first)
    bob = await join(first)
    alice_in_second = await join(second, person=alice.user)
    worlds: list[Connected] = [first, alice, bob, second, alice_in_second]
    return first.admin.token, worlds


def make_world(server: LiveServer, data_dir: Path) -> World:
    admin_jwt, worlds = server.run(_build_world(server.client, data_dir))
    callers = [
        Caller(
            name=f"{w.user.username}@{w.app.id[:6]}",
            user_id=w.user.user["id"],
            username=w.user.username,
            app_id=w.app.id,
            token=w.tokens["access_token"],
        )
        for w in worlds
    ]
    operators = {w.app.id: w.tokens["access_token"] for w in worlds if w.user is w.owner}
    return World(server, admin_jwt, callers, operators)


@dataclass(frozen=True)
class Sent:
    """A keyed request as sent, and the answer it first got."""

    scope: str
    key: str
    path: str
    body: dict[str, Any]
    status: int
    answer: dict[str, Any]


callers_ix = st.integers(min_value=0, max_value=4)
amounts = st.integers(min_value=1, max_value=60)
maybe_keys = st.none() | st.sampled_from(KEYS)


class HttpLedgerMachine(RuleBasedStateMachine):
    """Points moved over HTTP, checked step by step against dicts of balances."""

    sent = Bundle("sent")

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world
        self.http = requests.Session()
        self.prefix = uuid.uuid4().hex[:8]  # this example's keys are its own
        self.keyed: dict[tuple[str, str], Sent] = {}
        self.users = {user: self._user_balance(user) for user in world.users}
        self.apps = {app: self._app_balance(app) for app in world.apps}
        self.spends = {app: self._analytics(app)["total_spends"] for app in world.apps}

    def teardown(self) -> None:
        self.http.close()

    # HTTP

    def _call(
        self,
        method: str,
        path: str,
        token: str,
        body: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.http.request(
            method, self.world.server.url + path, json=body, headers=headers, timeout=60
        )

    def _get(self, path: str, token: str, **params: str) -> dict[str, Any]:
        response = self.http.get(
            self.world.server.url + path,
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    def _token_of_user(self, user_id: str) -> str:
        return next(c.token for c in self.world.callers if c.user_id == user_id)

    def _user_balance(self, user_id: str) -> int:
        return int(self._get("/api/external/points", self._token_of_user(user_id))["balance"])

    def _app_balance(self, app_id: str) -> int:
        body = self._get("/api/external/app/balance", self.world.operators[app_id])
        return int(body["balance"])

    def _analytics(self, app_id: str) -> dict[str, Any]:
        token = self.world.operators[app_id]
        found: dict[str, Any] = self._get("/api/operator/analytics", token, window_days=MAX_WINDOW)[
            "analytics"
        ]
        return found

    # Sending one request and checking its answer against the model

    def _send(
        self,
        scope: str,
        path: str,
        token: str,
        body: dict[str, Any],
        key: str | None,
        expect: Callable[[requests.Response], None],
    ) -> object:
        """Send; a known key must replay or conflict, a new one is checked by `expect`."""
        full_key = None if key is None else f"{self.prefix}-{key}"
        if full_key is not None and (scope, full_key) in self.keyed:
            self._resend(self.keyed[scope, full_key], path, token, body)
            return multiple()
        response = self._call("POST", path, token, body, full_key)
        expect(response)
        if full_key is None or response.status_code not in {201, 422}:
            return multiple()
        answer: dict[str, Any] = response.json()
        if response.status_code == 422 and answer["error"] != "insufficient_points":
            return multiple()  # refused while planning: no key was kept
        sent = Sent(scope, full_key, path, body, response.status_code, answer)
        self.keyed[scope, full_key] = sent
        return sent

    def _resend(self, prior: Sent, path: str, token: str, body: dict[str, Any]) -> None:
        """The same key again: the first answer if the request is the same, else a conflict."""
        if path == "/api/external/points/transfer" and body.get("to_user_id") == self._self_of(
            token
        ):
            response = self._call("POST", path, token, body, prior.key)
            assert response.status_code == 422, response.text
            return
        response = self._call("POST", path, token, body, prior.key)
        if (path, body) != (prior.path, prior.body):
            assert response.status_code == 409, response.text
            assert response.json()["error"] == "idempotency_conflict"
            return
        assert response.status_code == prior.status, response.text
        assert response.json() == prior.answer
        if prior.status == 201:
            assert response.headers["Idempotent-Replayed"] == "true"

    def _self_of(self, token: str) -> str | None:
        return next((c.user_id for c in self.world.callers if c.token == token), None)

    def _expect_movement(
        self, debit: tuple[dict[str, int], str], credit: tuple[dict[str, int], str], amount: int
    ) -> Callable[[requests.Response], None]:
        (debited, source), (credited, target) = debit, credit

        def expect(response: requests.Response) -> None:
            balance = debited[source]
            if balance < amount:
                assert response.status_code == 422, response.text
                refusal = response.json()
                assert (refusal["error"], refusal["balance"]) == ("insufficient_points", balance)
                return
            assert response.status_code == 201, response.text
            debited[source] -= amount
            credited[target] += amount
            answer = response.json()
            transaction = answer.get("transaction")
            if transaction is not None:
                assert transaction["amount"] == amount
                assert transaction["balance_after"] == debited[source]
            assert "Idempotent-Replayed" not in response.headers

        return expect

    # Rules

    @rule(target=sent, who=callers_ix, amount=amounts, key=maybe_keys)
    def grant(self, who: int, amount: int, key: str | None) -> object:
        caller = self.world.callers[who]
        body = {"user_id": caller.user_id, "amount": amount, "reason": "model"}

        def expect(response: requests.Response) -> None:
            assert response.status_code == 201, response.text
            self.users[caller.user_id] += amount
            assert "Idempotent-Replayed" not in response.headers

        return self._send(
            "admin", "/api/admin/points/grant", self.world.admin_jwt, body, key, expect
        )

    @rule(target=sent, who=callers_ix, amount=amounts, key=maybe_keys)
    def spend(self, who: int, amount: int, key: str | None) -> object:
        caller = self.world.callers[who]
        body = {"amount": amount, "description": f"spend {amount}"}
        expect = self._expect_movement(
            (self.users, caller.user_id), (self.apps, caller.app_id), amount
        )

        def counted(response: requests.Response) -> None:
            expect(response)
            if response.status_code == 201:
                self.spends[caller.app_id] += amount

        scope = f"{caller.app_id}/{caller.user_id}"
        return self._send(scope, "/api/external/points/spend", caller.token, body, key, counted)

    @rule(
        target=sent,
        who=callers_ix,
        to=callers_ix,
        amount=amounts,
        by_name=st.booleans(),
        key=maybe_keys,
    )
    def transfer(self, who: int, to: int, amount: int, by_name: bool, key: str | None) -> object:
        caller, recipient = self.world.callers[who], self.world.callers[to]
        body: dict[str, Any] = {"amount": amount, "note": "model"}
        if by_name:
            body["to_username"] = recipient.username
        else:
            body["to_user_id"] = recipient.user_id
        scope = f"{caller.app_id}/{caller.user_id}"
        path = "/api/external/points/transfer"
        if recipient.user_id == caller.user_id:

            def refused(response: requests.Response) -> None:
                assert response.status_code == 422, response.text
                assert response.json()["error"] == "validation_failed"

            # Refused while planning, before the key is looked at: whatever the key.
            full_key = None if key is None else f"{self.prefix}-{key}"
            refused(self._call("POST", path, caller.token, body, full_key))
            return multiple()
        expect = self._expect_movement(
            (self.users, caller.user_id), (self.users, recipient.user_id), amount
        )
        return self._send(scope, path, caller.token, body, key, expect)

    @rule(prior=sent)
    def retry(self, prior: Sent) -> None:
        """The very same request again: the first answer, and nothing moves."""
        token = self._token_for_scope(prior.scope)
        self._resend(prior, prior.path, token, prior.body)

    @rule(prior=sent)
    def reuse_key_for_another_amount(self, prior: Sent) -> None:
        token = self._token_for_scope(prior.scope)
        other = {**prior.body, "amount": prior.body["amount"] + 1}
        self._resend(prior, prior.path, token, other)

    def _token_for_scope(self, scope: str) -> str:
        if scope == "admin":
            return self.world.admin_jwt
        app_id, user_id = scope.split("/")
        return next(
            c.token for c in self.world.callers if (c.app_id, c.user_id) == (app_id, user_id)
        )

    # Invariants, after every step

    @invariant()
    def the_ledger_sums_to_zero(self) -> None:
        reads = self.world.server.client.server.app[SERVICES].reads
        rows = self.world.server.run(reads.fetch_all("SELECT account, balance FROM balances"))
        balances = {str(row["account"]): int(row["balance"]) for row in rows}
        assert sum(balances.values()) == 0
        assert all(value >= 0 for account, value in balances.items() if account != "treasury")

    @invariant()
    def the_api_reports_the_models_balances(self) -> None:
        for user in self.users:
            assert self._user_balance(user) == self.users[user], user
        for app in self.apps:
            assert self._app_balance(app) == self.apps[app], app

    @invariant()
    def analytics_count_the_spends(self) -> None:
        for app in self.apps:
            figures = self._analytics(app)
            assert figures["total_spends"] == self.spends[app]
            assert sum(day["spends"] for day in figures["daily"]) == self.spends[app]


@pytest.fixture
def live_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    backend = request.param
    environ = {"BUDDO_DATA_DIR": str(tmp_path / "data"), "BUDDO_RATE_LIMITS": GENEROUS_LIMITS}
    admin_url: str | None = None
    database: str | None = None
    if backend == "postgres":
        admin_url = request.getfixturevalue("postgres_admin_url")
        database = create_database(admin_url)
        environ["BUDDO_DATABASE_URL"] = database
    try:
        settings_ = load_settings(environ)
        server = LiveServer(settings_)
        try:
            yield make_world(server, settings_.data_dir)
        finally:
            server.close()
    finally:
        if admin_url is not None and database is not None:
            drop_database(admin_url, database)


@pytest.mark.slow
@pytest.mark.parametrize(
    "live_world",
    ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
    indirect=True,
)
def test_the_http_api_behaves_like_the_model(live_world: World) -> None:
    run_state_machine_as_test(lambda: HttpLedgerMachine(live_world), settings=MACHINE_SETTINGS)
