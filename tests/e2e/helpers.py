"""Helpers for end-to-end tests: a user who registers, reads mail, signs in over HTTP."""

from __future__ import annotations

import email
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

PASSWORD = "correct horse battery"


def outbox_codes(data_dir: Path, to: str) -> list[str]:
    """The one-time codes mailed to `to`, oldest first, read from the outbox."""
    codes = []
    for path in sorted((data_dir / "outbox").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes())
        if message["To"] != to:
            continue
        payload = message.get_payload(decode=True)
        assert isinstance(payload, bytes)
        lines = payload.decode().splitlines()
        codes.extend(line.strip() for line in lines if line.startswith("    ") and "." in line)
    return codes


@dataclass
class Person:
    """Someone using the API through `client`, keeping every secret they were sent."""

    client: TestClient  # type: ignore[type-arg]
    data_dir: Path
    email: str = ""
    username: str = ""
    password: str = PASSWORD
    token: str = ""
    user: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        tag = uuid.uuid4().hex[:10]
        self.email = self.email or f"person-{tag}@example.com"
        self.username = self.username or f"person_{tag}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def register(self) -> dict[str, Any]:
        response = await self.client.post(
            "/api/auth/register",
            json={"email": self.email, "password": self.password, "username": self.username},
        )
        assert response.status == 201, await response.text()
        self.user = (await response.json())["user"]
        return self.user

    async def verify_email(self) -> None:
        code = outbox_codes(self.data_dir, self.email)[-1]
        response = await self.client.post("/api/auth/verify-email", json={"token": code})
        assert response.status == 200, await response.text()

    async def login(self, **extra: str) -> dict[str, Any]:
        response = await self.client.post(
            "/api/auth/login", json={"email": self.email, "password": self.password, **extra}
        )
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        self.token = body["token"]
        return body

    async def signed_up(self) -> Person:
        await self.register()
        await self.verify_email()
        await self.login()
        return self
