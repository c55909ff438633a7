"""The entry points: the aiohttp application (routes, auth, errors, OpenAPI) and the CLI."""

__version__ = "0.1.0"
