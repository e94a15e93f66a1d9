"""Headless chromium against the real server: approve on the review page, reload, open the widget.

Screenshots go to test-artifacts/serving/ (gitignored).
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]


def watch_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on(
        "console",
        lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None,
    )
    return errors


def test_review_approve_persists_and_widget_shows_reasons(
    served, browser, keys, plan_moves, artifacts, unscored
):
    from playwright.sync_api import expect

    rep_account = plan_moves.iloc[0]["account_id"]  # the move the rep key may contest
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    errors = watch_errors(page)
    page.goto(f"{served.url}/review/#key={keys['manager']}")
    rows = page.locator("tr.move-row")
    expect(rows.first).to_be_visible(timeout=20_000)
    expect(page.locator("#chart svg.bars")).to_be_visible()
    # the plan is not approved yet: the outcomes panel says so instead of showing a figure
    expect(page.locator("#outcomes-text")).to_contain_text("Not measurable yet", timeout=20_000)
    assert page.locator("#goals-link").get_attribute("href") == "/kpis/"
    page.screenshot(path=artifacts / "review-queue.png", full_page=True)

    account = next(
        a for a in rows.evaluate_all("rs => rs.map(r => r.dataset.account)") if a != rep_account
    )
    row = page.locator(f'tr.move-row[data-account="{account}"]')
    row.locator("input.note-input").fill("approved in the browser test")
    row.locator("button.approve").click()
    expect(page.locator(f'tr.move-row[data-account="{account}"] .pill.approved')).to_be_visible()
    page.locator(f'tr.move-row[data-account="{account}"] button.expand').click()
    expect(page.locator("tr.detail .drivers li").first).to_be_visible()
    expect(page.locator("tr.detail")).to_contain_text("approved in the browser test")
    page.screenshot(path=artifacts / "review-approved-expanded.png", full_page=True)

    page.reload()
    expect(page.locator(f'tr.move-row[data-account="{account}"] .pill.approved')).to_be_visible(
        timeout=20_000
    )
    expect(page.locator("#counts .count.approved strong")).to_have_text("1")
    page.screenshot(path=artifacts / "review-after-reload.png", full_page=True)

    widget = browser.new_page(viewport={"width": 360, "height": 900})
    errors += watch_errors(widget)
    widget.goto(f"{served.url}/widget/?account={rep_account}#key={keys['rep']}")
    reasons = widget.locator(".reasons li")
    expect(reasons.first).to_be_visible(timeout=20_000)
    assert reasons.count() >= 1 and all(text.strip() for text in reasons.all_inner_texts())
    expect(widget.locator(".move")).to_contain_text(
        plan_moves.iloc[0]["to_rep_id"][:0]
    )  # renders the move box
    expect(widget.locator(".gauge")).to_be_visible()
    widget.screenshot(path=artifacts / "widget-360.png", full_page=True)
    widget.locator("#contest-open").click()
    widget.locator("#contest-reason").fill("I am closing a renewal with them next month")
    widget.locator("#contest-form button[type=submit]").click()
    expect(widget.locator("#contest-status")).to_contain_text("Sent")
    widget.set_viewport_size({"width": 320, "height": 900})
    assert widget.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    widget.screenshot(path=artifacts / "widget-320-contested.png", full_page=True)

    page.reload()
    expect(page.locator("#contests li").first).to_contain_text("renewal", timeout=20_000)
    page.locator("#scenario").fill(
        '{"limits": {"workload_band": null, "potential_band": null, "max_moved_share": 0.2},'
        ' "solver": {"time_limit_s": 5}}'
    )
    page.locator("#preview").click()
    expect(page.locator("#comparison table.compare")).to_be_visible(timeout=120_000)
    expect(page.locator("#comparison")).to_contain_text("expected value / yr")
    page.locator("#comparison").scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "review-scenario-comparison.png", full_page=True)

    new = browser.new_page(viewport={"width": 400, "height": 900})
    errors += watch_errors(new)
    new.goto(f"{served.url}/widget/?account={unscored[0]}#key={keys['manager']}")
    expect(new.locator(".pill.computed")).to_have_text("computed on request", timeout=20_000)
    expect(new.locator(".reasons li").first).to_be_visible()
    new.screenshot(path=artifacts / "widget-400-computed-on-request.png", full_page=True)
    assert errors == []
