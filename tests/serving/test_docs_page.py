"""The API documentation page at `/`: the service's own OpenAPI as plain HTML, nothing loaded from
the internet (BentoML's Swagger page loads a tag manager and CDN assets)."""

from __future__ import annotations

import re

import httpx
import pytest

from serving.docs_page import render_docs

EXTERNAL = re.compile(r"""(src|href)\s*=\s*["']?(https?:)?//""", re.IGNORECASE)


def test_render_docs_lists_every_operation_and_escapes_text():
    page = render_docs(
        {
            "info": {"title": "Territory", "description": "a <b>service</b>"},
            "paths": {"/card": {"post": {"summary": "The card", "responses": {"200": {}}}}},
        }
    )
    assert "<code>/card</code> The card" in page and "a &lt;b&gt;service&lt;/b&gt;" in page
    assert "<script" not in page and not EXTERNAL.search(page)


@pytest.mark.integration
@pytest.mark.slow
def test_served_docs_page_loads_no_third_party_script(served):
    for path in ("/", "/docs"):
        response = httpx.get(served.url + path, timeout=30)
        assert response.status_code == 200, response.text[:500]
        page = response.text
        assert response.headers["content-type"].startswith("text/html")
        assert "<script" not in page.lower(), page[:500]
        assert not EXTERNAL.search(page), EXTERNAL.search(page)
        assert "default-src 'none'" in response.headers["content-security-policy"]
        for route in ("/card", "/decide", "/moves", "/score"):
            assert f"<code>{route}</code>" in page
    spec = httpx.get(served.url + "/docs.json", timeout=30)
    assert spec.status_code == 200 and "/card" in spec.json()["paths"]
