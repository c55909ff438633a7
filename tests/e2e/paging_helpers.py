"""The paging contract of spec section 1, checked over HTTP on any list: 50 to a page by
default, at most 200, an opaque cursor walked to the end, `next_cursor` null on the last page
even when it is full, and refusals of a bad limit or a cursor the service never issued."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from aiohttp.test_utils import TestClient

DEFAULT_PAGE = 50
FORGED_CURSORS = (
    "not-ours",
    base64.urlsafe_b64encode(b"k[1,2,3]").decode(),  # a key of another shape
    base64.urlsafe_b64encode(b"k" + b"[" * 2_000).decode(),  # nested past the parser's depth
)


def by_id(row: dict[str, Any]) -> Any:
    return row["id"]


def with_query(path: str, query: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}{query}"


async def page(
    client: TestClient,  # type: ignore[type-arg]
    path: str,
    auth: dict[str, str],
) -> dict[str, Any]:
    response = await client.get(path, headers=auth)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def walk(
    client: TestClient,  # type: ignore[type-arg]
    path: str,
    auth: dict[str, str],
    limit: int,
) -> list[dict[str, Any]]:
    """Every page of `path`, `limit` to a page, following `next_cursor` until it is null."""
    pages, cursor = [await page(client, with_query(path, f"limit={limit}"), auth)], None
    while (cursor := pages[-1]["next_cursor"]) is not None:
        pages.append(await page(client, with_query(path, f"limit={limit}&cursor={cursor}"), auth))
    return pages


async def assert_refuses_bad_paging(
    client: TestClient,  # type: ignore[type-arg]
    path: str,
    auth: dict[str, str],
) -> None:
    """limit 0 or above 200, and forged cursors, are refused with the error JSON."""
    for query in ("limit=0", "limit=201", *(f"cursor={forged}" for forged in FORGED_CURSORS)):
        response = await client.get(with_query(path, query), headers=auth)
        assert response.status in {400, 422}, (query, await response.text())
        body = await response.json()
        assert body["error"] == "validation_failed", (query, body)
        assert isinstance(body["message"], str)


async def assert_pages(
    client: TestClient,  # type: ignore[type-arg]
    path: str,
    auth: dict[str, str],
    key: str,
    expected: list[Any],
    ident: Callable[[dict[str, Any]], Any] = by_id,
) -> None:
    """`path` lists `expected` (by `ident`, in this order) under `key`, a page at a time."""
    assert DEFAULT_PAGE < len(expected) <= 2 * DEFAULT_PAGE
    assert len(expected) % 4 == 0
    first = await page(client, path, auth)
    assert [ident(row) for row in first[key]] == expected[:DEFAULT_PAGE]
    rest = await page(client, with_query(path, f"cursor={first['next_cursor']}"), auth)
    assert [ident(row) for row in rest[key]] == expected[DEFAULT_PAGE:]
    assert rest["next_cursor"] is None
    pages = await walk(client, path, auth, limit=4)
    assert [len(p[key]) for p in pages] == [4] * (len(expected) // 4)  # the last one full too
    assert [ident(row) for p in pages for row in p[key]] == expected
    await assert_refuses_bad_paging(client, path, auth)
