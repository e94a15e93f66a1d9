"""Errors the service answers with a 4xx status: each says what happened and what to do next.

Why not bentoml.exceptions (the style guide's default)? BentoML 1.4 replaces the message of every
401/403 with "Authorization error" and wraps other 4xx bodies in a one-element list; callers of
this API need the message ("this endpoint needs role manager; your key has role rep"), so the
service turns these into JSON responses itself: {"error": message, "status": code}.
"""

from __future__ import annotations

import functools
import inspect

from features.errors import TerritoryError


class ServingError(TerritoryError):
    """Base class: `status` is the HTTP status the service answers with."""

    status = 400


class BadRequest(ServingError):
    """The request is well-formed JSON but asks for something impossible."""

    status = 400


class Unauthenticated(ServingError):
    """No credentials, or credentials nobody issued."""

    status = 401


class Forbidden(ServingError):
    """Valid credentials whose role or rep may not do this."""

    status = 403


class NotFound(ServingError):
    """An id (account, rep, move, contest) that does not exist here."""

    status = 404


class Conflict(ServingError):
    """The state changed since the caller read it (another manager decided first)."""

    status = 409


class PlannerFailed(ServingError):
    """The planner raised something that is not a scenario or data error (a bug: see the log)."""

    status = 500


class NotReady(ServingError):
    """The service has no model, scores or plan loaded yet."""

    status = 503
    retry_after_s = 10


class Unavailable(ServingError):
    """A dependency (the decisions database) is down: retry after `retry_after_s` seconds."""

    status = 503
    retry_after_s = 5


class TooLarge(ServingError):
    """The request body is over the service's size limit."""

    status = 413


# SQLSTATEs that mean "the database is not there for us" rather than "this query is wrong":
# connection (08), resources (53), operator intervention / statement timeout (57), no such
# database (3D000), permission revoked (42501), table dropped (42P01).
_DOWN_STATES = ("08", "53", "57", "3D000", "42501", "42P01")


def database_down(exc: BaseException) -> str | None:
    """A readable reason when `exc` says the database is unreachable or unusable, else None."""
    import sqlalchemy.exc as sa_exc

    if isinstance(exc, sa_exc.TimeoutError):
        return f"no database connection free within the pool timeout ({exc})"
    if not isinstance(exc, sa_exc.DBAPIError):
        return None
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or ""
    down = isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError) or (
        state.startswith(_DOWN_STATES)
    )
    if not down:
        return None
    first = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc).__name__
    return f"{first[:200]}" + (f" (SQLSTATE {state})" if state else "")


def find_nul(values, where: str = "") -> str | None:
    """The name of the first argument holding a NUL character (PostgreSQL text cannot store it)."""
    items = values.items() if isinstance(values, dict) else enumerate(values)
    for key, value in items:
        name = f"{where}.{key}" if where else str(key)
        if isinstance(value, str) and "\x00" in value:
            return name
        if isinstance(value, dict | list | tuple):
            found = find_nul(value, name)
            if found:
                return found
    return None


def error_status(exc: TerritoryError) -> int:
    """The HTTP status of a domain error: a ServingError's own, else 422 (the data or model
    cannot answer this request)."""
    return exc.status if isinstance(exc, ServingError) else 422


def error_response(exc: TerritoryError, ctx=None):
    """A JSON {"error", "status"} response; sets the status on a BentoML ctx too (BentoML copies
    ctx.response.status_code onto whatever an endpoint returns)."""
    from starlette.responses import JSONResponse

    status = error_status(exc)
    headers = {}
    retry = getattr(exc, "retry_after_s", None)
    if status == 503 and retry:
        headers["Retry-After"] = str(retry)
    if ctx is not None:
        ctx.response.status_code = status
        for name, value in headers.items():
            ctx.response.headers[name] = value
    return JSONResponse({"error": str(exc), "status": status}, status_code=status, headers=headers)


def _translate(exc: Exception, service) -> TerritoryError | None:
    """A database outage as Unavailable (and the service told, so /readyz says so); else None."""
    reason = database_down(exc)
    if reason is None:
        return None
    if service is not None and hasattr(service, "store_failed"):
        service.store_failed(reason)
    return Unavailable(
        f"the decisions database is unavailable: {reason}. Decisions, contests, the audit trail "
        f"and plan metrics need it; cards and scores do not. Retry in {Unavailable.retry_after_s} "
        "s; if it persists, check TERRITORY_DECISIONS_URL and the database server."
    )


def _check_arguments(kwargs: dict) -> None:
    bad = find_nul({k: v for k, v in kwargs.items() if k != "ctx"})
    if bad:
        raise BadRequest(
            f"{bad} contains a NUL character (\\x00), which no text field can store; "
            "remove it and retry."
        )


def answers_errors(func):
    """Turn domain errors raised by an endpoint into JSON 4xx responses (see above for why)."""
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def wrapper(*args, **kwargs):
            try:
                _check_arguments(kwargs)
                return await func(*args, **kwargs)
            except TerritoryError as exc:
                return error_response(exc, kwargs.get("ctx"))
            except Exception as exc:
                translated = _translate(exc, args[0] if args else None)
                if translated is None:
                    raise
                return error_response(translated, kwargs.get("ctx"))

        return wrapper

    @functools.wraps(func)
    def sync_wrapper(*args, **kwargs):
        try:
            _check_arguments(kwargs)
            return func(*args, **kwargs)
        except TerritoryError as exc:
            return error_response(exc, kwargs.get("ctx"))
        except Exception as exc:
            translated = _translate(exc, args[0] if args else None)
            if translated is None:
                raise
            return error_response(translated, kwargs.get("ctx"))

    return sync_wrapper


# -- the OpenAPI document: every status the API answers, in the shape it answers -------------------
_ERROR_SCHEMA = {
    "type": "object",
    "title": "Error",
    "required": ["error", "status"],
    "properties": {
        "error": {"type": "string", "description": "what happened, the values, what to do"},
        "status": {"type": "integer", "description": "the HTTP status, repeated"},
    },
}
# BentoML's own 400s: a validation failure with pydantic's detail list, or a one-element list.
_BAD_REQUEST_SCHEMA = {
    "title": "BadRequestError",
    "anyOf": [
        {"$ref": "#/components/schemas/Error"},
        {
            "type": "object",
            "required": ["error", "detail"],
            "properties": {
                "error": {"type": "string"},
                "detail": {"type": "array", "items": {"type": "object"}},
            },
        },
        {
            "type": "array",
            "items": {"type": "object", "properties": {"error": {"type": "string"}}},
        },
    ],
}
ERROR_STATUSES = {
    "400": ("Invalid JSON, a failed validation or an impossible ask", "BadRequestError"),
    "401": ("No API key, or a key nobody issued", "Error"),
    "403": ("The key's role or rep may not do this", "Error"),
    "404": ("An id (account, rep, move, plan) that does not exist here", "Error"),
    "409": ("The decision changed since the caller read it", "Error"),
    "413": ("The body is over TERRITORY_MAX_BODY_BYTES", "Error"),
    "422": ("The data or model cannot answer this request", "Error"),
    "500": ("A bug: see the server log", "Error"),
    "503": ("Not ready, or the decisions database is down: retry after Retry-After", "Error"),
}
_RETRY_AFTER = {
    "Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "string"}}
}
_PROBES = {"/livez", "/healthz", "/readyz", "/metrics"}


def document_errors(spec: dict) -> dict:
    """`spec` (BentoML's OpenAPI document) with every error status of every endpoint described
    as this service answers it ({"error", "status"}; BentoML's 400 shapes), and readiness's 503."""
    _nullable(spec)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    _refer_to_components(spec, schemas)
    schemas["Error"] = _ERROR_SCHEMA
    schemas["BadRequestError"] = _BAD_REQUEST_SCHEMA
    for path, item in spec.get("paths", {}).items():
        if path in _PROBES:
            continue
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            for code, (description, schema) in ERROR_STATUSES.items():
                responses[code] = {
                    "description": description,
                    "content": {
                        "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}
                    },
                    **({"headers": _RETRY_AFTER} if code == "503" else {}),
                }
    ready = spec.get("paths", {}).get("/readyz", {}).get("get")
    if ready is not None:
        ready["responses"]["503"] = {
            "description": "Not ready: the reason (nothing loaded, no plan, the database down)",
            "headers": _RETRY_AFTER,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    return spec


def _refer_to_components(spec: dict, schemas: dict) -> None:
    """BentoML inlines each body's schema with `X | None` flattened to X (a null the API sends
    then breaks the document), while components/schemas keeps the nullable copy: point every
    inline request and response body titled like a component at that component instead."""
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            bodies = [operation.get("requestBody", {})]
            bodies += list(operation.get("responses", {}).values())
            for body in bodies:
                media = body.get("content", {}).get("application/json", {})
                title = media.get("schema", {}).get("title")
                if title and title in schemas and "$ref" not in media["schema"]:
                    media["schema"] = {"$ref": f"#/components/schemas/{title}"}


def _nullable(node) -> None:
    """OpenAPI 3.0 has no {"type": "null"}: `anyOf: [X, null]` (pydantic's `X | None`) becomes
    X with `nullable: true`, so clients and validators accept the nulls the API sends."""
    if isinstance(node, list):
        for item in node:
            _nullable(item)
        return
    if not isinstance(node, dict):
        return
    options = node.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest = [o for o in options if o != {"type": "null"}]
        del node["anyOf"]
        if len(rest) == 1 and "$ref" not in rest[0]:
            node.update(rest[0])
        else:
            node["anyOf"] = rest
        node["nullable"] = True
    for value in list(node.values()):
        _nullable(value)
