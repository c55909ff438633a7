"""Fixtures: every integration test runs on SQLite and on a fresh PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from aiohttp.test_utils import TestClient

from commands.bus import CommandBus
from commands.store import BuddoStore
from http_api.app import create_app
from http_api.settings import Settings, load_settings
from http_api.wiring import open_store

# The server tests make their databases on; override to point at another one.
POSTGRES_ADMIN_URL = os.environ.get(
    "BUDDO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
# Tests that are not about rate limits must not trip the documented ones.
GENEROUS_LIMITS = "register=10000/3600,login=10000/60,forgot_password=10000/3600"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _postgres_problem() -> str | None:
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as error:
        return str(error).strip()


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """The PostgreSQL server, or a skip (a failure under CI) when none answers."""
    problem = _postgres_problem()
    if problem is not None:
        message = f"PostgreSQL at {POSTGRES_ADMIN_URL} does not answer: {problem}"
        if IN_CI:
            pytest.fail(message + " (required in CI)")
        pytest.skip(message + " -- PostgreSQL tests skipped")
    return POSTGRES_ADMIN_URL


def create_database(admin_url: str) -> str:
    """A new, empty database; returns its URL."""
    name = f"buddo_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


def drop_database(admin_url: str, url: str) -> None:
    """Drop a database made by create_database, whoever is still connected."""
    name = url.rpartition("/")[2]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    url = create_database(postgres_admin_url)
    yield url
    drop_database(postgres_admin_url, url)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Each test that depends on this runs once per backend."""
    return str(request.param)


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Settings for a private store on `backend`."""
    environ = {"BUDDO_DATA_DIR": str(tmp_path / "data"), "BUDDO_RATE_LIMITS": GENEROUS_LIMITS}
    if backend == "postgres":
        environ["BUDDO_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    return load_settings(environ)


@pytest.fixture
def store(settings: Settings) -> Iterator[BuddoStore]:
    """The event store with its schema and inline read models."""
    opened = open_store(settings)
    yield opened
    opened.close()


@pytest.fixture
def bus(store: BuddoStore) -> Iterator[CommandBus]:
    """A command bus over `store` (its close also closes the store)."""
    command_bus = CommandBus(store, threads=4)
    yield command_bus
    command_bus.executor.shutdown(wait=True)


@pytest.fixture
async def client(settings: Settings, aiohttp_client: object) -> TestClient:  # type: ignore[type-arg]
    """A client talking real HTTP to the service on a loopback port."""
    app = create_app(settings)
    test_client: TestClient = await aiohttp_client(app)  # type: ignore[operator,type-arg]
    return test_client
