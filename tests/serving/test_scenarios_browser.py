"""Headless chromium against real servers: build two scenarios in the form, watch their progress,
compare them with the status quo, adopt one; the map (markers counted in the DOM) on the
Scenarios and review pages, with and without geography; a rep's own book.

One server per world for the whole module (a small world: the session's 300 accounts).
Screenshots go to test-artifacts/serving/ (gitignored).
"""

from __future__ import annotations

import shutil

import httpx
import pandas as pd
import pytest

from tests.serving.fixtures.servers import Server

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]


def start_server(base_env, data_dir, tmp, crm, scores, plan, name) -> Server:
    env = {
        **base_env,
        "TERRITORY_DECISIONS_URL": f"sqlite:///{tmp / 'decisions.db'}",
        "TERRITORY_DATA_DIR": str(tmp / "data"),
        "TERRITORY_MLFLOW_TRACKING_URI": f"sqlite:///{(data_dir / 'mlflow.db').resolve()}",
    }
    for key in ("TERRITORY_CRM_SOURCE", "TERRITORY_SCORES_PATH", "TERRITORY_PLAN_DIR"):
        env.pop(key)
    args = ["--data", str(crm), "--scores", str(scores), "--plan", str(plan)]
    return Server(env, args, tmp / f"{name}.log")


@pytest.fixture(scope="module")
def servers(base_env, data_dir, crm_dir, scores_path, plan_dir, tmp_path_factory, artifacts):
    """The world with geography, and a copy whose accounts have no coordinates (like Maven)."""
    flat = tmp_path_factory.mktemp("no-geo")
    shutil.copytree(crm_dir, flat / "crm", ignore=shutil.ignore_patterns("scores*", "plan*"))
    accounts = pd.read_csv(flat / "crm" / "accounts.csv", dtype=str)
    accounts["latitude"] = accounts["longitude"] = ""
    accounts.to_csv(flat / "crm" / "accounts.csv", index=False)
    geo_tmp = tmp_path_factory.mktemp("geo")
    started = {
        "geo": start_server(base_env, data_dir, geo_tmp, crm_dir, scores_path, plan_dir, "geo"),
        "flat": start_server(base_env, data_dir, flat, flat / "crm", scores_path, plan_dir, "flat"),
    }
    try:
        for server in started.values():
            server.wait_ready(timeout_s=240)
        yield started
    finally:
        for name, server in started.items():
            server.stop()
            shutil.copy(server.log, artifacts / f"scenarios-{name}-server.log")


def watch_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on(
        "console",
        lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None,
    )
    return errors


def placed(tables) -> int:
    acc = tables.accounts
    return int((acc["latitude"].notna() & acc["longitude"].notna()).sum())


def fill_scenario(page, name: str, moved_pct: int) -> None:
    page.locator("#s-name").fill(name)
    page.locator("#s-no-bands").check()
    page.locator("#s-moved").fill(str(moved_pct))
    page.locator("#s-time-limit").fill("5")
    page.locator("#save-solve").click()


def api(server, key, path, body=None):
    response = httpx.post(
        f"{server.url}{path}", json=body or {}, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_rep_sees_only_their_own_book(servers, browser, keys, plan_moves, artifacts):
    from playwright.sync_api import expect

    server = servers["geo"]
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    errors = watch_errors(page)
    page.goto(f"{server.url}/rep/#key={keys['rep']}")
    expect(page.locator("#call-plan li.call").first).to_be_visible(timeout=30_000)
    assert 1 <= page.locator("#call-plan li.call").count() <= 10
    leaving = plan_moves.loc[plan_moves["from_rep_id"] == keys["rep_id"], "account_id"]
    for account in leaving:
        expect(page.locator(f'#leaving li[data-account="{account}"]')).to_contain_text("proposed")
    expect(page.locator(".band-bar .band")).to_be_visible()
    expect(page.locator("#workload")).to_contain_text("Band")
    page.screenshot(path=artifacts / "rep-book.png", full_page=True)
    mine = page.locator("#call-plan li.call").all_inner_texts()
    page.goto(f"{server.url}/rep/?rep={keys['other_rep_id']}#key={keys['rep']}")  # ignored
    expect(page.locator("#call-plan li.call").first).to_be_visible(timeout=20_000)
    assert page.locator("#call-plan li.call").all_inner_texts() == mine
    response = httpx.post(
        f"{server.url}/rep_book",
        json={"rep_id": keys["other_rep_id"]},
        headers={"Authorization": f"Bearer {keys['rep']}"},
    )
    assert response.status_code == 403 and "only open their own" in response.json()["error"]
    assert errors == []


def test_build_watch_compare_adopt_and_map(servers, browser, keys, tables, artifacts):
    from playwright.sync_api import expect

    server = servers["geo"]
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    errors = watch_errors(page)
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{server.url}/scenarios/#key={keys['manager']}")
    expect(page.locator("#s-departures option").first).to_be_attached(timeout=30_000)
    fill_scenario(page, "wide bands", 20)
    row = page.locator("tr.job", has_text="wide bands")
    expect(row).to_be_visible(timeout=20_000)
    expect(row.locator("progress")).to_be_attached()
    page.screenshot(path=artifacts / "scenarios-progress.png", full_page=True)
    fill_scenario(page, "few moves", 5)
    for name in ("wide bands", "few moves"):
        expect(page.locator("tr.job.done", has_text=name)).to_be_visible(timeout=240_000)
    assert page.locator("tr.job.done progress").first.get_attribute("value") == "1"
    for name in ("wide bands", "few moves"):
        page.locator("tr.job.done", has_text=name).locator("input.pick").check()
    page.locator("#compare").click()
    table = page.locator("#comparison table.compare-table")
    expect(table).to_be_visible(timeout=30_000)
    headers = table.locator("thead th").all_inner_texts()
    assert headers[1:] == ["Today (status quo)", "wide bands", "few moves"]
    expect(table).to_contain_text("high-potential coverage")
    assert page.locator("#comparison tr.differs").count() > 0
    picked = page.locator("tr.job.done input.pick:checked").evaluate_all(
        "boxes => boxes.map(b => b.closest('tr').dataset.job)"
    )
    result = api(server, keys["manager"], "/scenario_compare", {"job_ids": picked})
    assert page.locator("#comparison tr.rep-delta").count() == len(result["reps"]) > 1
    assert page.locator("#comparison tr.differs").count() == result["differing"]["shown"]
    svg = page.locator("#scenario-map svg.territory-map")
    expect(svg).to_be_visible(timeout=30_000)
    assert svg.locator("circle.account").count() == placed(tables)
    assert svg.locator("circle.account.moved").count() > 0
    assert svg.locator("path.rep-home").count() == int(tables.reps["home_latitude"].notna().sum())
    page.locator("#scenario-map button.map-before").click()
    assert svg.locator("line.move-line").count() == 0  # moves are drawn on the planned view
    page.locator("#scenario-map select.map-region").select_option(index=1)
    assert 0 < page.locator("#scenario-map circle.account").count() < placed(tables)
    page.locator("#comparison-panel").scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "scenarios-compare-map.png", full_page=True)

    wide = page.locator("tr.job.done", has_text="wide bands")
    job_id = wide.get_attribute("data-job")
    wide.locator("button.adopt").click()
    expect(page.locator("#banner")).to_contain_text("Adopted", timeout=60_000)
    status = api(server, keys["manager"], "/status")
    assert status["plan_id"] != "" and "-v0001-" in status["plan_id"]
    job = api(server, keys["manager"], "/scenario_job", {"job_id": job_id})
    assert job["adopted_plan_id"] == status["plan_id"]
    moves = api(server, keys["manager"], "/moves", {"limit": 1})
    assert moves["total"] == job["summary"]["moves"]
    page.screenshot(path=artifacts / "scenarios-adopted.png", full_page=True)

    review = browser.new_page(viewport={"width": 1440, "height": 1100})
    errors += watch_errors(review)
    review.goto(f"{server.url}/review/#key={keys['manager']}")
    markers = review.locator("#plan-map svg circle.account")
    expect(markers.first).to_be_attached(timeout=30_000)
    assert markers.count() == placed(tables)
    assert review.locator("#plan-map circle.account.moved").count() > 0
    review.locator("#map-panel").scroll_into_view_if_needed()
    review.screenshot(path=artifacts / "review-map.png", full_page=True)
    assert errors == []


def test_map_without_geography_says_why(servers, browser, keys, artifacts):
    from playwright.sync_api import expect

    server = servers["flat"]
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    errors = watch_errors(page)
    page.goto(f"{server.url}/review/#key={keys['manager']}")
    message = page.locator("#plan-map .no-geography")
    expect(message).to_contain_text("no account coordinates", timeout=30_000)
    assert page.locator("#plan-map circle.account").count() == 0
    page.locator("#map-panel").scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "review-map-no-geography.png", full_page=True)
    page.goto(f"{server.url}/scenarios/#key={keys['manager']}")
    expect(page.locator("#scenario-map .no-geography")).to_be_visible(timeout=30_000)
    assert errors == []
