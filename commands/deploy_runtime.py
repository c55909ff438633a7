"""The container runtime behind deployments (spec 6.4): an interface, and the default driver.

The default `SimulatedRuntime` runs no containers. It records what a runtime would: a new
deployment moves pending -> provisioning -> running, one step every `step_seconds`, in a
background task on the event loop that issues the lifecycle commands; stop, restart and
destroy are recorded at once. Each move carries the log lines the runtime wrote.

A deployment still coming up when the service stopped is brought the rest of the way when it
starts again (`http_api.deploy_api.resume_deployments`). With several workers each one tries;
the event store lets one move through and the others find it already made (409, logged).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from uuid import UUID

from commands.deployments import MoveDeployment
from ledger.errors import BuddoError

log = logging.getLogger(__name__)

Execute = Callable[[object], Awaitable[Any]]

SIMULATED_LINES: dict[str, tuple[tuple[str, str], ...]] = {
    "provision": (
        ("system", "simulated runtime: no container is started"),
        ("system", "pulling image (simulated)"),
    ),
    "start": (("system", "container started (simulated)"), ("stdout", "listening")),
    "stop": (("system", "container stopped (simulated)"),),
    "restart": (("system", "container restarted (simulated)"), ("stdout", "listening")),
    "destroy": (("system", "container removed (simulated)"),),
}
# The moves that still bring a deployment up from each status it can be left in.
STEPS_FROM = {"pending": ("provision", "start"), "provisioning": ("start",)}


class RuntimeDriver(Protocol):
    """What deployments need from a container runtime."""

    name: str

    def launch(self, app_id: UUID, deployment_id: UUID, status: str = "pending") -> None:
        """Bring a deployment up from `status` (pending or provisioning) in the background,
        recording each lifecycle move."""

    async def control(self, app_id: UUID, deployment_id: UUID, action: str) -> int:
        """Stop, restart or destroy now; the position of the recorded move (409 if illegal)."""

    async def close(self) -> None:
        """Stop whatever is still in flight."""


class SimulatedRuntime:
    """Records the lifecycle and log lines of deployments without running any container."""

    name = "simulated"

    def __init__(self, execute: Execute, step_seconds: float) -> None:
        self.execute = execute
        self.step_seconds = step_seconds
        self.tasks: set[asyncio.Task[None]] = set()

    def launch(self, app_id: UUID, deployment_id: UUID, status: str = "pending") -> None:
        steps = STEPS_FROM[status]
        task = asyncio.get_running_loop().create_task(self._bring_up(app_id, deployment_id, steps))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _bring_up(self, app_id: UUID, deployment_id: UUID, steps: tuple[str, ...]) -> None:
        for action in steps:
            await asyncio.sleep(self.step_seconds)
            try:
                await self._record(app_id, deployment_id, action)
            except BuddoError as error:  # destroyed or failed meanwhile: nothing more to do
                log.info("deployment %s did not %s: %s", deployment_id, action, error.message)
                return
            except Exception:  # a background task must log its failure, never vanish
                log.exception("deployment %s: the runtime could not %s", deployment_id, action)
                return

    async def control(self, app_id: UUID, deployment_id: UUID, action: str) -> int:
        return await self._record(app_id, deployment_id, action)

    async def _record(self, app_id: UUID, deployment_id: UUID, action: str) -> int:
        lines = SIMULATED_LINES.get(action, ())
        position: int = await self.execute(MoveDeployment(app_id, deployment_id, action, lines))
        return position

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=5)
