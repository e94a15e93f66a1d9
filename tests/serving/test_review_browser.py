"""Headless chromium on the review page, the audit page and the widget, against one real server
(its own decisions database) on the served test world (a few hundred accounts; the triage at
20,000 accounts is test_review_scale.py). Tests run in order and build on each other: triage,
a stale decision, bulk by rep around a reject, a contest accepted into a lock the next
`territory plan` keeps, the audit page and its CSV, then plan approval with confirmation and
rollback. Screenshots go to test-artifacts/serving/review-*.png.
"""

from __future__ import annotations

import csv
import io
import time

import httpx
import pandas as pd
import pytest

from tests.serving.fixtures.plans import plan_with_locks
from tests.serving.fixtures.servers import ARTIFACTS, running_server
from tests.serving.test_browser import watch_errors

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]
TIMEOUT = 20_000
REFUSED_409 = (
    "console: Failed to load resource: the server responded with a status of 409 (Conflict)"
)


@pytest.fixture(scope="module")
def server(base_env, tmp_path_factory):
    folder = tmp_path_factory.mktemp("review_browser")
    with running_server(base_env, folder, "review-browser-server.log") as running:
        yield running


def api(server, key: str, path: str, body: dict | None = None) -> dict:
    response = httpx.post(
        f"{server.url}{path}",
        json=body or {},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
    return response.json()


def review_page(browser, server, keys, dialogs: list[str] | None = None):
    page = browser.new_page(viewport={"width": 1500, "height": 1000}, accept_downloads=True)
    errors = watch_errors(page)
    if dialogs is not None:

        def answer(dialog):
            dialogs.append(dialog.message)
            dialog.accept("rolled back in the browser test" if dialog.type == "prompt" else None)

        page.on("dialog", answer)
    page.goto(f"{server.url}/review/#key={keys['manager']}")
    page.locator("tr.move-row").first.wait_for(timeout=TIMEOUT)
    return page, errors


def rows(page) -> list[str]:
    return page.locator("tr.move-row").evaluate_all("rs => rs.map(r => r.dataset.account)")


def test_triage_search_sort_and_per_rep_view(server, browser, keys, plan_moves):
    from playwright.sync_api import expect

    page, errors = review_page(browser, server, keys)
    account = plan_moves["account_id"].iloc[5]
    page.locator("#f-q").fill(account)
    page.locator("#f-q").dispatch_event("change")
    expect(page.locator("tr.move-row")).to_have_count(1, timeout=TIMEOUT)
    assert rows(page) == [account]
    page.locator("#f-q").fill("")
    page.locator("#f-q").dispatch_event("change")
    expect(page.locator("tr.move-row")).to_have_count(len(plan_moves), timeout=TIMEOUT)
    page.locator("button.sort[data-sort=account]").click()
    expect(page.locator("button.sort[data-sort=account]")).to_have_class("link sort active")
    # the button turns active when the filters change, before the sorted rows arrive: wait for them
    deadline = time.monotonic() + TIMEOUT / 1000
    while True:
        names = page.locator("tr.move-row td:nth-child(2) strong").all_inner_texts()
        if names == sorted(names, key=str.lower) or time.monotonic() > deadline:
            break
        page.wait_for_timeout(100)
    assert names == sorted(names, key=str.lower), names

    rep = plan_moves["to_rep_id"].iloc[0]
    page.locator("#f-rep").select_option(rep)
    expect(page.locator("#rep-panel")).to_be_visible()
    incoming = int((plan_moves["to_rep_id"] == rep).sum())
    outgoing = int((plan_moves["from_rep_id"] == rep).sum())
    expect(page.locator("#rep-summary")).to_contain_text(
        f"{incoming} incoming, {outgoing} outgoing", timeout=TIMEOUT
    )
    expect(page.locator("#rep-body table.figures tbody tr").first).to_be_visible()
    expect(page.locator("tr.move-row")).to_have_count(incoming + outgoing, timeout=TIMEOUT)
    expect(page.locator("#chart svg.bars rect.band-rect")).to_have_count(1)
    page.screenshot(path=ARTIFACTS / "review-triage-rep-view.png", full_page=True)
    assert errors == []


def test_stale_decision_is_refused_in_the_page(server, browser, keys, plan_moves):
    from playwright.sync_api import expect

    page, errors = review_page(browser, server, keys)
    account = rows(page)[-1]
    api(
        server, keys["manager"], "/decide", {"account_id": account, "action": "reject", "note": "x"}
    )
    page.locator(f'tr.move-row[data-account="{account}"] button.approve').click()
    expect(page.locator("#banner")).to_contain_text("changed since you loaded", timeout=TIMEOUT)
    page.screenshot(path=ARTIFACTS / "review-stale-refused.png", full_page=True)
    expect(page.locator(f'tr.move-row[data-account="{account}"] .pill.rejected')).to_be_visible()
    decision = api(server, keys["manager"], "/moves", {"q": account})["moves"][0]
    assert decision["status"] == "rejected"
    assert errors == [REFUSED_409]  # the browser logs the refused request; nothing else failed


def test_bulk_by_rep_does_not_overwrite_a_reject(server, browser, keys, plan_moves):
    from playwright.sync_api import expect

    dialogs: list[str] = []
    page, errors = review_page(browser, server, keys, dialogs)
    counts = pd.concat([plan_moves["from_rep_id"], plan_moves["to_rep_id"]]).value_counts()
    rep = next(r for r in counts.index if r != keys["rep_id"] and counts[r] >= 2)
    page.locator("#f-rep").select_option(rep)
    expect(page.locator("#match-approve")).to_be_enabled(timeout=TIMEOUT)
    expect(page.locator("tr.move-row")).to_have_count(int(counts[rep]), timeout=TIMEOUT)
    mine = rows(page)
    rejected = mine[0]
    row = page.locator(f'tr.move-row[data-account="{rejected}"]')
    row.locator("input.note-input").fill("keep it where it is")
    row.locator("button.reject").click()
    expect(page.locator(f'tr.move-row[data-account="{rejected}"] .pill.rejected')).to_be_visible()
    page.locator("#match-approve").click()
    expect(page.locator("#banner")).to_contain_text("already decided", timeout=TIMEOUT)
    assert dialogs and "would be approved" in dialogs[-1]
    expect(page.locator(f'tr.move-row[data-account="{rejected}"] .pill.rejected')).to_be_visible()
    expect(page.locator("tr.move-row .pill.proposed")).to_have_count(0, timeout=TIMEOUT)
    statuses = page.locator("tr.move-row .pill:not(.contested)").all_inner_texts()
    assert statuses.count("approved") == len(mine) - statuses.count("rejected") >= 1
    page.screenshot(path=ARTIFACTS / "review-bulk-by-rep.png", full_page=True)
    assert errors == []


def test_contest_accepted_becomes_a_lock_in_the_next_plan(
    server, browser, keys, plan_moves, crm_dir, scores_path, data_dir, tmp_path
):
    from playwright.sync_api import expect

    theirs = plan_moves[
        (plan_moves["from_rep_id"] == keys["rep_id"]) | (plan_moves["to_rep_id"] == keys["rep_id"])
    ]["account_id"]
    undecided = {
        m["account_id"]
        for m in api(server, keys["manager"], "/moves", {"status": "undecided", "limit": 1000})[
            "moves"
        ]
    }
    account = next(a for a in theirs if a in undecided)
    widget = browser.new_page(viewport={"width": 360, "height": 900})
    errors = watch_errors(widget)
    widget.goto(f"{server.url}/widget/?account={account}#key={keys['rep']}")
    widget.locator("#contest-open").click(timeout=TIMEOUT)
    widget.locator("#contest-reason").fill("renewal closing with me next month")
    widget.locator("#contest-form button[type=submit]").click()
    expect(widget.locator("#contest-status")).to_contain_text("Sent", timeout=TIMEOUT)

    page, page_errors = review_page(browser, server, keys)
    item = page.locator(f'#contests li.contest[data-account="{account}"]')
    expect(item).to_contain_text("renewal closing", timeout=TIMEOUT)
    item.locator("button.contest-link").click()
    expect(page.locator("tr.move-row")).to_have_count(1, timeout=TIMEOUT)
    assert rows(page) == [account]
    item.locator("input").fill("agreed: finish the renewal")
    item.locator("button.accept-keep").click()
    expect(page.locator("#banner")).to_contain_text("accepted", timeout=TIMEOUT)
    expect(page.locator(f'tr.move-row[data-account="{account}"] .pill.rejected')).to_be_visible()
    page.screenshot(path=ARTIFACTS / "review-contest-accepted.png", full_page=True)

    widget.reload()
    expect(widget.locator(".contest-outcome.accepted")).to_contain_text(
        "finish the renewal", timeout=TIMEOUT
    )
    widget.screenshot(path=ARTIFACTS / "review-widget-contest-outcome.png", full_page=True)

    locks = api(server, keys["manager"], "/locks")
    lock = next(x for x in locks["locks"] if x["account_id"] == account)
    owner = plan_moves.set_index("account_id").loc[account, "from_rep_id"]
    assert lock["rep_id"] == owner and lock["source"] == "contest"
    version, planned = plan_with_locks(locks, crm_dir, scores_path, data_dir, tmp_path)
    assert planned.loc[account, "rep_id"] == owner
    report = (version / "report.md").read_text()
    assert "## Locks from decisions" in report and account in report
    assert f"| {lock['source_decision_id']} |" in report
    assert errors == [] and page_errors == []


def test_audit_page_filters_and_exports_csv(server, browser, keys):
    from playwright.sync_api import expect

    contests = api(server, keys["manager"], "/contests", {"status": "accepted"})["contests"]
    account = contests[0]["account_id"]
    page = browser.new_page(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    errors = watch_errors(page)
    page.goto(f"{server.url}/review/audit.html?account_id={account}#key={keys['manager']}")
    expect(page.locator("tr.audit-row").first).to_be_visible(timeout=TIMEOUT)
    actions = page.locator("tr.audit-row").evaluate_all("rs => rs.map(r => r.dataset.action)")
    assert {"contest.open", "contest.accept", "decision.reject"} <= set(actions)
    page.locator("#a-action").select_option("contest")
    page.locator("#audit-filters button[type=submit]").click()
    expect(page.locator("tr.audit-row[data-action='decision.reject']")).to_have_count(0)
    expect(page.locator("tr.audit-row[data-action='contest.accept']")).to_have_count(1)
    page.screenshot(path=ARTIFACTS / "review-audit-page.png", full_page=True)
    with page.expect_download() as download:
        page.locator("#audit-export").click()
    saved = ARTIFACTS / "review-audit-export.csv"
    download.value.save_as(saved)
    exported = list(csv.DictReader(io.StringIO(saved.read_text())))
    assert exported and {r["account_id"] for r in exported} == {account}
    assert all(r["action"].startswith("contest.") for r in exported)
    assert errors == []


def test_plan_approval_with_confirmation_then_rollback(server, browser, keys, real_plan_dir):
    from playwright.sync_api import expect

    first = api(server, keys["manager"], "/approve_plan", {"confirm": True, "note": "plan A"})
    api(server, keys["job"], "/reload", {"plan_dir": str(real_plan_dir), "reload_model": False})
    dialogs: list[str] = []
    page, errors = review_page(browser, server, keys, dialogs)
    expect(page.locator("#plan-line")).to_contain_text("proposed", timeout=TIMEOUT)
    # the plan says which disruption budget it used and what the books needed
    note = api(server, keys["manager"], "/plan_metrics", {})["metrics"]["budget"]["note"]
    assert "must shed at least" in note
    expect(page.locator("#budget-line")).to_have_text(note, timeout=TIMEOUT)
    page.locator("#approve-plan").click()
    expect(page.locator("#plan-line")).to_contain_text("approved · effective", timeout=TIMEOUT)
    assert dialogs and "would apply" in dialogs[0] and "undecided" in dialogs[0]
    expect(page.locator("tr.move-row .final").first).to_contain_text("final: kept")
    expect(page.locator("#rollback-plan")).to_be_visible()
    page.screenshot(path=ARTIFACTS / "review-plan-approved.png", full_page=True)

    moved = page.locator("tr.move-row").first.get_attribute("data-account")
    widget = browser.new_page(viewport={"width": 360, "height": 900})
    errors += watch_errors(widget)
    widget.goto(f"{server.url}/widget/?account={moved}#key={keys['manager']}")
    expect(widget.locator("#effective")).to_contain_text("effective", timeout=TIMEOUT)
    widget.screenshot(path=ARTIFACTS / "review-widget-effective-date.png", full_page=True)

    page.locator("#rollback-plan").click()
    expect(page.locator("#banner")).to_contain_text("Rolled back", timeout=TIMEOUT)
    expect(page.locator("#plan-line")).to_contain_text(first["plan_id"], timeout=TIMEOUT)
    expect(page.locator("#plan-line")).to_contain_text("approved")
    page.screenshot(path=ARTIFACTS / "review-plan-rolled-back.png", full_page=True)
    trail = api(server, keys["manager"], "/audit_query", {"action": "plan", "limit": 50})
    assert {"plan.approve", "plan.rollback", "plan.restore"} <= {
        e["action"] for e in trail["entries"]
    }
    assert errors == []
