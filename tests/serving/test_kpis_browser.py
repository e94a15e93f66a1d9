"""Headless chromium against the real server: the KPI page draws its tiles, charts and table.

Screenshots go to test-artifacts/serving/ (gitignored).
"""

from __future__ import annotations

import pytest

from tests.serving.test_browser import watch_errors

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]


def test_kpi_page_draws_trend_distribution_and_table(served, browser, keys, artifacts, tables):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1440, "height": 1100})
    errors = watch_errors(page)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{served.url}/kpis/#key={keys['manager']}")
    expect(page.locator("body[data-loaded=yes]")).to_have_count(1, timeout=30_000)
    expect(page.locator("#tiles .tile")).to_have_count(8)
    expect(page.locator("#trend svg.trend rect.bar").first).to_be_visible()
    expect(page.locator("#distribution svg.dist line.median")).to_have_count(1)
    expect(page.locator("#distribution svg.dist rect.bar").first).to_be_attached()
    rows = page.locator("#table tbody tr.group")
    reps_with_books = tables.current_owners().nunique()
    assert rows.count() >= reps_with_books
    assert page.locator("#table tr.company td").first.inner_text() == "company"
    page.screenshot(path=artifacts / "kpis-by-rep.png", full_page=True)

    page.locator('#dist-tabs button[data-metric="win_rate"]').click()
    expect(page.locator("#dist-tabs button.active")).to_have_text("Win rate")
    page.locator("#by").select_option("region")
    page.locator("#freq").select_option("MS")
    page.locator("#controls button[type=submit]").click()
    expect(page.locator("#period-line")).to_contain_text("by region", timeout=30_000)
    regions = tables.accounts["region"].dropna().nunique()
    expect(page.locator("#table tbody tr.group")).to_have_count(regions)
    assert page.locator("#trend svg.trend rect.bar").count() >= 8  # months now, not quarters
    page.screenshot(path=artifacts / "kpis-by-region-monthly.png", full_page=True)
    assert all(url.startswith(served.url) for url in requests), "the page fetched off-origin"
    assert errors == []


def test_goals_panel_shows_goals_and_a_manager_sets_one(served, browser, keys, artifacts, plan_dir):
    from playwright.sync_api import expect

    from models.planning import read_plan_folder

    reps = read_plan_folder(plan_dir).plan.assignments["rep_id"].nunique()
    page = browser.new_page(viewport={"width": 1440, "height": 1400})
    errors = watch_errors(page)
    page.goto(f"{served.url}/kpis/#key={keys['manager']}")
    expect(page.locator("body[data-goals=yes]")).to_have_count(1, timeout=60_000)
    expect(page.locator("#goals tbody tr")).to_have_count(reps)
    assert "intervals" in page.locator("#goals-line").inner_text()
    assert page.locator("#outcomes").inner_text().startswith("Not measurable yet")
    first = page.locator("#goals tbody tr").first
    rep = first.get_attribute("data-rep")
    first.locator("input[type=number]").fill("250000")
    first.locator("button").click()
    expect(page.locator("#goals-error")).to_contain_text("note")
    first = page.locator(f'#goals tbody tr[data-rep="{rep}"]')
    first.locator("input[type=number]").fill("250000")
    first.locator("input[type=text]").fill("ramping new hire")
    first.locator("button").click()
    row = page.locator(f'#goals tbody tr[data-rep="{rep}"]')
    expect(row).to_contain_text("ramping new hire", timeout=30_000)
    expect(row.locator("input[type=number]")).to_have_value("250000")
    assert row.locator("td").last.inner_text() != "100%"  # attainment against the new goal
    page.screenshot(path=artifacts / "kpis-goals.png", full_page=True)
    assert [e for e in errors if "400" not in e] == []  # the refused edit is a 400 by design
