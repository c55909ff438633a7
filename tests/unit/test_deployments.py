"""The deployment state machine and request rules, without a database: every move, legal or
not, from every status."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from ledger.deployments import (
    DEFAULT_TIERS,
    MOVES,
    Deployment,
    check_image,
    check_subdomain,
    parse_tiers,
)
from ledger.errors import ConflictError, ValidationError

AT = datetime(2026, 5, 22, 12, 0, tzinfo=UTC)
# How to reach each status from pending.
PATHS = {
    "pending": [],
    "provisioning": ["provision"],
    "running": ["provision", "start"],
    "stopped": ["provision", "start", "stop"],
    "failed": ["fail"],
    "destroyed": ["destroy"],
}
LEGAL = {
    "pending": {"provision", "fail", "destroy"},
    "provisioning": {"start", "fail", "destroy"},
    "running": {"stop", "restart", "fail", "destroy"},
    "stopped": {"restart", "fail", "destroy"},
    "failed": {"restart", "fail", "destroy"},
    "destroyed": set(),
}


def deployment_in(status: str) -> Deployment:
    deployment = Deployment(
        id=uuid4(),
        app_id=uuid4(),
        request={"subdomain": "unit-test"},
        billing_status="paid",
        charge_entry_id=None,
        at=AT,
    )
    for action in PATHS[status]:
        deployment.move(action, AT, [])
    assert deployment.status == status
    return deployment


@pytest.mark.parametrize("status", sorted(PATHS))
@pytest.mark.parametrize("action", sorted(MOVES))
def test_every_move_from_every_status(status: str, action: str) -> None:
    deployment = deployment_in(status)
    if action in LEGAL[status]:
        deployment.move(action, AT, [{"stream": "system", "line": "ok"}])
        assert deployment.status == MOVES[action][1]
    else:
        deployment.collect_events()  # what got it here
        with pytest.raises(ConflictError):
            deployment.move(action, AT, [])
        assert deployment.status == status
        assert deployment.collect_events() == []  # the refused move recorded nothing


def test_an_unknown_action_is_invalid() -> None:
    with pytest.raises(ValidationError):
        deployment_in("running").move("explode", AT, [])


@pytest.mark.parametrize("label", ["abc", "a-b", "x" * 63, "MiXeD-9"])
def test_subdomains_that_pass(label: str) -> None:
    assert check_subdomain(label) == label.lower()


@pytest.mark.parametrize("label", ["ab", "x" * 64, "-ab", "ab-", "a_b", "a.b", "", "é-ab"])
def test_subdomains_that_fail(label: str) -> None:
    with pytest.raises(ValidationError):
        check_subdomain(label)


@pytest.mark.parametrize(
    "image",
    ["harbor.buddo.xyz:4443/team/app:1", "docker.io/library/nginx", "ghcr.io/o/r@sha256:ab"],
)
def test_allowed_images(image: str) -> None:
    assert check_image(image) == image


@pytest.mark.parametrize(
    "image", ["nginx", "docker.io/other/nginx", "ghcr.io/", "ghcr.io/a b", "harbor.buddo.xyz/app"]
)
def test_refused_images(image: str) -> None:
    with pytest.raises(ValidationError):
        check_image(image)


def test_tiers_parse_from_a_setting() -> None:
    tiers = parse_tiers("starter:Starter:buddo_points:500:250:256,sat:Sats:bitcoin:9000:100:128")
    assert tiers[0] == DEFAULT_TIERS[0]
    assert (tiers[1].monthly_cost_points, tiers[1].monthly_cost_sats) == (0, 9000)
    for bad in (
        "starter:Starter:gold:5:1:1",
        "x:X:bitcoin:1:1",
        "a:A:bitcoin:1:1:1,a:A:bitcoin:1:1:1",
    ):
        with pytest.raises(ValueError, match=r"tier|must"):
            parse_tiers(bad)
