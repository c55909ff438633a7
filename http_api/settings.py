"""Settings: one frozen dataclass, read once from the environment, failing fast on a bad value."""

from __future__ import annotations

import base64
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import psycopg.conninfo

from commands.store import StoreConfig
from ledger.deployments import DEFAULT_TIERS, Tier, parse_tiers

T = TypeVar("T")


class SettingsError(ValueError):
    """A setting has a value the service cannot run with."""


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with the embedded default (SQLite in ./data) for each."""

    data_dir: Path = Path("data")
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    store_threads: int = 8
    read_pool_size: int = 8
    store_timeout: float = 5.0
    max_body_bytes: int = 65_536
    log_level: str = "INFO"
    wait_timeout: float = 2.0
    request_timeout: float = 30.0
    keepalive_timeout: float = 75.0
    shutdown_timeout: float = 10.0
    jwt_secret: str = field(default="", repr=False)
    jwt_algorithm: str = "HS256"
    jwt_lifetime: int = 7 * 24 * 3600
    secret_key: str = field(default="", repr=False)
    token_key: str = field(default="", repr=False)
    audit_key: str = field(default="", repr=False)
    smtp_url: str = field(default="", repr=False)
    mail_from: str = "Buddo <no-reply@buddo.local>"
    redis_url: str = field(default="", repr=False)
    trusted_proxies: frozenset[str] = frozenset()
    rate_limits: dict[str, tuple[int, int]] = field(default_factory=dict)
    public_url: str = ""
    introspection_requires_client: bool = False
    group_commit_max: int = 100
    group_commit_window_ms: int = 0
    chat_word_filter: tuple[str, ...] = ()
    deploy_tiers: tuple[Tier, ...] = DEFAULT_TIERS
    deploy_step_seconds: float = 1.0

    @property
    def group_commit(self) -> tuple[int, float] | None:
        """(largest batch, longest gathering in seconds), or None when group commit is off."""
        if self.group_commit_max == 0:
            return None
        return self.group_commit_max, self.group_commit_window_ms / 1000

    @property
    def issuer(self) -> str:
        """The service's own base URL (OAuth issuer, links in mail)."""
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def backend(self) -> str:
        return (
            "postgres"
            if self.database_url.startswith(("postgres://", "postgresql://"))
            else "sqlite"
        )

    @property
    def sqlite_path(self) -> Path:
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///"))
        return self.data_dir / "buddo.sqlite"

    def postgres_conninfo(self) -> dict[str, str]:
        """libpq keywords for the database URL."""
        info = psycopg.conninfo.conninfo_to_dict(self.database_url)
        return {key: str(value) for key, value in info.items() if value is not None}

    def store_config(self) -> StoreConfig:
        if self.backend == "postgres":
            return StoreConfig(
                backend="postgres",
                postgres=self.postgres_conninfo(),
                pool_size=self.store_threads,
                timeout_seconds=self.store_timeout,
            )
        return StoreConfig(
            backend="sqlite",
            sqlite_path=str(self.sqlite_path),
            pool_size=self.store_threads,
            timeout_seconds=self.store_timeout,
        )


def _integer(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise ValueError(f"must be from {low} to {high}")
        return value

    return parse


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= 3600:
        raise ValueError("must be a number of seconds above 0 and at most 3600")
    return value


def _log_level(text: str) -> str:
    level = text.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
    return level


def _database_url(text: str) -> str:
    scheme = urlsplit(text).scheme
    if scheme not in {"postgres", "postgresql", "sqlite"}:
        raise ValueError("must start with postgresql:// or sqlite:///")
    if scheme == "sqlite" and not text.startswith("sqlite:///"):
        raise ValueError("a SQLite URL is sqlite:///path/to/file")
    if scheme != "sqlite":
        try:
            psycopg.conninfo.conninfo_to_dict(text)
        except psycopg.Error:
            raise ValueError("is not a valid PostgreSQL URL") from None
    return text


def _jwt_secret(text: str) -> str:
    if len(text) < 32:
        raise ValueError("must be at least 32 characters")
    return text


def _algorithm(text: str) -> str:
    if text not in {"HS256", "EdDSA"}:
        raise ValueError("must be HS256 or EdDSA")
    return text


def _secret_key(text: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ValueError("must be 32 bytes, base64url-encoded")
    return text


def _smtp_url(text: str) -> str:
    from http_api.mailer import parse_smtp_url  # noqa: PLC0415 - avoids an import cycle

    parse_smtp_url(text)
    return text


def _redis_url(text: str) -> str:
    if urlsplit(text).scheme not in {"redis", "rediss", "unix"}:
        raise ValueError("must start with redis://, rediss:// or unix://")
    return text


def _addresses(text: str) -> frozenset[str]:
    addresses = frozenset(part.strip() for part in text.split(",") if part.strip())
    for address in addresses:
        ipaddress.ip_address(address)
    return addresses


def _rate_limits(text: str) -> dict[str, tuple[int, int]]:
    """`login=10/60,register=5/3600`: count per window of seconds, by limit name."""
    limits = {}
    for part in text.split(","):
        name, _, rule = part.strip().partition("=")
        count, _, seconds = rule.partition("/")
        if not name or not count.isdigit() or not seconds.isdigit() or int(seconds) < 1:
            raise ValueError("must look like login=10/60,register=5/3600")
        limits[name] = (int(count), int(seconds))
    return limits


def _introspection_auth(text: str) -> bool:
    if text not in {"optional", "required"}:
        raise ValueError("must be optional or required")
    return text == "required"


def _public_url(text: str) -> str:
    if urlsplit(text).scheme not in {"http", "https"} or text.endswith("/"):
        raise ValueError("must be an http(s) URL without a trailing slash")
    return text


def _word_list(text: str) -> tuple[str, ...]:
    words = tuple(sorted({word.strip() for word in text.split(",") if word.strip()}))
    if any(len(word) > 50 or not word.isprintable() for word in words):
        raise ValueError("must be comma-separated printable words of at most 50 characters")
    return words


def _step_seconds(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 60:
        raise ValueError("must be a number of seconds from 0 to 60")
    return value


# Settings whose values are never repeated in an error message.
SECRET_SETTINGS = frozenset(
    {
        "BUDDO_DATABASE_URL",
        "BUDDO_JWT_SECRET",
        "BUDDO_SECRET_KEY",
        "BUDDO_TOKEN_KEY",
        "BUDDO_AUDIT_KEY",
        "BUDDO_SMTP_URL",
        "BUDDO_REDIS_URL",
    }
)

# Setting name -> (Settings field, parser). docs/operations.md lists the same table.
SETTINGS: dict[str, tuple[str, Callable[[str], object]]] = {
    "BUDDO_DATA_DIR": ("data_dir", Path),
    "BUDDO_DATABASE_URL": ("database_url", _database_url),
    "BUDDO_HOST": ("host", str),
    "BUDDO_PORT": ("port", _integer(1, 65_535)),
    "BUDDO_STORE_THREADS": ("store_threads", _integer(1, 64)),
    "BUDDO_READ_POOL_SIZE": ("read_pool_size", _integer(1, 64)),
    "BUDDO_STORE_TIMEOUT": ("store_timeout", _seconds),
    "BUDDO_MAX_BODY_BYTES": ("max_body_bytes", _integer(1_024, 16_777_216)),
    "BUDDO_LOG_LEVEL": ("log_level", _log_level),
    "BUDDO_WAIT_TIMEOUT": ("wait_timeout", _seconds),
    "BUDDO_REQUEST_TIMEOUT": ("request_timeout", _seconds),
    "BUDDO_KEEPALIVE_TIMEOUT": ("keepalive_timeout", _seconds),
    "BUDDO_SHUTDOWN_TIMEOUT": ("shutdown_timeout", _seconds),
    "BUDDO_JWT_SECRET": ("jwt_secret", _jwt_secret),
    "BUDDO_JWT_ALGORITHM": ("jwt_algorithm", _algorithm),
    "BUDDO_JWT_LIFETIME": ("jwt_lifetime", _integer(60, 90 * 24 * 3600)),
    "BUDDO_SECRET_KEY": ("secret_key", _secret_key),
    "BUDDO_TOKEN_KEY": ("token_key", _secret_key),
    "BUDDO_AUDIT_KEY": ("audit_key", _secret_key),
    "BUDDO_SMTP_URL": ("smtp_url", _smtp_url),
    "BUDDO_MAIL_FROM": ("mail_from", str),
    "BUDDO_REDIS_URL": ("redis_url", _redis_url),
    "BUDDO_TRUSTED_PROXIES": ("trusted_proxies", _addresses),
    "BUDDO_RATE_LIMITS": ("rate_limits", _rate_limits),
    "BUDDO_PUBLIC_URL": ("public_url", _public_url),
    "BUDDO_INTROSPECTION_AUTH": ("introspection_requires_client", _introspection_auth),
    "BUDDO_GROUP_COMMIT_MAX": ("group_commit_max", _integer(0, 1_000)),
    "BUDDO_GROUP_COMMIT_WINDOW_MS": ("group_commit_window_ms", _integer(0, 50)),
    "BUDDO_CHAT_WORD_FILTER": ("chat_word_filter", _word_list),
    "BUDDO_DEPLOY_TIERS": ("deploy_tiers", parse_tiers),
    "BUDDO_DEPLOY_STEP_SECONDS": ("deploy_step_seconds", _step_seconds),
}


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Read every BUDDO_* setting; raise SettingsError naming the first bad one."""
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for name, (attribute, parse) in SETTINGS.items():
        text = environ.get(name)
        if text is None or text == "":
            continue
        try:
            values[attribute] = parse(text)
        except ValueError as error:
            shown = name if name in SECRET_SETTINGS else f"{name}={text!r}"
            raise SettingsError(f"{shown} is invalid: {error}") from None
    unknown = sorted(
        k
        for k in environ
        if k.startswith("BUDDO_") and not k.startswith("BUDDO_TEST_") and k not in SETTINGS
    )
    if unknown:
        raise SettingsError(f"unknown setting(s): {', '.join(unknown)}")
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]
