"""The API documentation page at `/`: plain HTML rendered from the service's own OpenAPI document.

BentoML's default page is Swagger UI, which loads a tag manager and assets from the internet; this
page loads nothing from anywhere (no script at all), so it works offline and leaks no visit.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOC_PATHS = frozenset({"/", "/docs"})
OPENAPI_PATH = "/docs.json"
STYLE = (
    "body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
    "code,pre{font:13px ui-monospace,monospace;background:#f4f4f4;padding:.1rem .3rem}"
    "pre{padding:.6rem;overflow:auto}section{border-top:1px solid #ddd;padding:.4rem 0}"
    ".m{display:inline-block;min-width:3.5rem;font-weight:600}"
)


def render_docs(openapi: dict[str, Any]) -> str:
    """The page: title, links to the pages and the JSON, then one section per endpoint."""
    info = openapi.get("info", {})
    title = escape(str(info.get("title", "API")))
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{title}: API</title><style>{STYLE}</style></head><body>",
        f"<h1>{title} API</h1><p>{escape(str(info.get('description', '')))}</p>",
        "<p>Pages: <a href=/review/>review</a> · <a href=/widget/>widget</a> · "
        "<a href=/kpis/>KPIs</a> · OpenAPI JSON: <a href=/docs.json>/docs.json</a>. "
        "Calls take <code>Authorization: Bearer KEY</code> "
        "(<code>territory keys create</code>).</p>",
    ]
    for path, methods in sorted(openapi.get("paths", {}).items()):
        for method, op in methods.items():
            parts.append(_operation(path, method, op if isinstance(op, dict) else {}))
    parts.append("</body></html>")
    return "".join(parts)


def _operation(path: str, method: str, op: dict[str, Any]) -> str:
    summary = escape(str(op.get("summary") or op.get("description") or ""))
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    schema = body.get("schema")
    detail = (
        f"<details><summary>request schema</summary><pre>{escape(json.dumps(schema, indent=1))}"
        "</pre></details>"
        if schema
        else ""
    )
    codes = ", ".join(escape(str(c)) for c in op.get("responses", {}))
    return (
        f"<section id='{escape(method + path)}'><span class=m>{escape(method.upper())}</span>"
        f"<code>{escape(path)}</code> {summary}<br><small>responses: {codes}</small>{detail}"
        "</section>"
    )


class DocsPageMiddleware:
    """Answers GET / and /docs with `render_docs` of the app's own /docs.json."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] not in DOC_PATHS
            or scope["method"] not in {"GET", "HEAD"}
        ):
            await self.app(scope, receive, send)
            return
        status, body = await self._openapi(scope)
        if status != 200:
            html, code = f"<p>OpenAPI document unavailable ({status}).</p>", 503
        else:
            html, code = render_docs(json.loads(body)), 200
        payload = html.encode()
        await send(
            {
                "type": "http.response.start",
                "status": code,
                "headers": [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"content-security-policy", b"default-src 'none'; style-src 'unsafe-inline'"),
                ],
            }
        )
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else payload}
        )

    async def _openapi(self, scope: Scope) -> tuple[int, bytes]:
        """Ask the wrapped app for /docs.json, as a client would."""
        inner = {**scope, "path": OPENAPI_PATH, "raw_path": OPENAPI_PATH.encode(), "method": "GET"}
        inner["query_string"] = b""
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(inner, receive, capture)
        return int(start.get("status", 500)), b"".join(chunks)
