"""The ASGI apps mounted next to the API: widget and review page (static), HubSpot CRM card, CORS.

The pages hold no logic of their own: they call the public API with the user's key. Headers let
the widget be framed only by the configured CRM origins (Content-Security-Policy frame-ancestors)
and keep every script and style same-origin (there is no CDN to reach anyway).
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.card_fast import serve_card
from serving.errors import (
    TooLarge,
    Unauthenticated,
    Unavailable,
    document_errors,
    error_response,
)
from serving.settings import ServingSettings

STATIC = Path(__file__).parent / "static"


def _service():
    return _current_service_getter()()


@functools.cache
def _current_service_getter():
    import bentoml  # bentoml's attributes are lazy: look the function up once, not per request

    return bentoml.get_current_service


class CrmCorsMiddleware(CORSMiddleware):
    """CORS for the configured CRM origins only (TERRITORY_CORS_ORIGINS); none by default."""

    def __init__(self, app: ASGIApp) -> None:
        origins = ServingSettings().cors_origins
        super().__init__(
            app,
            allow_origins=origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key"],
            max_age=600,
        )


class PageHeaders:
    """Security headers on static pages; `embeddable` pages may be framed by the CRM origins."""

    def __init__(self, app: ASGIApp, *, embeddable: bool) -> None:
        self.app = app
        self.embeddable = embeddable
        self._ancestors: str | None = None

    def _frame_ancestors(self) -> str:
        if self._ancestors is None:
            origins = _service().settings.embed_origins if self.embeddable else []
            self._ancestors = " ".join(["'self'", *origins])
        return self._ancestors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self'; frame-ancestors {self._frame_ancestors()}"
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", csp.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"cache-control", b"no-cache"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _static_app(folder: str, *, embeddable: bool) -> ASGIApp:
    app = Starlette(
        routes=[Mount("/", StaticFiles(directory=STATIC / folder, html=True, check_dir=False))]
    )
    return PageHeaders(app, embeddable=embeddable)


widget_app = _static_app("widget", embeddable=True)
review_app = _static_app("review", embeddable=False)


def public_uri(request: Request, public_base_url: str | None) -> str:
    """The URL the caller used, as HubSpot signed it: scheme://host/path?query, query untouched."""
    scope = request.scope
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope.get("root_path", "") + scope["path"]
    if "?" in path:  # some servers keep the query in raw_path
        path = path.split("?", 1)[0]
    base = (
        public_base_url
        or f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
    ).rstrip("/")
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{base}{path}?{query}" if query else f"{base}{path}"


async def hubspot_card(request: Request):
    """HubSpot card data fetch: serving/crm_routes.py (signature, signed-in rep, token actions)."""
    from serving.crm_routes import hubspot_card as answer

    return await answer(request)


async def salesforce_canvas(request: Request):
    """Salesforce Canvas signed request: serving/crm_routes.py."""
    from serving.crm_routes import salesforce_canvas as answer

    return await answer(request)


crm_app = Starlette(
    routes=[
        Route("/hubspot/card", hubspot_card, methods=["GET", "POST"]),
        Route("/hubspot/app-card", hubspot_card, methods=["GET", "POST"]),
        Route("/salesforce/canvas", salesforce_canvas, methods=["POST"]),
    ]
)


# -- the guard in front of everything: probes, the key check and the size limit -------------------
def _json(status: int, body: dict, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


class GuardMiddleware:
    """Runs before BentoML touches a request:

    - /livez answers at once (the process is up; it never waits on a dependency);
    - /readyz answers from what loading and the store watcher last saw, with the reason and a
      Retry-After when not ready (no I/O, so a slow database cannot hang the probe);
    - every API call (POST outside /crm, which HubSpot signs instead) must carry a known key
      before its body is read, so a caller without a key cannot make the server parse anything;
    - bodies over TERRITORY_MAX_BODY_BYTES are refused with 413, whether announced by
      Content-Length or streamed;
    - POST /card goes to serving/card_fast.py, which answers the plain case from the card cache
      and hands everything else to the endpoint.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if path == "/livez":
            await _json(200, {"alive": True})(scope, receive, send)
            return
        service = _current_service_or_none()
        if path == "/readyz":
            await _readiness(service)(scope, receive, send)
            return
        if path == "/docs.json":
            await self.app(scope, receive, _documented(send))
            return
        if method != "POST" or service is None:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        limit = service.settings.max_body_bytes
        refused = _refuse_early(service, path, headers, limit)
        if refused is not None:
            await refused(scope, receive, send)
            return
        state: dict = {}

        def guarded(scope: Scope, receive: Receive, send: Send):
            return self.app(scope, _limited(receive, limit, state), _swap_if_over(send, state))

        if path == "/card":  # the hot read path: answered from the card cache when it can be
            await serve_card(service, headers, scope, receive, send, guarded)
            return
        await guarded(scope, receive, send)


def _documented(send: Send) -> Send:
    """Rewrite BentoML's OpenAPI document on its way out (errors.document_errors)."""
    start: dict = {}
    chunks: list[bytes] = []

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
            return
        if message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body"):
            return
        body = b"".join(chunks)
        if start.get("status") == 200:
            body = json.dumps(document_errors(json.loads(body))).encode()
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return wrapped


def _current_service_or_none():
    try:
        return _service()
    except Exception:  # noqa: BLE001 - not started yet (lifespan still running)
        return None


def _readiness(service) -> JSONResponse:
    if service is None:
        ready, reason = False, "starting: the service instance is not built yet"
    else:
        ready, reason = service.health()
    refresher = getattr(service, "refresher", None)  # serving/watch.py: reloads, drift, age
    details = {"details": refresher.details()} if refresher is not None else {}
    if ready:
        return _json(200, {"ready": True, **details})
    retry = {"Retry-After": str(Unavailable.retry_after_s)}
    return _json(503, {"error": f"not ready: {reason}", "status": 503, **details}, retry)


def _refuse_early(service, path: str, headers: dict[str, str], limit: int) -> JSONResponse | None:
    """401 without a known key (API calls), 413 when Content-Length is over the limit."""
    if not path.startswith("/crm/"):
        try:
            service.keys.authenticate(headers)
        except Unauthenticated as exc:
            return error_response(exc)
    length = headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        return error_response(_too_large(limit, int(length)))
    return None


def _too_large(limit: int, size: int | None = None) -> TooLarge:
    sent = f"{size} bytes" if size is not None else "more than that"
    return TooLarge(
        f"request body is {sent}; the limit is {limit} bytes (TERRITORY_MAX_BODY_BYTES). "
        "Send fewer ids per call (bulk endpoints take up to 500)."
    )


def _limited(receive: Receive, limit: int, state: dict) -> Receive:
    """`receive` that stops reading once a streamed body passes the limit (the app then sees a
    disconnect, and _swap_if_over answers 413 in place of whatever it says)."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        if state.get("over"):
            return {"type": "http.disconnect"}
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                state["over"] = limit
                return {"type": "http.disconnect"}
        return message

    return wrapped


def _swap_if_over(send: Send, state: dict) -> Send:
    async def wrapped(message: Message) -> None:
        if "over" not in state:
            await send(message)
            return
        if message["type"] == "http.response.start":
            exc = _too_large(state["over"])
            body = json.dumps({"error": str(exc), "status": 413}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 413,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})

    return wrapped


# -- logs: one line per event, nothing a caller sends can start a line ---------------------------
class OneLineLogs(logging.Filter):
    """Client mistakes (validation errors, bad JSON) as one WARNING line without a traceback; CR
    and LF in any message escaped, so a JSON key with a newline cannot forge a log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        summary = _client_error(exc) if exc is not None else None
        if summary is not None:
            record.msg, record.args = f"{record.getMessage()}: {summary}", ()
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        message = record.getMessage()
        if "\n" in message or "\r" in message:
            record.msg = message.replace("\r", "\\r").replace("\n", "\\n")
            record.args = ()
        if exc is not None and summary is None and record.exc_info:
            record.exc_text = _escaped_traceback(record.exc_info)
        return True


def _client_error(exc: BaseException) -> str | None:
    from bentoml.exceptions import BentoMLException
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(repr(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]]
        return f"{exc.error_count()} validation error(s) ({'; '.join(parts)})"
    if isinstance(exc, BentoMLException) and int(exc.error_code) < 500:
        return f"{type(exc).__name__} {int(exc.error_code)}: {exc}"
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
        return f"unreadable body: {exc}"
    from starlette.requests import ClientDisconnect

    if isinstance(exc, ClientDisconnect):
        return "body not read to the end (client gone, or over TERRITORY_MAX_BODY_BYTES: 413)"
    return None


def _escaped_traceback(exc_info) -> str:
    """The traceback with the exception's own message on one line (it may quote the request)."""
    import traceback

    lines = traceback.format_exception(*exc_info)
    last = lines[-1].rstrip("\n").replace("\r", "\\r").replace("\n", "\\n")
    return "".join(lines[:-1]) + last


_HYGIENE = OneLineLogs()


def install_log_hygiene() -> None:
    """Put OneLineLogs on BentoML's request-error logger and every handler already configured."""
    logging.getLogger("bentoml._internal.server.http_app").addFilter(_HYGIENE)
    loggers = [
        logging.getLogger(),
        *(logging.getLogger(name) for name in list(logging.root.manager.loggerDict)),
    ]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if _HYGIENE not in handler.filters:
                handler.addFilter(_HYGIENE)
