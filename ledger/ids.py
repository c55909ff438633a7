"""Deterministic ids: uniqueness is enforced by the event store through uuid5-derived ids."""

from __future__ import annotations

from uuid import UUID, uuid5

# Fixed for the life of the data: changing it would orphan every derived aggregate.
BUDDO_NAMESPACE = UUID("6f1c2a9e-3b7d-5c41-9a8e-2d4b6c8f0e13")


def derived_id(kind: str, *parts: str) -> UUID:
    """The id of the one aggregate of `kind` addressed by `parts` (e.g. an account name)."""
    return uuid5(BUDDO_NAMESPACE, "/".join((kind, *parts)))
