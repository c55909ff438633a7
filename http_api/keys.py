"""Typed application keys for what handlers share."""

from __future__ import annotations

from aiohttp import web

from http_api.wiring import Services

SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
