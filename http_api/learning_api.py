"""Education (spec 7, `/api/btc-progress/*`): learning paths, steps, module status and reset."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from commands import learning
from http_api.authn import PRINCIPAL
from http_api.keys import SERVICES
from http_api.parsing import Body, Field, read_body
from http_api.routes import Handler, Route, Schema
from http_api.views import INTEGER, STRING, object_schema
from ledger.errors import NotFoundError
from ledger.learning import DEFAULT_PATH, LearningPath, catalog, learning_path
from projections import learning_queries

CHOOSE = Body({"path": Field("string", min_length=1, max_length=100)})
EMPTY = Body()
MAX_NUMBER = 10_000


def path_number(request: web.Request, name: str) -> int:
    """A positive integer path parameter; anything else is 404 (no such module or step)."""
    text = request.match_info[name]
    if not text.isdigit() or not 1 <= int(text) <= MAX_NUMBER:
        raise NotFoundError("No such module or step.")
    return int(text)


async def shown_path(request: web.Request) -> tuple[str | None, LearningPath]:
    """The caller's chosen path (or None), and the path to show: the chosen or the default."""
    chosen = await learning_queries.chosen_path(
        request.app[SERVICES].reads, request[PRINCIPAL].user_id
    )
    return chosen, learning_path(chosen or DEFAULT_PATH)


async def available_modules(request: web.Request) -> web.Response:
    chosen, path = await shown_path(request)
    progress = await learning_queries.modules(
        request.app[SERVICES].reads, request[PRINCIPAL].user_id
    )
    shown = [
        {
            "module_number": module.number,
            "title": module.title,
            "steps": len(module.steps),
            "points": module.points,
            "status": progress[module.number].status
            if module.number in progress
            else "not_started",
        }
        for module in path.modules
    ]
    return web.json_response(
        {"learning_path": chosen, "learning_paths": list(catalog()), "modules": shown}
    )


async def choose_path(request: web.Request) -> web.Response:
    body = await read_body(request, CHOOSE)
    await request.app[SERVICES].bus.execute(
        learning.ChooseLearningPath(request[PRINCIPAL].user_id, body["path"])
    )
    return web.json_response({"learning_path": body["path"], "status": "selected"})


async def complete_step(request: web.Request) -> web.Response:
    number, step = path_number(request, "n"), path_number(request, "step")
    await read_body(request, EMPTY)
    done: learning.StepCompletion = await request.app[SERVICES].bus.execute(
        learning.CompleteStep(request[PRINCIPAL].user_id, number, step)
    )
    return web.json_response(
        {
            "module_number": done.module_number,
            "step": done.step,
            "completed_steps": done.completed_steps,
            "module_completed": done.module_completed,
            "points_awarded": done.awarded,
        }
    )


async def module_status(request: web.Request) -> web.Response:
    number = path_number(request, "n")
    chosen, path = await shown_path(request)
    path.module(number)
    if chosen is None:
        found = learning_queries.ModuleProgress(number, "not_started", [], None)
    else:
        found = await learning_queries.module(
            request.app[SERVICES].reads, request[PRINCIPAL].user_id, number
        )
    return web.json_response(found.as_json())


async def reset_module(request: web.Request) -> web.Response:
    number = path_number(request, "n")
    await read_body(request, EMPTY)
    await request.app[SERVICES].bus.execute(
        learning.ResetModule(request[PRINCIPAL].user_id, number)
    )
    return web.json_response({"module_number": number, "status": "reset"})


STEPS = {"type": "array", "items": INTEGER}
STATUS = {"type": "string", "enum": ["not_started", "in_progress", "completed"]}


def _numbers(*names: str) -> tuple[Schema, ...]:
    return tuple(
        {"name": name, "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
        for name in names
    )


def _route(method: str, path: str, handler: Handler, summary: str, **extra: Any) -> Route:
    return Route(method, path, handler, summary, "education", auth="jwt", **extra)


MODULE = object_schema(
    {
        "module_number": INTEGER,
        "title": STRING,
        "steps": INTEGER,
        "points": INTEGER,
        "status": STATUS,
    }
)
LEARNING_ROUTES = [
    _route(
        "GET",
        "/api/btc-progress/available-modules",
        available_modules,
        "The learning paths, and the modules of the chosen one (or the default)",
        responses={
            200: object_schema(
                {
                    "learning_path": {"type": ["string", "null"]},
                    "learning_paths": {"type": "array", "items": STRING},
                    "modules": {"type": "array", "items": MODULE},
                }
            )
        },
    ),
    _route(
        "POST",
        "/api/btc-progress/learning-path",
        choose_path,
        "Choose a learning path (locked once a module was started)",
        request=CHOOSE.schema(),
        responses={200: object_schema({"learning_path": STRING, "status": STRING})},
    ),
    _route(
        "POST",
        "/api/btc-progress/module/{n}/step/{step}/complete",
        complete_step,
        "Complete a step; the module's first completion awards its points",
        parameters=_numbers("n", "step"),
        responses={
            200: object_schema(
                {
                    "module_number": INTEGER,
                    "step": INTEGER,
                    "completed_steps": STEPS,
                    "module_completed": {"type": "boolean"},
                    "points_awarded": INTEGER,
                }
            )
        },
    ),
    _route(
        "GET",
        "/api/btc-progress/module/{n}/status",
        module_status,
        "A module's status",
        parameters=_numbers("n"),
        responses={
            200: object_schema(
                {
                    "module_number": INTEGER,
                    "status": STATUS,
                    "completed_steps": STEPS,
                    "completed_at": {"type": ["string", "null"]},
                }
            )
        },
    ),
    _route(
        "POST",
        "/api/btc-progress/module/{n}/reset",
        reset_module,
        "Reset a completed module (24 hours after its completion)",
        parameters=_numbers("n"),
        responses={200: object_schema({"module_number": INTEGER, "status": STRING})},
    ),
]
