"""Request bodies and query strings, checked against one declaration that is also OpenAPI.

A `Body` lists its fields; `read_body` refuses anything else before a handler sees it: a wrong
content type, bytes that are not JSON, NaN, a name repeated in an object, deep nesting, a
non-object, unknown or missing fields, wrong types, out-of-range values, NUL and other control
characters, lone surrogates.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl
from uuid import UUID

from aiohttp import web

from http_api.errors import InvalidRequestError
from ledger.errors import NotFoundError, ValidationError

MAX_DEPTH = 16
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Bidirectional overrides and isolates (they make text read other than it is stored) and
# Unicode noncharacters: refused in every string, as control characters are.
ODD_UNICODE = re.compile("[\u202a-\u202e\u2066-\u2069\ufdd0-\ufdef\ufffe\uffff]")
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Field:
    """One field: its JSON type and the limits a value must keep."""

    kind: str  # string, integer, boolean, uuid, object, array
    required: bool = True
    min_length: int | None = None
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    enum: tuple[str, ...] = ()
    nullable: bool = False
    max_items: int | None = None
    description: str = ""

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": _JSON_TYPES[self.kind]}
        if self.kind == "uuid":
            schema["format"] = "uuid"
        limits = {
            "minLength": self.min_length,
            "maxLength": self.max_length,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "maxItems": self.max_items,
            "maxProperties": self.max_items,
        }
        schema |= {
            key: value
            for key, value in limits.items()
            if value is not None and _applies(key, self.kind)
        }
        if self.enum:
            schema["enum"] = list(self.enum)
        if self.kind == "array":
            schema["items"] = {"type": "string", "maxLength": 200}
        if self.kind == "object":
            schema["additionalProperties"] = {"type": ["string", "integer", "boolean", "null"]}
        if self.nullable:
            schema["type"] = [schema["type"], "null"]
        if self.description:
            schema["description"] = self.description
        return schema

    def check(self, value: object) -> list[str]:
        """The problems with `value` (empty when it is acceptable)."""
        if value is None:
            return [] if self.nullable else ["must not be null"]
        checker = _CHECKS[self.kind]
        return checker(self, value)


_JSON_TYPES = {
    "string": "string",
    "uuid": "string",
    "integer": "integer",
    "boolean": "boolean",
    "object": "object",
    "array": "array",
}


def _applies(key: str, kind: str) -> bool:
    by_kind = {
        "minLength": {"string"},
        "maxLength": {"string"},
        "minimum": {"integer"},
        "maximum": {"integer"},
        "maxItems": {"array"},
        "maxProperties": {"object"},
    }
    return kind in by_kind[key]


def _check_text(text: str) -> list[str]:
    if CONTROL.search(text):
        return ["must not contain control characters"]
    if ODD_UNICODE.search(text):
        return ["must not contain bidirectional overrides or noncharacters"]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return ["must be valid Unicode"]
    return []


def _check_string(spec: Field, value: object) -> list[str]:
    if not isinstance(value, str):
        return ["must be a string"]
    if spec.min_length is not None and len(value) < spec.min_length:
        return [f"must be at least {spec.min_length} characters"]
    if spec.max_length is not None and len(value) > spec.max_length:
        return [f"must be at most {spec.max_length} characters"]
    if spec.enum and value not in spec.enum:
        return [f"must be one of {', '.join(spec.enum)}"]
    return _check_text(value)


def _check_uuid(spec: Field, value: object) -> list[str]:  # noqa: ARG001
    if not isinstance(value, str):
        return ["must be a UUID string"]
    try:
        UUID(value)
    except ValueError:
        return ["must be a UUID string"]
    return []


def _check_integer(spec: Field, value: object) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int):
        return ["must be an integer"]
    if spec.minimum is not None and value < spec.minimum:
        return [f"must be at least {spec.minimum}"]
    if spec.maximum is not None and value > spec.maximum:
        return [f"must be at most {spec.maximum}"]
    return []


def _check_boolean(spec: Field, value: object) -> list[str]:  # noqa: ARG001
    return [] if isinstance(value, bool) else ["must be true or false"]


def _check_object(spec: Field, value: object) -> list[str]:
    if not isinstance(value, dict):
        return ["must be an object"]
    if spec.max_items is not None and len(value) > spec.max_items:
        return [f"must have at most {spec.max_items} keys"]
    for key, item in value.items():
        if isinstance(item, dict | list | float):
            return ["must be a flat object of strings, integers, booleans or null"]
        problems = _check_text(key) + (_check_text(item) if isinstance(item, str) else [])
        if problems:
            return problems
    return []


def _check_array(spec: Field, value: object) -> list[str]:
    if not isinstance(value, list):
        return ["must be an array"]
    if spec.max_items is not None and len(value) > spec.max_items:
        return [f"must have at most {spec.max_items} items"]
    for item in value:
        if not isinstance(item, str) or len(item) > 200:
            return ["must be an array of short strings"]
        if problems := _check_text(item):
            return problems
    return []


_CHECKS = {
    "string": _check_string,
    "uuid": _check_uuid,
    "integer": _check_integer,
    "boolean": _check_boolean,
    "object": _check_object,
    "array": _check_array,
}


@dataclass(frozen=True)
class Body:
    """A request body: its fields, and whether a form body is accepted as well as JSON."""

    fields: Mapping[str, Field] = field(default_factory=dict)
    accepts_form: bool = False
    #: OAuth protocol endpoints ignore parameters they do not know (RFC 6749 3.1, 3.2)
    ignores_unknown: bool = False

    def schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {name: spec.schema() for name, spec in self.fields.items()},
            "required": [name for name, spec in self.fields.items() if spec.required],
            "additionalProperties": self.ignores_unknown,
        }

    def check(self, data: dict[str, Any]) -> dict[str, Any]:
        problems: dict[str, list[str]] = {}
        if self.ignores_unknown:
            data = {name: value for name, value in data.items() if name in self.fields}
        for name in data:
            if name not in self.fields:
                problems[name] = ["is not a field of this request"]
        for name, spec in self.fields.items():
            if name not in data:
                if spec.required:
                    problems[name] = ["is required"]
            elif found := spec.check(data[name]):
                problems[name] = found
        if problems:
            raise ValidationError(problems)
        return data


def _depth(value: object, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def _refuse_constant(name: str) -> None:
    raise InvalidRequestError(f"{name} is not valid JSON.")


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # RFC 8259 4 leaves a repeated name to each parser: one reader could see the first value
    # and another the last. Refused, as a repeated form field or query parameter is.
    names = {name for name, _ in pairs}
    if len(names) != len(pairs):
        raise InvalidRequestError("A name is repeated in a JSON object.")
    return dict(pairs)


def parse_json(raw: bytes) -> object:
    """Strict JSON: UTF-8, no NaN or Infinity, no repeated names, no deep nesting."""
    try:
        data = json.loads(
            raw.decode("utf-8"), parse_constant=_refuse_constant, object_pairs_hook=_unique_names
        )
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise InvalidRequestError("The body is not valid JSON.") from None
    if _depth(data) > MAX_DEPTH:
        raise InvalidRequestError("The body is nested too deeply.")
    return data


async def read_body(request: web.Request, body: Body) -> dict[str, Any]:
    """The checked body of `request` (JSON, or a form where `body` accepts one)."""
    content_type = request.content_type
    raw = await request.read()
    if content_type == FORM and body.accepts_form:
        pairs = parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
        if len({k for k, _ in pairs}) != len(pairs):
            raise InvalidRequestError("A form field is repeated.")
        return body.check(dict(pairs))
    if content_type != JSON:
        if not raw and not body.fields:
            return {}
        raise InvalidRequestError(f"Content-Type must be {JSON}.")
    data = parse_json(raw) if raw or body.fields else {}
    if not isinstance(data, dict):
        raise InvalidRequestError("The body must be a JSON object.")
    return body.check(data)


def query_value(request: web.Request, name: str) -> str | None:
    """One query parameter; repeating it is refused."""
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise InvalidRequestError(f"The query parameter {name} is repeated.")
    if values and (problems := _check_text(values[0])):
        raise ValidationError({name: problems})
    return values[0] if values else None


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high]."""
    text = query_value(request, name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise ValidationError({name: [f"must be an integer from {low} to {high}"]})
    return int(text)


def path_uuid(request: web.Request, name: str) -> UUID:
    """A UUID path parameter; anything else is 404 (no such resource)."""
    try:
        return UUID(request.match_info[name])
    except ValueError:
        raise NotFoundError("No such resource.") from None
