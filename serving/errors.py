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
