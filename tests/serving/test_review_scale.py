"""Triage at 20,000 accounts in headless chromium: search, the per-rep view and bulk by rep on a
`territory sample` world of 20,000 accounts and 60 reps, scored by the test run's champion, with a
plan of 2,000 moves (the fixture plan writer, through the plan folder's one writer).

The setup (sample, score, plan, server start) is timed and printed; screenshots go to
test-artifacts/serving/review-20k-*.png.
"""

from __future__ import annotations

import shutil
import time

import httpx
import pandas as pd
import pytest

from tests.serving.fixtures.plans import write_plan
from tests.serving.fixtures.servers import ARTIFACTS, CHROMIUM_ARGS, Server
from tests.serving.fixtures.world import run_cli
from tests.serving.test_browser import watch_errors

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]
N_ACCOUNTS, N_REPS, N_MOVES = 20_000, 60, 2_000
TIMEOUT = 30_000


@pytest.fixture(scope="module")
def big(base_env, data_dir, champion, tmp_path_factory):
    """(server, moves frame, setup seconds) for the 20,000-account world."""
    from features.loaders import load_crm

    started = time.perf_counter()
    root = tmp_path_factory.mktemp("review_20k")
    crm = root / "crm"
    env = {"TERRITORY_DATA_DIR": str(data_dir)}
    run_cli(
        ["sample", "--accounts", str(N_ACCOUNTS), "--reps", str(N_REPS), "--years", "2",
         "--seed", "5", "--out", str(crm)],
        env=env,
    )  # fmt: skip
    scores = root / "scores.csv"
    run_cli(
        ["score", "--data", str(crm), "--out", str(scores), "--model", champion,
         "--ignore-lineage"],
        env=env,
    )  # fmt: skip
    tables = load_crm(crm).tables
    plan = write_plan(
        root / "plan", tables, pd.read_csv(scores, dtype={"account_id": str}), n_moves=N_MOVES
    )
    server_env = {
        k: v
        for k, v in base_env.items()
        if k not in {"TERRITORY_CRM_SOURCE", "TERRITORY_SCORES_PATH", "TERRITORY_PLAN_DIR"}
    }
    server_env["TERRITORY_DECISIONS_URL"] = f"sqlite:///{root / 'decisions.db'}"
    server = Server(
        server_env,
        ["--data", str(crm), "--scores", str(scores), "--plan", str(plan)],
        root / "server.log",
    )
    try:
        server.wait_ready(timeout_s=300)
        setup_s = time.perf_counter() - started
        print(f"\n20k triage setup: {setup_s:.0f} s (sample, score, plan, server start)")
        yield server, pd.read_csv(plan / "moves.csv", dtype=str), setup_s
    finally:
        server.stop()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(server.log, ARTIFACTS / "review-20k-server.log")


def test_triage_at_20000_accounts(big, chromium, keys):
    from playwright.sync_api import expect, sync_playwright

    server, moves, setup_s = big
    status = httpx.post(
        f"{server.url}/status", json={}, headers={"Authorization": f"Bearer {keys['manager']}"}
    ).json()
    assert status["accounts"] == N_ACCOUNTS
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        errors = watch_errors(page)
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
        t0 = time.perf_counter()
        page.goto(f"{server.url}/review/#key={keys['manager']}")
        expect(page.locator("tr.move-row")).to_have_count(50, timeout=TIMEOUT)
        first_page_s = time.perf_counter() - t0
        expect(page.locator("#total")).to_contain_text(f"of {N_MOVES}")

        account = moves["account_id"].iloc[len(moves) // 2]
        t0 = time.perf_counter()
        page.locator("#f-q").fill(account)
        page.locator("#f-q").dispatch_event("change")
        expect(page.locator("tr.move-row")).to_have_count(1, timeout=TIMEOUT)
        search_s = time.perf_counter() - t0
        assert page.locator("tr.move-row").get_attribute("data-account") == account

        page.locator("#f-q").fill("")
        rep = moves["to_rep_id"].value_counts().index[0]
        involved = int(((moves["to_rep_id"] == rep) | (moves["from_rep_id"] == rep)).sum())
        page.locator("#f-rep").select_option(rep)
        expect(page.locator("#total")).to_contain_text(f"({involved} shown", timeout=TIMEOUT)
        incoming = int((moves["to_rep_id"] == rep).sum())
        expect(page.locator("#rep-summary")).to_contain_text(f"{incoming} incoming")
        page.screenshot(path=ARTIFACTS / "review-20k-rep-view.png", full_page=False)

        t0 = time.perf_counter()
        page.locator("#match-approve").click()
        expect(page.locator("#banner")).to_contain_text(
            f"{involved} move(s) approved", timeout=TIMEOUT
        )
        bulk_s = time.perf_counter() - t0
        assert dialogs and f"{involved} move(s)" in dialogs[0]
        expect(page.locator("tr.move-row .pill.proposed")).to_have_count(0, timeout=TIMEOUT)
        page.screenshot(path=ARTIFACTS / "review-20k-bulk-by-rep.png", full_page=False)
        browser.close()
    print(
        f"20k triage: first page {first_page_s:.2f} s, search {search_s:.2f} s, "
        f"bulk approve by rep ({involved} moves) {bulk_s:.2f} s; setup {setup_s:.0f} s"
    )
    assert errors == []
