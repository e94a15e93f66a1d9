"""Errors the service answers with a 4xx status: each says what happened and what to do next.

Why not bentoml.exceptions (the style guide's default)? BentoML 1.4 replaces the message of every
401/403 with "Authorization error" and wraps other 4xx bodies in a one-element list; callers of
this API need the message ("this endpoint needs role manager; your key has role rep"), so the
service turns these into JSON responses itself: {"error": message, "status": code}.
"""

from __future__ import annotations

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
