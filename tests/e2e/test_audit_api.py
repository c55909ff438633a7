"""Audit over real HTTP and the real command line: the log, proofs an outsider checks, verify."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from aiohttp.test_utils import TestClient

from commands.audit import latest_checkpoint, write_checkpoint
from commands.audit_db import AuditDb
from commands.bus import CommandBus
from commands.points import GrantPoints, TransferPoints
from http_api import audit_api
from http_api.audit_api import AUDIT_KEY
from http_api.settings import Settings
from tests.e2e.auth_helpers import make_admin, services
from tests.e2e.test_cli import run_buddo, settings_env
from tests.integration.test_audit import verifier, workload


@pytest.fixture
def quiet_checkpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's own checkpoint task stays out of the way (the test signs by hand)."""
    monkeypatch.setattr(audit_api, "POLL_SECONDS", 3600.0)


@pytest.fixture
def eager_checkpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's checkpoint task asks often, and a checkpoint is due at once."""
    monkeypatch.setattr(audit_api, "POLL_SECONDS", 0.05)


async def grant_some(client: TestClient, count: int) -> None:  # type: ignore[type-arg]
    user = uuid4()
    for _ in range(count):
        await services(client).bus.execute(GrantPoints(f"user:{user}", 3, "hello"))


async def sign(client: TestClient) -> int:  # type: ignore[type-arg]
    assert client.app is not None
    bus = services(client).bus
    made = await bus.run(
        write_checkpoint, AuditDb(bus.store), client.app[AUDIT_KEY], datetime.now(UTC)
    )
    assert made is not None
    return made.tree_size


async def all_events(client: TestClient, auth: dict[str, str]) -> list[dict[str, Any]]:  # type: ignore[type-arg]
    events, after = [], 0
    while True:
        response = await client.get(f"/api/admin/audit/events?after={after}&limit=7", headers=auth)
        assert response.status == 200
        page = await response.json()
        events += page["events"]
        if page["next_cursor"] is None:
            return events
        after = page["next_cursor"]


async def test_an_outsider_checks_proofs_from_the_api(
    quiet_checkpoints: None,
    client: TestClient,
    settings: Settings,  # type: ignore[type-arg]
) -> None:
    admin = await make_admin(client, settings.data_dir)
    await grant_some(client, 4)
    old = await sign(client)
    await grant_some(client, 5)
    new = await sign(client)
    key = await (await client.get("/.well-known/audit-key")).json()
    assert (key["kty"], key["crv"]) == ("OKP", "Ed25519")
    events = await all_events(client, admin.auth)
    assert [e["position"] for e in events][-1] == new
    assert all(e["hash"] and e["prev_hash"] and e["recorded_at"] for e in events)
    tool = verifier()
    for event in (events[0], events[len(events) // 2], events[-1]):
        response = await client.get(
            f"/api/admin/audit/proof/{event['position']}", headers=admin.auth
        )
        assert response.status == 200
        assert tool.check_inclusion(key, await response.json(), event)
    response = await client.get(
        f"/api/admin/audit/consistency?first={old}&second={new}", headers=admin.auth
    )
    assert "prefix" in tool.check_consistency(key, await response.json())


async def test_audit_endpoints_are_for_admins_and_answer_404_beyond_the_checkpoint(
    quiet_checkpoints: None,
    client: TestClient,
    settings: Settings,  # type: ignore[type-arg]
) -> None:
    admin = await make_admin(client, settings.data_dir)
    assert (await client.get("/api/admin/audit/events")).status == 401
    assert (await client.get("/api/admin/audit/proof/1")).status == 401
    await grant_some(client, 1)
    response = await client.get("/api/admin/audit/proof/1", headers=admin.auth)
    assert response.status == 404  # no checkpoint covers it yet
    assert (await client.get("/api/admin/audit/proof/x", headers=admin.auth)).status == 422
    response = await client.get("/api/admin/audit/consistency?first=1&second=2", headers=admin.auth)
    assert response.status == 404


async def test_the_last_page_of_events_says_so_even_when_it_is_full(
    quiet_checkpoints: None,
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    admin = await make_admin(client, settings.data_dir)
    await grant_some(client, 3)
    total = len(await all_events(client, admin.auth))
    response = await client.get(f"/api/admin/audit/events?limit={total}", headers=admin.auth)
    page = await response.json()
    assert len(page["events"]) == total
    assert page["next_cursor"] is None  # null at the end, not a pointer to an empty page
    response = await client.get(f"/api/admin/audit/events?limit={total - 1}", headers=admin.auth)
    page = await response.json()
    assert page["next_cursor"] == page["events"][-1]["position"]


async def test_event_pages_hold_50_by_default_and_at_most_200(
    quiet_checkpoints: None,
    client: TestClient,  # type: ignore[type-arg]
    settings: Settings,
) -> None:
    admin = await make_admin(client, settings.data_dir)
    await grant_some(client, 70)  # a few events each: well over 200 in all
    first = await (await client.get("/api/admin/audit/events", headers=admin.auth)).json()
    assert len(first["events"]) == 50
    assert first["next_cursor"] == first["events"][-1]["position"]
    response = await client.get("/api/admin/audit/events?limit=200", headers=admin.auth)
    assert len((await response.json())["events"]) == 200
    response = await client.get("/api/admin/audit/events?limit=201", headers=admin.auth)
    assert (response.status, (await response.json())["error"]) == (422, "validation_failed")


async def test_the_server_signs_checkpoints_by_itself(
    eager_checkpoints: None,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    await grant_some(client, 2)
    bus = services(client).bus
    deadline = asyncio.get_running_loop().time() + 60
    while (size := (await bus.run(latest_size, AuditDb(bus.store)))) == 0:
        assert asyncio.get_running_loop().time() < deadline, "no checkpoint within a minute"
        await asyncio.sleep(0.05)
    assert size >= 5  # the grant's entry and account events


def latest_size(db: AuditDb) -> int:
    with db.read() as q:
        checkpoint = latest_checkpoint(q)
    return checkpoint.tree_size if checkpoint else 0


def test_verify_on_the_command_line_passes_then_names_a_tampered_position(
    bus: CommandBus, settings: Settings, tmp_path: Path
) -> None:
    users = workload(bus, 6)
    bus.handle(TransferPoints(users[0], users[1], 1, "last"))
    env = settings_env(settings)
    assert run_buddo("audit", "checkpoint", env=env).returncode == 0
    clean = run_buddo("audit", "verify", env=env)
    assert clean.returncode == 0, clean.stderr
    assert "ok" in clean.stdout
    assert clean.stderr == ""  # no progress bar in a pipe
    proof = run_buddo("audit", "prove", "4", env=env)
    (tmp_path / "proof.json").write_text(proof.stdout)
    assert json.loads(proof.stdout)["position"] == 4
    db = AuditDb(bus.store)
    table, column = db.events
    with db.write() as w:
        w.run(f"DELETE FROM {table} WHERE {column} = %s", (6,))  # noqa: S608
    tampered = run_buddo("audit", "verify", env=env)
    assert tampered.returncode == 1
    assert "position 6" in tampered.stderr


def test_reconcile_and_export_on_the_command_line_tie(
    bus: CommandBus, settings: Settings, tmp_path: Path
) -> None:
    users = workload(bus, 8)
    env, period = settings_env(settings), ("--from", "2000-01-01", "--to", "2999-01-01")
    reconciled = run_buddo("reconcile", *period, "--json", env=env)
    assert reconciled.returncode == 0, reconciled.stderr
    trial = json.loads(reconciled.stdout)
    assert trial["problems"] == []
    assert trial["totals"]["debits"] == trial["totals"]["credits"] > 0
    out = tmp_path / "export"
    exported = run_buddo(
        "audit", "export", *period, "--format", "jsonl", "--out", str(out), env=env
    )
    assert exported.returncode == 0, exported.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sum_debits"] == manifest["sum_credits"] == trial["totals"]["debits"]
    assert manifest["row_count"] == len((out / "journal.jsonl").read_text().splitlines())
    balance = run_buddo("audit", "balance", f"user:{users[0]}", "--position", "1", env=env)
    assert balance.stdout.strip() == "1000"  # position 1 is the first welcome grant's entry
    now = run_buddo("audit", "balance", "treasury", "--at", "2999-01-01", env=env)
    assert int(now.stdout) == -4_000  # the welcome grants: 4 users x 1,000
