"""The deployment state machine over HTTP (spec 6.4): stop, restart, destroy, and every
illegal move answered 409."""

from __future__ import annotations

import dataclasses
from typing import Any

from http_api.settings import Settings
from tests.e2e.deploy_helpers import Operator, deploy_client, operator

SLOW_STEP_SECONDS = 3_600.0  # the runtime never gets past pending during the test


async def test_stop_restart_destroy(settings: Settings, aiohttp_client: Any) -> None:
    client = await deploy_client(settings, aiohttp_client)
    app = await operator(client, settings, points=1_000)
    deployment_id = (await app.created(subdomain="cycle"))["id"]
    await app.wait_for(deployment_id, "running")

    stopped = await app.control(deployment_id, "stop")
    assert stopped.status == 200, await stopped.text()
    shown = (await stopped.json())["deployment"]
    assert shown["status"] == "stopped"
    assert shown["stopped_at"] is not None
    assert (await app.control(deployment_id, "stop")).status == 409

    restarted = await app.control(deployment_id, "restart")
    assert restarted.status == 200
    assert (await restarted.json())["deployment"]["status"] == "running"
    assert (await app.control(deployment_id, "restart")).status == 200  # running: restart

    destroyed = await app.control(deployment_id, "destroy")
    assert destroyed.status == 204
    assert (await app.get(deployment_id))["deployment"]["status"] == "destroyed"
    for action in ("stop", "restart", "destroy"):
        refused = await app.control(deployment_id, action)
        assert refused.status == 409, action
        assert (await refused.json())["error"] == "conflict"
    lines = [entry["line"] for entry in (await app.get(deployment_id, "/logs"))["logs"]]
    assert any("stopped" in line for line in lines)
    assert any("removed" in line for line in lines)
    # A destroyed deployment gives its subdomain back.
    assert (await app.create(subdomain="cycle")).status == 201


async def test_moves_refused_while_pending(settings: Settings, aiohttp_client: Any) -> None:
    client = await deploy_client(settings, aiohttp_client, step_seconds=SLOW_STEP_SECONDS)
    app = await operator(client, settings, points=500)
    deployment_id = (await app.created(subdomain="waiting"))["id"]
    for action in ("stop", "restart"):
        refused = await app.control(deployment_id, action)
        assert refused.status == 409, action
    assert (await app.get(deployment_id, "/status"))["status"] == "pending"
    assert (await app.control(deployment_id, "destroy")).status == 204  # any -> destroyed
    assert (await app.control(deployment_id, "destroy")).status == 409
    unknown = await app.control("00000000-0000-4000-8000-000000000000", "stop")
    assert unknown.status == 404


async def test_a_deployment_left_coming_up_is_brought_up_after_a_restart(
    settings: Settings, aiohttp_client: Any
) -> None:
    before = await deploy_client(settings, aiohttp_client, step_seconds=SLOW_STEP_SECONDS)
    app = await operator(before, settings, points=500)
    deployment_id = (await app.created(subdomain="interrupted"))["id"]
    await before.close()  # the service stops while the deployment is pending

    after = await deploy_client(settings, aiohttp_client)
    restarted = Operator(dataclasses.replace(app.connected, client=after))
    await restarted.wait_for(deployment_id, "running")

    lines = [entry["line"] for entry in (await restarted.get(deployment_id, "/logs"))["logs"]]
    assert lines.count("pulling image (simulated)") == 1
    assert lines.count("container started (simulated)") == 1
