"""Rate limits in memory with a clock we move by hand, and whose address a request counts under."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, make_mocked_request
from multidict import CIMultiDict

from http_api.errors import error_middleware
from http_api.ratelimit import (
    LOGIN_LIMIT,
    Decision,
    Limit,
    MemoryRateLimiter,
    RateLimitedError,
    client_address,
    enforce,
    enforce_request,
    parse_trusted_proxies,
    rate_limit_headers,
)
from ledger.errors import NotFoundError

START = 1_800_000_000.0  # a minute boundary: 30_000_000 * 60
PROXY, OTHER_PROXY = "10.0.0.1", "10.0.0.2"
TRUSTED = frozenset({PROXY, OTHER_PROXY})


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limiter(clock: FakeClock) -> MemoryRateLimiter:
    return MemoryRateLimiter(clock=clock)


async def hits(limiter: MemoryRateLimiter, limit: Limit, key: str, n: int) -> list[Decision]:
    return [await limiter.hit(limit, key) for _ in range(n)]


async def test_allows_the_limit_then_refuses(limiter: MemoryRateLimiter) -> None:
    decisions = await hits(limiter, Limit("login", 3, 60), "1.2.3.4", 5)
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0, 0]
    assert {d.limit for d in decisions} == {3}


async def test_reset_counts_whole_seconds_to_the_window_end(
    limiter: MemoryRateLimiter, clock: FakeClock
) -> None:
    clock.now = START + 40.5
    decision = await limiter.hit(Limit("login", 3, 60), "1.2.3.4")
    assert decision.reset_seconds == 20


async def test_a_new_window_starts_from_zero(limiter: MemoryRateLimiter, clock: FakeClock) -> None:
    limit = Limit("login", 2, 60)
    assert not (await hits(limiter, limit, "1.2.3.4", 3))[-1].allowed
    clock.now = START + 59.9
    assert not (await limiter.hit(limit, "1.2.3.4")).allowed
    clock.now = START + 60
    decision = await limiter.hit(limit, "1.2.3.4")
    assert (decision.allowed, decision.remaining, decision.reset_seconds) == (True, 1, 60)


async def test_keys_and_limit_names_count_apart(limiter: MemoryRateLimiter) -> None:
    await hits(limiter, Limit("login", 1, 60), "1.2.3.4", 2)
    assert (await limiter.hit(Limit("login", 1, 60), "5.6.7.8")).allowed
    assert (await limiter.hit(Limit("register", 1, 60), "1.2.3.4")).allowed


async def test_ended_windows_are_dropped(limiter: MemoryRateLimiter, clock: FakeClock) -> None:
    for n in range(50):
        await limiter.hit(LOGIN_LIMIT, f"10.1.0.{n}")
    assert len(limiter) == 50
    clock.now = START + 3600
    await limiter.hit(LOGIN_LIMIT, "10.1.0.1")
    assert len(limiter) == 1


async def test_memory_stays_bounded_under_a_flood_of_addresses(clock: FakeClock) -> None:
    limiter = MemoryRateLimiter(clock=clock, max_counters=10)
    for n in range(1000):
        await limiter.hit(LOGIN_LIMIT, f"2001:db8::{n:x}")
    assert len(limiter) == 10


async def test_close_forgets_the_counts(limiter: MemoryRateLimiter) -> None:
    await limiter.hit(LOGIN_LIMIT, "1.2.3.4")
    await limiter.close()
    assert len(limiter) == 0


@pytest.mark.parametrize(
    ("count", "window", "name"), [(0, 60, "login"), (5, 0, "login"), (5, 60, "a:b")]
)
def test_a_limit_must_make_sense(count: int, window: int, name: str) -> None:
    with pytest.raises(ValueError, match="limit"):
        Limit(name, count, window)


def test_headers_say_when_to_retry_only_when_refused() -> None:
    allowed = Decision(allowed=True, limit=10, remaining=4, reset_seconds=30)
    refused = Decision(allowed=False, limit=10, remaining=0, reset_seconds=30)
    assert allowed.headers() == {
        "RateLimit-Limit": "10",
        "RateLimit-Remaining": "4",
        "RateLimit-Reset": "30",
    }
    assert refused.headers() == {
        **allowed.headers(),
        "RateLimit-Remaining": "0",
        "Retry-After": "30",
    }


async def test_enforce_returns_the_decision_then_raises(
    limiter: MemoryRateLimiter, clock: FakeClock
) -> None:
    limit = Limit("register", 1, 3600)
    assert (await enforce(limiter, limit, "1.2.3.4")).remaining == 0
    clock.now = START + 600
    with pytest.raises(RateLimitedError) as caught:
        await enforce(limiter, limit, "1.2.3.4")
    error = caught.value
    assert (error.code, error.retry_after, error.extra()) == (
        "rate_limited",
        3000,
        {"retry_after": 3000},
    )
    assert error.decision.headers()["Retry-After"] == "3000"


# --- client_address ---------------------------------------------------------------------------


def request_from(peer: str | None, *forwarded_for: str) -> web.Request:
    headers = CIMultiDict(("X-Forwarded-For", value) for value in forwarded_for)
    request = make_mocked_request("GET", "/", headers=headers)  # its socket has no peer
    return request if peer is None else request.clone(remote=peer)


def test_without_a_proxy_the_peer_is_the_client() -> None:
    assert client_address(request_from("203.0.113.7"), frozenset()) == "203.0.113.7"


def test_a_spoofed_header_from_an_untrusted_peer_is_ignored() -> None:
    request = request_from("203.0.113.7", "198.51.100.1")
    assert client_address(request, TRUSTED) == "203.0.113.7"
    assert client_address(request, frozenset()) == "203.0.113.7"


def test_behind_a_trusted_proxy_the_address_it_added_counts() -> None:
    assert client_address(request_from(PROXY, "198.51.100.1"), TRUSTED) == "198.51.100.1"


def test_entries_the_client_wrote_itself_are_ignored() -> None:
    # The client sent "X-Forwarded-For: 1.1.1.1"; our proxy appended the address it saw.
    request = request_from(PROXY, "1.1.1.1, 198.51.100.1")
    assert client_address(request, TRUSTED) == "198.51.100.1"


def test_a_chain_of_trusted_proxies_is_walked_from_the_right() -> None:
    request = request_from(PROXY, "1.1.1.1, 198.51.100.1, 10.0.0.2")
    assert client_address(request, TRUSTED) == "198.51.100.1"


def test_repeated_headers_read_as_one_list() -> None:
    request = request_from(PROXY, "1.1.1.1", "198.51.100.1")
    assert client_address(request, TRUSTED) == "198.51.100.1"


def test_addresses_are_compared_in_canonical_form() -> None:
    request = request_from("0:0:0:0:0:0:0:1", "2001:DB8::0:1")
    assert client_address(request, frozenset({"::1"})) == "2001:db8::1"


@pytest.mark.parametrize("header", ["", "not-an-ip", "198.51.100.1, bogus", "198.51.100.1:8080"])
def test_a_missing_or_malformed_header_means_the_peer(header: str) -> None:
    assert client_address(request_from(PROXY, header), TRUSTED) == PROXY


def test_garbage_the_client_wrote_left_of_the_hop_is_ignored() -> None:
    request = request_from(PROXY, "bogus, 198.51.100.1")
    assert client_address(request, TRUSTED) == "198.51.100.1"


def test_when_every_hop_is_ours_the_first_hop_counts() -> None:
    assert client_address(request_from(PROXY, "10.0.0.2, 10.0.0.1"), TRUSTED) == OTHER_PROXY


def test_an_unknown_peer_is_never_trusted() -> None:
    assert client_address(request_from(None, "198.51.100.1"), TRUSTED) == "unknown"


def test_trusted_proxies_parse_to_canonical_addresses() -> None:
    assert parse_trusted_proxies(" 10.0.0.1, ::0001 ,") == frozenset({"10.0.0.1", "::1"})
    with pytest.raises(ValueError, match=r"10\.0\.0\.0/8"):
        parse_trusted_proxies("10.0.0.1, 10.0.0.0/8")


# --- headers on responses -----------------------------------------------------------------------

LIMIT = Limit("probe", 2, 60)
LIMITER: web.AppKey[MemoryRateLimiter] = web.AppKey("limiter", MemoryRateLimiter)


async def limited(request: web.Request) -> web.Response:
    await enforce_request(request, request.app[LIMITER], LIMIT, "client")
    if request.query.get("missing"):
        raise NotFoundError("No such thing.")
    return web.json_response({"ok": True})


async def free(request: web.Request) -> web.Response:
    return web.json_response({})


@pytest.fixture
async def http(aiohttp_client: object, limiter: MemoryRateLimiter) -> TestClient:  # type: ignore[type-arg]
    app = web.Application(middlewares=[rate_limit_headers, error_middleware])
    app[LIMITER] = limiter
    app.router.add_get("/limited", limited)
    app.router.add_get("/free", free)
    client: TestClient = await aiohttp_client(app)  # type: ignore[operator,type-arg]
    return client


async def test_every_response_of_a_limited_endpoint_carries_the_headers(
    http: TestClient,  # type: ignore[type-arg]
) -> None:
    ok = await http.get("/limited")
    missing = await http.get("/limited", params={"missing": "1"})
    assert (ok.status, ok.headers["RateLimit-Remaining"]) == (200, "1")
    assert (missing.status, missing.headers["RateLimit-Remaining"]) == (404, "0")
    assert ok.headers["RateLimit-Limit"] == missing.headers["RateLimit-Limit"] == "2"
    assert "Retry-After" not in ok.headers


async def test_an_unlimited_endpoint_has_no_rate_limit_headers(
    http: TestClient,  # type: ignore[type-arg]
) -> None:
    response = await http.get("/free")
    assert "RateLimit-Limit" not in response.headers


async def test_over_the_limit_is_429_with_retry_after(
    http: TestClient,  # type: ignore[type-arg]
) -> None:
    for _ in range(2):
        await http.get("/limited")
    response = await http.get("/limited")
    body = await response.json()
    assert response.status == 429
    assert (body["error"], body["retry_after"]) == ("rate_limited", 60)
    assert (response.headers["Retry-After"], response.headers["RateLimit-Remaining"]) == ("60", "0")
