"""Settings: one frozen dataclass, read once from the environment, failing fast on a bad value."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import psycopg.conninfo

from commands.store import StoreConfig

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
        psycopg.conninfo.conninfo_to_dict(text)  # raises on a malformed URL
    return text


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
            raise SettingsError(f"{name}={text!r} is invalid: {error}") from None
    unknown = sorted(
        k
        for k in environ
        if k.startswith("BUDDO_") and not k.startswith("BUDDO_TEST_") and k not in SETTINGS
    )
    if unknown:
        raise SettingsError(f"unknown setting(s): {', '.join(unknown)}")
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]
