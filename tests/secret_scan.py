"""A scan of everything the service stored, for secrets that crossed the wire in usable form."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator

import psycopg

from http_api.settings import Settings


def _text(value: object) -> str:
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _sqlite_cells(path: str) -> Iterator[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        tables = [
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):  # noqa: S608 - names from the catalog
                yield from ((table, _text(value)) for value in row)


def _postgres_cells(url: str) -> Iterator[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        ]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"').fetchall():  # noqa: S608
                yield from ((table, _text(value)) for value in row)


def stored_cells(settings: Settings) -> Iterator[tuple[str, str]]:
    """(table, cell as text) for every cell of every table of the service's database."""
    if settings.backend == "postgres":
        return _postgres_cells(settings.database_url)
    return _sqlite_cells(str(settings.sqlite_path))


def assert_secrets_not_stored(settings: Settings, secrets: Iterable[str]) -> None:
    """Fail naming the table if any of `secrets` appears in any stored event or row."""
    wanted = {secret for secret in secrets if secret}
    assert wanted, "the scan needs at least one secret to look for"
    found = [
        (table, secret)
        for table, cell in stored_cells(settings)
        for secret in wanted
        if secret in cell
    ]
    assert not found, f"secrets stored in usable form: {[(t, s[:6] + '…') for t, s in found]}"
