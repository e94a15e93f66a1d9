"""Headless chromium: the widget opened from a HubSpot card action signs the rep in with the
widget token (no API key anywhere); an altered token lands on the sign-in form with the reason."""

from __future__ import annotations

import time

import pytest

from tests.serving.test_browser import watch_errors

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]


def card_action_uri(url: str, account: str, email: str, crm_id: str) -> str:
    import httpx

    from serving.hubspot import sign_v3
    from tests.serving.fixtures.clients import HUBSPOT_SECRET

    query = f"associatedObjectId={crm_id}&userId=1&userEmail={email}&portalId=1"
    timestamp = str(int(time.time() * 1000))
    path = "/crm/hubspot/app-card"
    signature = sign_v3(HUBSPOT_SECRET, "GET", f"{url}{path}?{query}", b"", timestamp)
    response = httpx.get(
        f"{url}{path}?{query}",
        headers={"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": timestamp},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()["results"][0]["actions"][0]["uri"]


def test_card_action_opens_the_widget_signed_in_by_token(served, browser, plan_moves, tables):
    from playwright.sync_api import expect

    move = plan_moves.iloc[0]
    reps = tables.reps.set_index("rep_id")
    crm_id = tables.accounts.set_index("account_id").loc[move["account_id"], "crm_id"]
    uri = card_action_uri(served.url, move["account_id"], reps.loc[move["from_rep_id"], "email"],
                          crm_id)  # fmt: skip
    assert "#token=tt1." in uri and "key=" not in uri
    page = browser.new_page(viewport={"width": 360, "height": 900})
    errors = watch_errors(page)
    page.goto(uri)
    expect(page.locator(".reasons li").first).to_be_visible(timeout=20_000)
    expect(page.locator("#login")).to_be_hidden()
    assert "token=" not in page.url  # moved to sessionStorage, off the address bar
    assert not errors, errors

    altered = uri.split("#token=")[0] + "#token=tt1.e30.AAAA"
    other = browser.new_page(viewport={"width": 360, "height": 900})
    other.goto(altered)
    expect(other.locator("#login")).to_be_visible(timeout=20_000)
    expect(other.locator("#login-error")).to_contain_text("does not match")
