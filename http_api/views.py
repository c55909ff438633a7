"""JSON shapes of resources, in one place (spec section 4.1 fields)."""

from __future__ import annotations

from typing import Any

from projections.user_queries import UserView

REGISTER_FIELDS = (
    "id",
    "email",
    "username",
    "tier",
    "points",
    "referral_code",
    "email_verified",
    "registration_number",
)
LOGIN_FIELDS = ("id", "email", "username", "tier", "is_admin", "email_verified", "totp_enabled")
ME_FIELDS = (*REGISTER_FIELDS, "is_admin", "totp_enabled", "inserted_at", "updated_at")
ADMIN_FIELDS = (*ME_FIELDS, "suspended")


def user_json(user: UserView, fields: tuple[str, ...]) -> dict[str, Any]:
    """The named fields of a user, as the API shows them."""
    return {name: getattr(user, name) for name in fields}


def user_schema(fields: tuple[str, ...]) -> dict[str, Any]:
    """The JSON schema of a user shown with `fields`."""
    types = {
        "points": "integer",
        "registration_number": "integer",
        "is_admin": "boolean",
        "email_verified": "boolean",
        "totp_enabled": "boolean",
        "suspended": "boolean",
    }
    return {
        "type": "object",
        "required": list(fields),
        "properties": {name: {"type": types.get(name, "string")} for name in fields},
    }


def wrapped(key: str, schema: dict[str, Any]) -> dict[str, Any]:
    """`{key: schema}`: responses wrap their payload in a named key (spec section 1)."""
    return {"type": "object", "required": [key], "properties": {key: schema}}


MESSAGE_SCHEMA = wrapped("message", {"type": "string"})

# Building blocks of the route tables' JSON schemas.
STRING: dict[str, Any] = {"type": "string"}
NULLABLE: dict[str, Any] = {"type": ["string", "null"]}
INTEGER: dict[str, Any] = {"type": "integer"}


def object_schema(fields: dict[str, Any]) -> dict[str, Any]:
    """An object with exactly these properties, every one required."""
    return {"type": "object", "required": list(fields), "properties": fields}
