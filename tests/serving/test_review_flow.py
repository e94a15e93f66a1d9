"""The manager's review flow through the API of a real server: triage (search, sort, filters,
bulk by rep without overwriting a reject), the per-rep view, the balance chart, contests answered
(accept keep / override / reject) becoming typed locks the next `territory plan` reads, the audit
trail filtered and streamed as CSV, and the moves' final state after approval.

One server per module (a fresh decisions database); tests run in order and build on each other.
"""

from __future__ import annotations

import csv
import io
import json

import httpx
import pytest

from tests.serving.fixtures.plans import plan_with_locks
from tests.serving.fixtures.servers import running_server

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def server(base_env, tmp_path_factory):
    folder = tmp_path_factory.mktemp("review_flow")
    with running_server(base_env, folder, "review-flow-server.log") as running:
        yield running


def call(server, key: str, path: str, body: dict | None = None, status: int = 200):
    response = httpx.post(
        f"{server.url}{path}",
        json=body or {},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert response.status_code == status, f"{path}: {response.status_code} {response.text}"
    return response


def post(server, key, path, body=None, status=200):
    return call(server, key, path, body, status).json()


def test_search_sort_and_filter_on_the_server(server, keys, plan_moves):
    manager = keys["manager"]
    everything = post(server, manager, "/moves", {"limit": 1000})
    assert everything["total"] == len(plan_moves)
    account = plan_moves["account_id"].iloc[3]
    found = post(server, manager, "/moves", {"q": account.lower()})
    assert [m["account_id"] for m in found["moves"]] == [account]
    by_potential = post(server, manager, "/moves", {"sort": "potential", "order": "asc"})
    values = [m["potential"] or 0 for m in by_potential["moves"]]
    assert values == sorted(values) and len(values) == len(plan_moves)
    by_name = post(server, manager, "/moves", {"sort": "to_rep", "order": "desc"})
    names = [m["to_rep"]["name"].lower() for m in by_name["moves"]]
    assert names == sorted(names, reverse=True)
    rep = plan_moves["to_rep_id"].iloc[0]
    rep_name = next(r["name"] for r in everything["reps"] if r["rep_id"] == rep)
    by_rep_name = post(server, manager, "/moves", {"q": rep_name})
    assert by_rep_name["total"] >= 1
    assert all(
        rep_name in (m["from_rep"]["name"], m["to_rep"]["name"]) for m in by_rep_name["moves"]
    )
    region = everything["moves"][0]["region"]
    in_region = post(server, manager, "/moves", {"region": region, "limit": 1000})
    assert in_region["total"] == sum(m["region"] == region for m in everything["moves"])
    page = post(server, manager, "/moves", {"offset": 5, "limit": 5})
    assert [m["account_id"] for m in page["moves"]] == [
        m["account_id"] for m in everything["moves"][5:10]
    ]
    message = call(server, manager, "/moves", {"sort": "colour"}, 400).json()["error"]
    assert "sort 'colour'" in message and "potential" in message


def test_bulk_by_rep_skips_a_reject_and_an_override(server, keys, plan_moves):
    manager = keys["manager"]
    rep = plan_moves["from_rep_id"].value_counts().index[0]
    mine = plan_moves[(plan_moves["from_rep_id"] == rep) | (plan_moves["to_rep_id"] == rep)]
    assert len(mine) >= 2, "the fixture plan should give this rep two moves"
    rejected = mine["account_id"].iloc[0]
    post(server, manager, "/decide", {"account_id": rejected, "action": "reject", "note": "no"})
    preview = post(
        server, manager, "/bulk_select", {"selector": {"rep_id": rep}, "action": "approve"}
    )
    assert preview["confirmed"] is False and preview["decided"] == 0
    assert preview["selected"] == len(mine) and preview["skipped_ids"] == [rejected]
    done = post(
        server,
        manager,
        "/bulk_select",
        {"selector": {"rep_id": rep}, "action": "approve", "note": "rep's moves", "confirm": True},
    )
    assert done["decided"] == len(mine) - 1 and done["skipped_ids"] == [rejected]
    after = post(server, manager, "/moves", {"q": rejected})["moves"][0]
    assert after["status"] == "rejected" and after["decision"]["note"] == "no"
    message = call(
        server, manager, "/bulk_select", {"selector": {}, "action": "approve"}, 400
    ).json()["error"]
    assert "selector is empty" in message


def test_stale_decision_is_refused_with_the_current_move(server, keys, plan_moves):
    manager = keys["manager"]
    undecided = post(server, manager, "/moves", {"status": "undecided", "limit": 1})["moves"][0]
    account = undecided["account_id"]
    post(server, manager, "/decide", {"account_id": account, "action": "approve", "note": "a"})
    stale = call(
        server,
        manager,
        "/decide",
        {"account_id": account, "action": "reject", "expected_decision_id": 0},
        409,
    ).json()
    assert stale["move"]["status"] == "approved" and "changed since you loaded" in stale["error"]


def test_rep_plan_and_balance_chart(server, keys, plan_moves, tables):
    manager = keys["manager"]
    rep = plan_moves["to_rep_id"].iloc[0]
    view = post(server, manager, "/rep_plan", {"rep_id": rep})
    assert view["incoming_total"] == int((plan_moves["to_rep_id"] == rep).sum())
    assert view["outgoing_total"] == int((plan_moves["from_rep_id"] == rep).sum())
    assert {m["to_rep"]["rep_id"] for m in view["incoming"]} == {rep}
    potential = view["figures"]["potential"]
    assert potential["band_low"] < potential["band_high"]
    assert potential["in_band_proposed"] == (
        potential["band_low"] <= potential["proposed"] <= potential["band_high"]
    )
    chart = post(server, manager, "/balance")
    active = set(tables.reps.loc[tables.reps["active"].fillna(True).astype(bool), "rep_id"])
    assert {r["rep_id"] for r in chart["active"]} == active
    assert all(r["rep_id"] not in active for r in chart["departed"])
    band = chart["bands"]["accounts"]
    assert band["low"] == pytest.approx(band["mean"] * (1 - chart["band"]))
    call(server, manager, "/rep_plan", {"rep_id": "NOPE"}, 404)


@pytest.fixture(scope="module")
def contested(server, keys, plan_moves):
    """Three contests by the rep key: one to keep, one to override, one to reject."""
    rep = keys["rep_id"]
    theirs = plan_moves[(plan_moves["from_rep_id"] == rep) | (plan_moves["to_rep_id"] == rep)]
    undecided = {
        m["account_id"]
        for m in post(server, keys["manager"], "/moves", {"status": "undecided", "limit": 1000})[
            "moves"
        ]
    }
    accounts = [a for a in theirs["account_id"] if a in undecided][:3]
    if len(accounts) < 3:
        accounts = [a for a in theirs["account_id"]][:3]
    out = []
    for account in accounts:
        out.append(
            post(server, keys["rep"], "/contest", {"account_id": account, "reason": "renewal due"})
        )
    return out


def test_contests_answered_become_locks_the_rep_sees(server, keys, contested, plan_moves, tables):
    manager = keys["manager"]
    if len(contested) < 3:
        pytest.fail(f"the fixture plan gives the rep key only {len(contested)} moves")
    keep, override, reject = contested
    move = plan_moves.set_index("account_id").loc[override["account_id"]]
    active = tables.reps.loc[tables.reps["active"].fillna(True).astype(bool), "rep_id"]
    other = next(r for r in active if r not in (move["from_rep_id"], move["to_rep_id"]))
    kept = post(
        server, manager, "/resolve_contest", {"contest_id": keep["contest_id"], "outcome": "keep"}
    )
    assert kept["status"] == "accepted" and kept["decision_id"]
    moved = post(
        server,
        manager,
        "/resolve_contest",
        {"contest_id": override["contest_id"], "outcome": "override", "rep_id": other},
    )
    assert moved["status"] == "accepted"
    message = call(
        server,
        manager,
        "/resolve_contest",
        {"contest_id": reject["contest_id"], "outcome": "reject"},
        400,
    ).json()["error"]
    assert "needs a note" in message
    post(
        server,
        manager,
        "/resolve_contest",
        {"contest_id": reject["contest_id"], "outcome": "reject", "note": "the plan stands"},
    )
    again = call(
        server,
        manager,
        "/resolve_contest",
        {"contest_id": keep["contest_id"], "outcome": "keep"},
        409,
    ).json()["error"]
    assert "already accepted" in again

    outcomes = post(server, keys["rep"], "/contest_outcomes")
    by_id = {c["contest_id"]: c for c in outcomes["contests"]}
    assert by_id[reject["contest_id"]]["status"] == "rejected"
    assert "the plan stands" in by_id[reject["contest_id"]]["resolution"]
    assert by_id[keep["contest_id"]]["status"] == "accepted"

    locks = post(server, manager, "/locks", {"lock_days": 90})
    by_account = {lock["account_id"]: lock for lock in locks["locks"]}
    current = plan_moves.set_index("account_id")["from_rep_id"]
    assert by_account[keep["account_id"]]["rep_id"] == current[keep["account_id"]]
    assert by_account[keep["account_id"]]["source"] == "contest"
    assert by_account[keep["account_id"]]["source_decision_id"] == kept["decision_id"]
    assert by_account[override["account_id"]]["rep_id"] == other
    assert reject["account_id"] not in by_account


def test_next_plan_reads_the_locks(
    server, keys, contested, crm_dir, scores_path, data_dir, tmp_path
):
    locks = post(server, keys["manager"], "/locks")
    assert locks["locks"], "the contest test above should have made locks"
    version, assignments = plan_with_locks(locks, crm_dir, scores_path, data_dir, tmp_path)
    for lock in locks["locks"]:
        assert assignments.loc[lock["account_id"], "rep_id"] == lock["rep_id"]
    report = (version / "report.md").read_text()
    assert "## Locks from decisions" in report
    assert all(lock["account_id"] in report for lock in locks["locks"])
    metrics = json.loads((version / "metrics.json").read_text())
    assert len(metrics["decision_locks"]) == len(locks["locks"])


def test_audit_filters_and_csv(server, keys, contested):
    manager = keys["manager"]
    account = contested[0]["account_id"]
    history = post(server, manager, "/audit_query", {"account_id": account})
    actions = [e["action"] for e in history["entries"]]
    assert history["total"] == len(actions) and "contest.open" in actions
    assert "contest.accept" in actions and "decision.reject" in actions
    decisions = post(server, manager, "/audit_query", {"action": "decision", "limit": 1000})
    assert decisions["entries"] and all(
        e["action"].startswith("decision.") for e in decisions["entries"]
    )
    rep = keys["rep_id"]
    by_rep = post(server, manager, "/audit_query", {"rep_id": rep, "limit": 1000})
    assert any(e["action"] == "contest.open" for e in by_rep["entries"])
    response = call(server, manager, "/audit_csv", {"account_id": account})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["action"] for r in rows] == actions
    assert rows[0]["actor"] and rows[0]["at"]
    message = call(server, manager, "/audit_query", {"since": "yesterday"}, 400).json()["error"]
    assert "yesterday" in message and "ISO" in message
    call(server, keys["rep"], "/audit_csv", {}, 403)


def test_after_approval_moves_show_final_state_and_contests_close(server, keys, plan_moves):
    manager = keys["manager"]
    rep_account = next(
        a
        for a, f, t in plan_moves[["account_id", "from_rep_id", "to_rep_id"]].itertuples(
            index=False
        )
        if keys["rep_id"] in (f, t)
    )
    open_contest = None
    undecided = post(server, manager, "/moves", {"status": "undecided", "limit": 1000})["moves"]
    rep_undecided = [
        m
        for m in undecided
        if keys["rep_id"]
        in (m["from_rep"]["rep_id"] if m["from_rep"] else None, m["to_rep"]["rep_id"])
    ]
    if rep_undecided:
        open_contest = post(
            server,
            keys["rep"],
            "/contest",
            {"account_id": rep_undecided[0]["account_id"], "reason": "still renewing"},
        )
    post(server, manager, "/approve_plan", {"confirm": True, "effective_date": "2027-01-01"})
    moves = post(server, manager, "/moves", {"limit": 1000})
    assert {m["status"] for m in moves["moves"]} <= {"approved", "overridden", "kept"}
    assert moves["counts"]["proposed"] == 0 and moves["counts"]["kept"] >= 1
    refused = call(
        server, keys["rep"], "/contest", {"account_id": rep_account, "reason": "too late?"}, 409
    ).json()["error"]
    assert "approved" in refused
    outcomes = post(server, keys["rep"], "/contest_outcomes")
    assert outcomes["plan_status"] == "approved" and outcomes["effective_date"] == "2027-01-01"
    if open_contest is not None:
        closed = next(
            c for c in outcomes["contests"] if c["contest_id"] == open_contest["contest_id"]
        )
        assert closed["status"] == "resolved" and "plan approved" in closed["resolution"]
