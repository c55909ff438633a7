"""A schema-driven fuzz run (schemathesis) against a real `buddo serve` and its own
/.well-known/openapi.json, with authenticated calls: no 5xx, and no response that contradicts
the document (status, content type, body schema, headers). Bounded in examples and time."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.integration.process_helpers import (
    ServerProcess,
    World,
    create_admin,
    make_world,
    server_environ,
)

pytestmark = pytest.mark.slow

ST = str(Path(sys.executable).with_name("st"))
CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    )
)
EXAMPLES = "8"
SECONDS_PER_RUN = "60"
# Operations that would lock the fuzzer out of its own account mid-run.
SELF_LOCKOUT = r"(logout|change-password|totp|suspend|session/end|rotate-secret)"
TOKEN_APIS = r"^/api/(external|operator|deploy)"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    environ = server_environ(
        tmp_path / "data",
        BUDDO_RATE_LIMITS="register=100000/3600,login=100000/60,forgot_password=100000/3600,"
        "create_oauth_app=100000/3600,list_deploy_apps=100000/60,create_deploy_app=100000/60",
    )
    running = ServerProcess(environ, tmp_path)
    try:
        yield running
    finally:
        running.stop()


def fuzz(server: ServerProcess, token: str, *selection: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            ST,
            "run",
            f"{server.url}/.well-known/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            CHECKS,
            "--max-examples",
            EXAMPLES,
            "--max-time",
            SECONDS_PER_RUN,
            "--seed",
            "20260522",
            "--no-color",
            "--generation-database",
            ":memory:",  # nothing written into the working tree
            # One worker: on CPython 3.11 hypothesis's lambda descriptions call ast.parse from
            # several threads at once and can die with "AST constructor recursion depth
            # mismatch" (python/cpython#106905), a failure of the fuzzer, not of the service.
            "--workers",
            "1",
            *selection,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


async def world_of(server: ServerProcess, tmp_path: Path) -> World:
    admin = create_admin(server.environ)
    server.start()
    await server.wait_ready()
    async with aiohttp.ClientSession(base_url=server.url) as http:
        return await make_world(http, tmp_path / "data", admin, 1_000_000)


async def test_the_openapi_document_survives_a_schema_driven_fuzzer(
    server: ServerProcess, tmp_path: Path
) -> None:
    world = await world_of(server, tmp_path)
    operator_jwt = world.admin.token
    with_jwt = fuzz(
        server,
        operator_jwt,
        "--exclude-path-regex",
        f"{SELF_LOCKOUT}|{TOKEN_APIS}",
    )
    assert with_jwt.returncode == 0, with_jwt.stdout[-6000:] + with_jwt.stderr[-2000:]
    with_token = fuzz(
        server,
        world.tokens["access_token"],
        "--include-path-regex",
        TOKEN_APIS,
        "--exclude-path-regex",
        SELF_LOCKOUT,
    )
    assert with_token.returncode == 0, with_token.stdout[-6000:] + with_token.stderr[-2000:]
