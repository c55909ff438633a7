"""Deployments (spec 6.4): tiers, the request's rules, and the lifecycle of one deployment.

    pending -> provisioning -> running <-> stopped     (restart: stopped/failed -> running)
    any but destroyed -> failed;  any but destroyed -> destroyed (final)

A move the table does not allow is a ConflictError (409); the aggregate decides it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from ledger.errors import ConflictError, NotFoundError, ValidationError
from ledger.ids import derived_id

IMAGE_PREFIXES = ("harbor.buddo.xyz:4443/", "docker.io/library/", "ghcr.io/")
IMAGE_PATTERN = re.compile(r"[a-z0-9][a-z0-9._/:@-]*")
SUBDOMAIN_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{1,61})[a-z0-9]")
HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
ENV_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
MAX_ENV_VARS = 50
MAX_ENV_VALUE = 4_096
MAX_IMAGE_LENGTH = 255
PAYMENT_METHODS = ("buddo_points", "bitcoin")
DEFAULT_PORT = 3000

# action -> (statuses it may start from, status it leads to)
MOVES: dict[str, tuple[frozenset[str], str]] = {
    "provision": (frozenset({"pending"}), "provisioning"),
    "start": (frozenset({"provisioning"}), "running"),
    "stop": (frozenset({"running"}), "stopped"),
    "restart": (frozenset({"running", "stopped", "failed"}), "running"),
    "fail": (frozenset({"pending", "provisioning", "running", "stopped", "failed"}), "failed"),
    "destroy": (
        frozenset({"pending", "provisioning", "running", "stopped", "failed"}),
        "destroyed",
    ),
}


@dataclass(frozen=True)
class Tier:
    """What a deployment may use and what it costs a month (configuration, not events)."""

    slug: str
    name: str
    payment_method: str
    monthly_cost_points: int
    monthly_cost_sats: int
    cpu_limit_millicores: int
    memory_limit_mb: int

    @property
    def id(self) -> UUID:
        return derived_id("deploy-tier", self.slug)

    def as_json(self) -> dict[str, Any]:
        return {"id": str(self.id), **asdict(self)}


DEFAULT_TIERS = (
    Tier("starter", "Starter", "buddo_points", 500, 0, 250, 256),
    Tier("pro", "Pro", "buddo_points", 2_000, 0, 1_000, 1_024),
    Tier("btc-basic", "Bitcoin Basic", "bitcoin", 0, 50_000, 500, 512),
)


def parse_tiers(text: str) -> tuple[Tier, ...]:
    """`slug:Name:buddo_points|bitcoin:cost:cpu_millicores:memory_mb,…` (ValueError if bad)."""
    tiers = []
    for part in text.split(","):
        fields = part.strip().split(":")
        if len(fields) != 6 or not all(f.isdigit() for f in fields[3:]):
            raise ValueError("must look like starter:Starter:buddo_points:500:250:256,…")
        slug, name, method, cost, cpu, memory = fields
        if method not in PAYMENT_METHODS or not re.fullmatch(r"[a-z0-9-]{1,40}", slug):
            raise ValueError(f"tier {slug!r}: a lowercase slug and buddo_points or bitcoin")
        points, sats = (int(cost), 0) if method == "buddo_points" else (0, int(cost))
        tiers.append(Tier(slug, name, method, points, sats, int(cpu), int(memory)))
    if len({tier.slug for tier in tiers}) != len(tiers):
        raise ValueError("tier slugs must be unique")
    return tuple(tiers)


def check_image(image: str) -> str:
    rest = next((image[len(p) :] for p in IMAGE_PREFIXES if image.startswith(p)), None)
    if rest is None:
        raise ValidationError({"image": [f"must start with one of {', '.join(IMAGE_PREFIXES)}"]})
    if len(image) > MAX_IMAGE_LENGTH or not IMAGE_PATTERN.fullmatch(rest):
        raise ValidationError({"image": ["is not a valid image reference"]})
    return image


def check_subdomain(subdomain: str) -> str:
    """A DNS label of 3 to 63 letters, digits and inner hyphens; kept in lower case."""
    label = subdomain.lower()
    if not SUBDOMAIN_PATTERN.fullmatch(label):
        raise ValidationError(
            {"subdomain": ["3 to 63 letters, digits or hyphens, not starting or ending with '-'"]}
        )
    return label


def check_custom_domain(domain: str | None) -> str | None:
    if domain is None:
        return None
    name = domain.lower().rstrip(".")
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(HOST_LABEL.fullmatch(x) for x in labels):
        raise ValidationError({"custom_domain": ["must be a domain name"]})
    return name


def check_env_vars(env_vars: dict[str, Any]) -> dict[str, str]:
    if len(env_vars) > MAX_ENV_VARS:
        raise ValidationError({"env_vars": [f"at most {MAX_ENV_VARS} keys"]})
    for name, value in env_vars.items():
        if not ENV_NAME_PATTERN.fullmatch(name):
            raise ValidationError({"env_vars": [f"{name!r} is not a variable name"]})
        if not isinstance(value, str) or len(value) > MAX_ENV_VALUE:
            raise ValidationError({"env_vars": [f"{name}: a string of at most {MAX_ENV_VALUE}"]})
    return dict(env_vars)


def check_port(port: int) -> int:
    if isinstance(port, bool) or not 1 <= port <= 65_535:
        raise ValidationError({"port": ["must be from 1 to 65535"]})
    return port


class Deployment(Aggregate):
    """One app's container: its request as made, then each lifecycle move with its log lines.
    Environment variable values go to the runtime only: the log keeps their names."""

    class Created(Aggregate.Created):
        """An app asked for a deployment (and paid the first month, on a points tier).
        `request`: tier (as configured then), subdomain, custom_domain, image, port and
        env_var_names."""

        app_id: UUID
        request: dict[str, Any]
        billing_status: str
        charge_entry_id: UUID | None
        at: datetime

    class Moved(Aggregate.Event):
        """The runtime moved the deployment (action), with the log lines it wrote."""

        action: str
        status: str
        at: datetime
        lines: list[dict[str, str]]
        reason: str

    @event(Created)
    def __init__(
        self,
        id: UUID,  # noqa: A002 - the library's name for an explicit aggregate id
        app_id: UUID,
        request: dict[str, Any],
        billing_status: str,
        charge_entry_id: UUID | None,
        at: datetime,
    ) -> None:
        self.app_id = app_id
        self.request = request
        self.subdomain = str(request["subdomain"])
        self.status = "pending"

    def check_app(self, app_id: UUID) -> None:
        """Another app's deployment does not exist for the caller."""
        if self.app_id != app_id:
            raise NotFoundError("No such deployment.")

    def move(
        self, action: str, at: datetime, lines: list[dict[str, str]], reason: str = ""
    ) -> None:
        """Make the move `action` if the status allows it (ConflictError if not)."""
        if action not in MOVES:
            raise ValidationError({"action": [f"unknown action {action!r}"]})
        allowed, target = MOVES[action]
        if self.status not in allowed:
            raise ConflictError(f"A {self.status} deployment cannot {action}.")
        self._moved(action, target, at, lines, reason)

    @event(Moved)
    def _moved(
        self, action: str, status: str, at: datetime, lines: list[dict[str, str]], reason: str
    ) -> None:
        self.status = status


def deployment_id_for_key(scope: str, key: str) -> UUID:
    """A keyed create's deployment id, the same on every retry."""
    return derived_id("deployment", scope, key)
