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


def error_status(exc: TerritoryError) -> int:
    """The HTTP status of a domain error: a ServingError's own, else 422 (the data or model
    cannot answer this request)."""
    return exc.status if isinstance(exc, ServingError) else 422


def error_response(exc: TerritoryError, ctx=None):
    """A JSON {"error", "status"} response; sets the status on a BentoML ctx too (BentoML copies
    ctx.response.status_code onto whatever an endpoint returns)."""
    from starlette.responses import JSONResponse

    status = error_status(exc)
    if ctx is not None:
        ctx.response.status_code = status
    return JSONResponse({"error": str(exc), "status": status}, status_code=status)


def answers_errors(func):
    """Turn domain errors raised by an endpoint into JSON 4xx responses (see above for why)."""
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def wrapper(*args, **kwargs):
            try:
                return await func(*args, **kwargs)
            except TerritoryError as exc:
                return error_response(exc, kwargs.get("ctx"))

        return wrapper

    @functools.wraps(func)
    def sync_wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except TerritoryError as exc:
            return error_response(exc, kwargs.get("ctx"))

    return sync_wrapper
