"""The review page's freshness and drift panel, in headless chromium against a real server whose
drift report (planted drift, written as `territory retrain` writes it) shows an alert."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.drift import drift_report
from tests.serving.fixtures.servers import CHROMIUM_ARGS, running_server
from tests.serving.test_browser import watch_errors

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def drifted_server(base_env, tmp_path):
    rng = np.random.default_rng(1)
    reference = pd.DataFrame(
        {"employees": rng.lognormal(4, 1, 3000), "industry": rng.choice(["retail", "energy"], 3000)}
    )
    current = reference.assign(employees=reference["employees"] * 5)
    current.loc[:300, "industry"] = "biotech"
    report = drift_report(reference, current, ["employees", "industry"])
    report.update(reference_as_of="2025-06-30", current_as_of="2026-06-30")
    drift = tmp_path / "drift.json"
    import json

    drift.write_text(json.dumps(report))
    with running_server(
        base_env, tmp_path, "reload-browser-server.log", TERRITORY_DRIFT_PATH=str(drift)
    ) as server:
        yield server


def test_review_page_shows_freshness_and_drift(drifted_server, chromium, keys, artifacts):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            errors = watch_errors(page)
            page.goto(f"{drifted_server.url}/review/#key={keys['manager']}")
            panel = page.locator("#freshness-panel")
            expect(panel.locator("#drift table.drift-table")).to_be_visible(timeout=20_000)
            expect(panel).to_contain_text("Drift: alert")
            first = panel.locator("#drift tbody tr").first
            expect(first).to_contain_text("employees")
            expect(first).to_contain_text("alert")
            expect(panel).to_contain_text("alert ≥ 0.25")
            expect(panel).to_contain_text("Scores made")
            # the served world's latest record is months old: past the 30-day default
            expect(panel.locator(".fresh-warning").first).to_contain_text("days old")
            page.screenshot(path=artifacts / "review-freshness-drift.png", full_page=True)
            assert not errors, errors
        finally:
            browser.close()
