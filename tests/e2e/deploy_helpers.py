"""Helpers for the deploy tests: a client whose simulated runtime steps as fast as asked, an app
with `deploy:manage` and points, and a wait for a deployment to reach a status."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from http_api.app import create_app
from http_api.settings import Settings
from tests.e2e.points_helpers import Connected, connected_user

IMAGE = "ghcr.io/buddo/hello:1.0"
STATUS_DEADLINE_SECONDS = 30.0  # the runtime steps in the background; a busy machine is slow
ROOMY_LIMITS = {"list_deploy_apps": (10_000, 60), "create_deploy_app": (10_000, 60)}


async def deploy_client(
    settings: Settings,
    aiohttp_client: Any,
    step_seconds: float = 0.01,
    limits: dict[str, tuple[int, int]] | None = None,
) -> TestClient:  # type: ignore[type-arg]
    """A client whose runtime takes `step_seconds` per lifecycle step."""
    rate_limits = {**settings.rate_limits, **(ROOMY_LIMITS if limits is None else limits)}
    changed = dataclasses.replace(
        settings, deploy_step_seconds=step_seconds, rate_limits=rate_limits
    )
    client: TestClient = await aiohttp_client(create_app(changed))  # type: ignore[type-arg]
    return client


@dataclass
class Operator:
    """An app acting with a `deploy:manage` token, and the people behind it."""

    connected: Connected

    @property
    def client(self) -> TestClient:  # type: ignore[type-arg]
        return self.connected.client

    @property
    def auth(self) -> dict[str, str]:
        return self.connected.auth

    async def fund(self, amount: int) -> None:
        """The treasury grants `amount` points to the app."""
        response = await self.client.post(
            "/api/admin/points/grant",
            json={"app_id": self.connected.app.id, "amount": amount, "reason": "test"},
            headers=self.connected.admin.auth,
        )
        assert response.status == 201, await response.text()

    async def balance(self) -> int:
        response = await self.client.get("/api/external/app/balance", headers=self.auth)
        assert response.status == 200, await response.text()
        return int((await response.json())["balance"])

    async def create(self, **fields: Any) -> ClientResponse:
        body = {"image": IMAGE, "subdomain": "hello-app", "tier": "starter", **fields}
        return await self.client.post("/api/deploy/apps", json=body, headers=self.auth)

    async def created(self, **fields: Any) -> dict[str, Any]:
        response = await self.create(**fields)
        assert response.status == 201, await response.text()
        deployment: dict[str, Any] = (await response.json())["deployment"]
        return deployment

    async def get(self, deployment_id: str, suffix: str = "") -> dict[str, Any]:
        response = await self.client.get(
            f"/api/deploy/apps/{deployment_id}{suffix}", headers=self.auth
        )
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body

    async def wait_for(self, deployment_id: str, status: str) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STATUS_DEADLINE_SECONDS
        while (found := await self.get(deployment_id, "/status"))["status"] != status:
            assert loop.time() < deadline, f"still {found['status']}, never {status}"
            await asyncio.sleep(0.02)
        return found

    async def control(self, deployment_id: str, action: str) -> ClientResponse:
        if action == "destroy":
            return await self.client.delete(f"/api/deploy/apps/{deployment_id}", headers=self.auth)
        return await self.client.post(
            f"/api/deploy/apps/{deployment_id}/{action}", headers=self.auth
        )


async def operator(client: TestClient, settings: Settings, points: int = 0) -> Operator:  # type: ignore[type-arg]
    """A new app with every scope approved, its user connected, and `points` granted to it."""
    made = Operator(await connected_user(client, settings.data_dir))
    if points:
        await made.fund(points)
    return made
