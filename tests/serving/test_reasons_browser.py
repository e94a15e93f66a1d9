"""Headless chromium: the review page's move row reads in business terms (revenue with the current
owner -> with the new owner, the net, one dominant chip), on a plan `territory plan` wrote.

Screenshots go to test-artifacts/serving/ (gitignored).
"""

from __future__ import annotations

import re

import httpx
import pytest

from tests.serving.fixtures.plans import run_plan_cli
from tests.serving.fixtures.servers import CHROMIUM_ARGS, Server

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def served_real_plan(base_env, crm_dir, scores_path, data_dir, tmp_path):
    """`territory plan --tradeoff` on the served world, served by `territory serve`."""
    plans = tmp_path / "plans"
    run_plan_cli(
        crm_dir,
        scores_path,
        data_dir,
        plans,
        "name: browser\nlimits:\n  workload_band: 0.3\n  potential_band: 0.3\n"
        "  max_moved_share: 0.15\nsolver:\n  time_limit_s: 12\n",
        "--tradeoff",
    )
    env = {**base_env, "TERRITORY_DECISIONS_URL": f"sqlite:///{tmp_path / 'decisions.db'}"}
    crm, scores = env.pop("TERRITORY_CRM_SOURCE"), env.pop("TERRITORY_SCORES_PATH")
    env.pop("TERRITORY_PLAN_DIR")
    server = Server(
        env,
        ["--data", crm, "--scores", scores, "--plan", str((plans / "current").resolve())],
        tmp_path / "server.log",
    )
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def test_move_row_shows_both_revenue_figures_the_net_and_one_chip(
    served_real_plan, chromium, keys, artifacts
):
    from playwright.sync_api import expect, sync_playwright

    api = httpx.post(
        f"{served_real_plan.url}/moves",
        json={"limit": 1},
        headers={"Authorization": f"Bearer {keys['manager']}"},
        timeout=30,
    ).json()
    top = api["moves"][0]
    x = top["explained"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{served_real_plan.url}/review/#key={keys['manager']}")
        row = page.locator(f'tr.move-row[data-account="{top["account_id"]}"]')
        expect(row).to_be_visible(timeout=20_000)
        now, new = row.locator(".rev-now").inner_text(), row.locator(".rev-new").inner_text()
        net = row.locator(".net").inner_text()
        assert now and new and now != new or x["revenue_now"] == x["revenue_new"]
        assert re.search(r"net [+-]?-?\$", net), net
        assert row.locator(".chip.dominant").count() == 1
        assert row.locator(".chip.dominant").inner_text() == x["dominant"]["text"]
        row.locator("button.expand").click()
        detail = page.locator("tr.detail .explained")
        expect(detail).to_contain_text("net effect on the plan")
        expect(detail).to_contain_text("Limits it serves")
        page.screenshot(path=artifacts / "review-move-explained.png", full_page=True)
        # the value-versus-moves panel draws the curve with this plan's budget marked
        panel = page.locator("#tradeoff")
        expect(panel.locator("svg.tradeoff")).to_be_visible(timeout=10_000)
        assert panel.locator("circle.chosen").count() == 1
        expect(panel).to_contain_text("15%")
        panel.screenshot(path=artifacts / "review-tradeoff-panel.png")
        browser.close()
    assert not errors, errors
