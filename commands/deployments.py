"""Deployment commands (spec 6.4): create (with the first month's charge), and lifecycle moves.

A points tier's charge is one `deployment_charge` entry (the app's account to revenue) saved in
the same transaction as the Deployment and the claim on its subdomain: an app that cannot pay
gets nothing, and two creates of one subdomain collide in the event store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError

from commands.journal import Journal
from commands.points import Idempotency, MovePoints
from commands.retry import with_retries
from commands.store import BuddoStore, get_as
from ledger.accounts import REVENUE, AccountKind, account_name
from ledger.claims import Claim, claim_id
from ledger.deployments import (
    Deployment,
    Tier,
    check_custom_domain,
    check_env_vars,
    check_image,
    check_port,
    check_subdomain,
    deployment_id_for_key,
)
from ledger.errors import IdempotencyConflictError, NotFoundError
from ledger.journal import EntryKind, Posting

Clock = Callable[[], datetime]
SUBDOMAIN = "subdomain"


@dataclass(frozen=True)
class CreateDeployment:
    app_id: UUID
    tier: Tier
    subdomain: str
    image: str
    port: int = 3000
    env_vars: dict[str, str] = field(default_factory=dict)
    custom_domain: str | None = None
    idempotency: Idempotency | None = None


@dataclass(frozen=True)
class DeploymentCreated:
    deployment_id: UUID
    position: int
    replayed: bool


@dataclass(frozen=True)
class MoveDeployment:
    """A lifecycle move (`provision`, `start`, `stop`, `restart`, `fail`, `destroy`) of an
    app's deployment, with the log lines (stream, line) the runtime wrote for it."""

    app_id: UUID
    deployment_id: UUID
    action: str
    lines: tuple[tuple[str, str], ...] = ()
    reason: str = ""


class DeploymentHandlers:
    """Create and move deployments; rules from the aggregates, never from read models."""

    def __init__(self, store: BuddoStore, journal: Journal, clock: Clock) -> None:
        self.store = store
        self.journal = journal
        self.clock = clock

    def table(self) -> dict[type, Callable[..., object]]:
        return {CreateDeployment: self.create, MoveDeployment: self.move}

    def deployment(self, deployment_id: UUID) -> Deployment | None:
        try:
            return get_as(self.store, deployment_id, Deployment)
        except (AggregateNotFoundError, TypeError):
            return None

    def claim(self, subdomain: str, holder: UUID) -> Claim:
        """Take the subdomain, or ConflictError if a live deployment holds it."""
        try:
            taken = get_as(self.store, claim_id(SUBDOMAIN, subdomain), Claim)
        except AggregateNotFoundError:
            return Claim(kind=SUBDOMAIN, value=subdomain, holder=holder)
        taken.reclaim(holder)
        return taken

    def create(self, command: CreateDeployment) -> DeploymentCreated:
        subdomain = check_subdomain(command.subdomain)
        image = check_image(command.image)
        env_vars = check_env_vars(command.env_vars)
        details: dict[str, Any] = {
            "tier": command.tier.as_json(),
            "subdomain": subdomain,
            "custom_domain": check_custom_domain(command.custom_domain),
            "image": image,
            "port": check_port(command.port),
            "env_var_names": sorted(env_vars),
        }
        key = command.idempotency
        deployment_id = deployment_id_for_key(key.scope, key.key) if key else uuid4()
        if command.tier.payment_method == "buddo_points":
            if key is not None:  # the journal replays a points tier's key; not a bitcoin one's
                self.keyed_prior(deployment_id, command.app_id, details)
            return self.create_paid(deployment_id, command, details)
        return self.create_unpaid(deployment_id, command, details)

    def keyed_prior(
        self, deployment_id: UUID, app_id: UUID, details: dict[str, Any]
    ) -> Deployment | None:
        """The deployment a key already made for this very request (on either kind of tier),
        if any; IdempotencyConflictError if the key made one for another request."""
        prior = self.deployment(deployment_id)
        if prior is not None:
            prior.check_app(app_id)
            if prior.request != details:  # the whole request, as a points tier's digest
                raise IdempotencyConflictError
        return prior

    def create_paid(
        self, deployment_id: UUID, command: CreateDeployment, details: dict[str, Any]
    ) -> DeploymentCreated:
        cost = command.tier.monthly_cost_points
        plan = MovePoints(
            kind=EntryKind.DEPLOYMENT_CHARGE,
            postings=(
                Posting(account_name(AccountKind.APP, command.app_id), -cost),
                Posting(REVENUE, cost),
            ),
            memo=f"Deployment {details['subdomain']}: first month of {command.tier.slug}",
            metadata={
                "deployment_id": str(deployment_id),
                "tier": command.tier.slug,
                "subdomain": details["subdomain"],
                "image": details["image"],
                "port": details["port"],
                "env_var_names": ",".join(details["env_var_names"]),
                "custom_domain": details["custom_domain"],
            },
            app_id=command.app_id,
            idempotency=command.idempotency,
        ).plan()

        def extras() -> list[Any]:
            deployment = Deployment(
                id=deployment_id,
                app_id=command.app_id,
                request=details,
                billing_status="paid",
                charge_entry_id=plan.entry_id,
                at=self.clock(),
            )
            return [self.claim(details["subdomain"], deployment_id), deployment]

        entry = self.journal.record(plan, extras=extras)
        return DeploymentCreated(deployment_id, entry.position, entry.replayed)

    def create_unpaid(
        self, deployment_id: UUID, command: CreateDeployment, details: dict[str, Any]
    ) -> DeploymentCreated:
        """A bitcoin tier: nothing is charged here (bitcoin billing is outside this service)."""

        def attempt() -> DeploymentCreated:
            if self.keyed_prior(deployment_id, command.app_id, details) is not None:
                return DeploymentCreated(deployment_id, self.store.max_position(), replayed=True)
            deployment = Deployment(
                id=deployment_id,
                app_id=command.app_id,
                request=details,
                billing_status="awaiting_payment",
                charge_entry_id=None,
                at=self.clock(),
            )
            claim = self.claim(details["subdomain"], deployment_id)
            return DeploymentCreated(deployment_id, self.store.record(claim, deployment), False)

        return with_retries(attempt)

    def move(self, command: MoveDeployment) -> int:
        lines = [{"stream": stream, "line": line} for stream, line in command.lines]

        def attempt() -> int:
            deployment = self.deployment(command.deployment_id)
            if deployment is None:
                raise NotFoundError("No such deployment.")
            deployment.check_app(command.app_id)
            deployment.move(command.action, self.clock(), lines, command.reason)
            changed: list[Any] = [deployment]
            if deployment.status == "destroyed":
                claim = get_as(self.store, claim_id(SUBDOMAIN, deployment.subdomain), Claim)
                claim.release()  # a destroyed deployment's subdomain may be used again
                changed.append(claim)
            return self.store.record(*changed)

        return with_retries(attempt)
