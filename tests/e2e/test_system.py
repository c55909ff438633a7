"""Health, the OpenAPI document and the error JSON, over real HTTP on both backends."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from http_api import __version__


async def test_health_names_the_store_and_the_lag(client: TestClient, backend: str) -> None:  # type: ignore[type-arg]
    response = await client.get("/health")
    assert response.status == 200
    assert await response.json() == {
        "status": "ok",
        "store": backend,
        "version": __version__,
        "projection_lag": 0,
        "runtime": "simulated",
    }


async def test_the_openapi_document_lists_exactly_the_routes(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/.well-known/openapi.json")
    document = await response.json()
    served = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    routed = {
        (route.method, route.resource.canonical)
        for route in client.app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    assert document["openapi"].startswith("3.1")
    assert served == routed


async def test_an_unknown_path_is_error_json(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/no/such/thing")
    assert response.status == 404
    assert await response.json() == {"error": "not_found", "message": "No such resource."}


async def test_a_wrong_method_is_error_json_with_allow(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.delete("/health")
    assert response.status == 405
    assert (await response.json())["error"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]
