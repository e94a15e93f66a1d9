"""The ASGI apps mounted next to the API: widget and review page (static), HubSpot CRM card, CORS.

The pages hold no logic of their own: they call the public API with the user's key. Headers let
the widget be framed only by the configured CRM origins (Content-Security-Policy frame-ancestors)
and keep every script and style same-origin (there is no CDN to reach anyway).
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

import anyio
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from features.errors import TerritoryError
from serving.errors import NotFound, error_response
from serving.hubspot import card_payload, verify_v3
from serving.settings import ServingSettings

STATIC = Path(__file__).parent / "static"


def _service():
    import bentoml

    return bentoml.get_current_service()


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


async def hubspot_card(request: Request) -> JSONResponse:
    """HubSpot CRM card data fetch: verify the v3 signature, answer with the card JSON."""
    try:
        service = _service()
        settings: ServingSettings = service.settings
        if settings.hubspot_client_secret is None:
            raise NotFound(
                "the HubSpot card is not configured: set TERRITORY_HUBSPOT_CLIENT_SECRET to "
                "the app's client secret."
            )
        body = await request.body()
        verify_v3(
            settings.hubspot_client_secret.get_secret_value(),
            method=request.method,
            uri=public_uri(request, settings.public_base_url),
            body=body,
            headers=request.headers,
            now_ms=int(time.time() * 1000),
            max_age_s=settings.hubspot_max_age_s,
        )
        params = request.query_params
        account_id = params.get(settings.hubspot_account_property) or params.get(
            "associatedObjectId"
        )
        if not account_id:
            raise NotFound(
                "no account id: the card request has neither "
                f"{settings.hubspot_account_property!r} nor "
                "associatedObjectId; add the property to the card's propertiesToSend."
            )
        card = await anyio.to_thread.run_sync(service.card_dict, account_id)
        object_id = params.get("associatedObjectId", account_id)
        base = (settings.public_base_url or f"{request.url.scheme}://{request.url.netloc}").rstrip(
            "/"
        )
        widget = f"{base}/widget/?account={quote(account_id)}"
        return JSONResponse(
            card_payload(card, int(object_id) if str(object_id).isdigit() else object_id, widget)
        )
    except TerritoryError as exc:
        return error_response(exc)


crm_app = Starlette(routes=[Route("/hubspot/card", hubspot_card, methods=["GET", "POST"])])
