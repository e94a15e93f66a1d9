"""The service in process (its ASGI app in Starlette's TestClient): every endpoint, role, error."""

from __future__ import annotations

import csv
import io
import json
import os
import time

import pandas as pd
import pytest

from serving.hubspot import sign_v3
from serving.plans import plan_id_of
from serving.schemas import EXAMPLE_REQUEST

# The unit tier: one small champion per test run, in-process ASGI clients, no servers. Tests
# that run the planner are marked slow.


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def moves(plan_moves) -> list[dict]:
    return plan_moves.to_dict("records")


def post(client, path, key, body=None):
    return client.post(path, json=body if body is not None else {}, headers=auth(key))


def error_of(response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status
    return body["error"]


# -- health, docs, auth ---------------------------------------------------------------------------
def test_health_and_readiness(client):
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_openapi_lists_every_endpoint(client):
    paths = client.get("/docs.json").json()["paths"]
    for route in (
        "/card",
        "/rep_view",
        "/score",
        "/explain",
        "/moves",
        "/decide",
        "/bulk_decide",
        "/contest",
        "/contests",
        "/audit",
        "/plan_metrics",
        "/plan_preview",
        "/export_plan",
        "/approve_plan",
        "/reload",
        "/whoami",
        "/status",
    ):
        assert route in paths, route


def test_missing_key_is_401_with_the_fix(client):
    response = client.post("/card", json={"account_id": "A00001"})
    assert "Authorization: Bearer" in error_of(response, 401)


def test_unknown_key_is_401(client):
    response = client.post(
        "/card", json={"account_id": "A00001"}, headers=auth("not-a-real-key-000000")
    )
    assert "not recognised" in error_of(response, 401)


def test_x_api_key_header_works(client, keys):
    response = client.post("/whoami", json={}, headers={"X-API-Key": keys["job"]})
    assert response.json() == {"name": "Nightly job", "role": "job", "rep_id": None}


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("/moves", "rep"),
        ("/decide", "job"),
        ("/bulk_decide", "rep"),
        ("/export_plan", "job"),
        ("/audit", "rep"),
        ("/contests", "job"),
        ("/approve_plan", "rep"),
        ("/score", "manager"),
        ("/explain", "rep"),
        ("/reload", "manager"),
        ("/plan_metrics", "rep"),
        ("/contest", "manager"),
        ("/rep_view", "job"),
        ("/plan_preview", "rep"),
    ],
)
def test_wrong_role_is_403_naming_the_role_needed(client, keys, path, role):
    body = {k: v for k, v in EXAMPLE_REQUEST[path.strip("/")].items() if v is not None}
    message = error_of(post(client, path, keys[role], body), 403)
    assert "needs role" in message and f"has role {role}" in message


def test_status_and_whoami(client, keys, plan_dir):
    status = post(client, "/status", keys["rep"]).json()
    assert status["ready"] is True and status["problems"] == []
    assert status["model_version"] == "account-potential v1 (champion)"
    assert status["plan_id"].startswith("plan-") and status["accounts"] == 300
    assert post(client, "/whoami", keys["rep"]).json()["rep_id"] == keys["rep_id"]


# -- malformed requests ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[]",
        '{"account_id": 5}',
        '{"account_id": ""}',
        '{"account_id": "A00001", "extra": 1}',
        "{}",
    ],
)
def test_malformed_bodies_are_400(client, keys, body):
    response = client.post(
        "/card", content=body, headers={**auth(keys["manager"]), "Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert "validation error" in response.json()["error"]


def test_batch_limit_is_enforced(client, keys):
    response = post(
        client, "/score", keys["job"], {"account_ids": [f"A{i:05d}" for i in range(501)]}
    )
    assert response.status_code == 400


# -- the account card -----------------------------------------------------------------------------
def test_card_serves_precomputed_scores_reasons_and_move(client, keys, moves, scores_path):
    move = moves[0]
    card = post(client, "/card", keys["manager"], {"account_id": move["account_id"]}).json()
    stored = (
        pd.read_csv(scores_path, dtype={"account_id": str})
        .set_index("account_id")
        .loc[move["account_id"]]
    )
    assert card["potential"] == {
        "value": pytest.approx(stored["potential"]),
        "percentile": pytest.approx(stored["percentile"]),
        "tier": stored["tier"],
    }
    assert [r["phrase"] for r in card["reasons"]] == [
        r["phrase"] for r in json.loads(stored["top_reasons"])
    ]
    assert card["narrative"] == stored["narrative"]
    assert card["owner"]["current"]["rep_id"] == move["from_rep_id"]
    assert card["owner"]["recommended"]["rep_id"] == move["to_rep_id"]
    assert card["owner"]["move"]["status"] == "proposed"
    assert {r["type"] for r in card["owner"]["move"]["reasons"]} <= {
        "fit",
        "balance",
        "travel",
        "continuity",
    }
    fresh = card["freshness"]
    assert fresh["source"] == "precomputed" and fresh["scores_as_of"] == str(stored["as_of"])
    assert fresh["plan_id"].startswith("plan-") and card["model_version"].startswith(
        "account-potential v"
    )


def test_card_for_account_without_move_recommends_current_owner(client, keys, moves, tables):
    moved = {m["account_id"] for m in moves}
    owners = tables.current_owners()
    account = next(a for a in owners.index if a not in moved)
    card = post(client, "/card", keys["manager"], {"account_id": account}).json()
    assert card["owner"]["move"] is None
    assert (
        card["owner"]["recommended"]["rep_id"]
        == card["owner"]["current"]["rep_id"]
        == owners[account]
    )


def test_card_without_precomputed_score_is_computed_on_request(client, keys, unscored):
    card = post(client, "/card", keys["manager"], {"account_id": unscored[0]}).json()
    assert card["freshness"]["source"] == "computed on request"
    assert card["potential"]["value"] >= 0
    assert 0 < card["potential"]["percentile"] <= 100 and card["potential"]["tier"] in "ABCD"
    assert card["narrative"] and all(r["phrase"] for r in card["reasons"])


def test_unknown_account_is_404(client, keys):
    assert "not in the CRM data" in error_of(
        post(client, "/card", keys["manager"], {"account_id": "NOPE"}), 404
    )


def test_rep_reads_own_account_but_not_others(client, keys, moves, tables):
    mine = moves[0]["account_id"]
    assert post(client, "/card", keys["rep"], {"account_id": mine}).status_code == 200
    owners = tables.current_owners()
    theirs = next(
        a
        for a, r in owners.items()
        if r != keys["rep_id"] and a not in {m["account_id"] for m in moves}
    )
    # Another rep's account and a missing id answer alike: a rep cannot probe which ids exist.
    other = post(client, "/card", keys["rep"], {"account_id": theirs})
    missing = post(client, "/card", keys["rep"], {"account_id": "NO-SUCH-ACCOUNT"})
    assert "accounts your key can see" in error_of(other, 404)
    assert error_of(missing, 404) == error_of(other, 404).replace(theirs, "NO-SUCH-ACCOUNT")


# -- the rep view ---------------------------------------------------------------------------------
def test_rep_view_ranks_own_book_and_lists_moves(client, keys, moves):
    view = post(client, "/rep_view", keys["rep"], {"rep_id": keys["rep_id"], "limit": 500}).json()
    values = [a["potential"]["value"] for a in view["accounts"] if a["potential"]]
    assert values == sorted(values, reverse=True) and view["accounts_total"] == len(
        view["accounts"]
    )
    leaving = {m["account_id"] for m in view["leaving"]}
    assert {m["account_id"] for m in moves if m["from_rep_id"] == keys["rep_id"]} == leaving
    assert {m["account_id"] for m in view["joining"]} == {
        m["account_id"] for m in moves if m["to_rep_id"] == keys["rep_id"]
    }
    by_id = {a["account_id"]: a for a in view["accounts"]}
    assert by_id[moves[0]["account_id"]]["leaving_to"]["rep_id"] == moves[0]["to_rep_id"]


def test_rep_view_of_another_rep_is_403_but_manager_may(client, keys):
    assert "only open their own" in error_of(
        post(client, "/rep_view", keys["rep"], {"rep_id": keys["other_rep_id"]}), 403
    )
    assert (
        post(client, "/rep_view", keys["manager"], {"rep_id": keys["other_rep_id"]}).status_code
        == 200
    )


def test_rep_view_unknown_rep_is_404(client, keys):
    error_of(post(client, "/rep_view", keys["manager"], {"rep_id": "R999"}), 404)


# -- jobs: score, explain, reload -----------------------------------------------------------------
def test_score_batch_mixes_precomputed_on_request_and_unknown(client, keys, moves, unscored):
    ids = [moves[0]["account_id"], unscored[0], "NOPE"]
    result = post(client, "/score", keys["job"], {"account_ids": ids}).json()
    assert result["unknown_ids"] == ["NOPE"]
    assert [r["source"] for r in result["results"]] == ["precomputed", "computed on request"]
    assert all(r["reasons"] == [] for r in result["results"])


def test_explain_returns_top_k_reasons_and_recompute(client, keys, moves):
    account = moves[1]["account_id"]
    stored = post(client, "/explain", keys["job"], {"account_ids": [account], "top_k": 2}).json()[
        "results"
    ][0]
    fresh = post(
        client, "/explain", keys["job"], {"account_ids": [account], "top_k": 2, "recompute": True}
    ).json()["results"][0]
    assert (
        stored["source"] == "precomputed"
        and 1 <= len(stored["reasons"]) <= 2
        and stored["narrative"]
    )
    assert (
        fresh["source"] == "computed on request"
        and 1 <= len(fresh["reasons"]) <= 2
        and fresh["narrative"]
    )


def test_reload_swaps_in_new_scores(client, keys, scores_path, tmp_path):
    scores = pd.read_csv(scores_path, dtype={"account_id": str})
    changed = scores.assign(potential=scores["potential"] * 2)
    path = scores_path.parent / "scores2.csv"  # /reload reads scores only where the service does
    changed.to_csv(path, index=False)
    account = scores["account_id"].iloc[0]
    try:
        status = post(
            client, "/reload", keys["job"], {"scores_path": str(path), "reload_model": False}
        ).json()
        assert status["ready"] is True and status["scores_path"] == str(path)
        card = post(client, "/card", keys["manager"], {"account_id": account}).json()
        assert card["potential"]["value"] == pytest.approx(2 * scores["potential"].iloc[0])
    finally:
        post(client, "/reload", keys["job"], {"scores_path": str(scores_path)})
        path.unlink(missing_ok=True)
    audit = post(client, "/audit", keys["manager"], {"limit": 5}).json()["entries"]
    assert audit[0]["action"] == "service.reload" and audit[0]["actor"] == "Nightly job (job)"


def test_reload_with_missing_paths_is_400(client, keys, tmp_path):
    message = error_of(
        post(client, "/reload", keys["job"], {"plan_dir": str(tmp_path / "nope")}), 400
    )
    assert "does not exist" in message
    assert post(client, "/status", keys["job"]).json()["ready"] is True


def test_reload_paths_are_confined_to_the_served_folders(
    client, keys, plan_dir, tables, scores_path, tmp_path
):
    from tests.serving.fixtures.plans import write_plan

    served = post(client, "/status", keys["job"]).json()["plan_id"]
    outside = write_plan(
        tmp_path / "outside", tables, pd.read_csv(scores_path, dtype={"account_id": str}), seed=5
    )
    escape = plan_dir.parent / f"escape-{tmp_path.name}"
    escape.symlink_to(outside, target_is_directory=True)  # inside a root, pointing out of it
    not_a_plan = plan_dir.parent / f"not-a-plan-{tmp_path.name}"
    not_a_plan.mkdir()
    try:
        for body in (
            {"plan_dir": str(outside)},
            {"plan_dir": str(plan_dir / os.path.relpath(outside, plan_dir))},  # ../..
            {"plan_dir": str(escape)},
            {"scores_path": "/etc/passwd"},
            {"scores_path": f"{scores_path.parent}/../../../../etc/passwd"},
        ):
            message = error_of(post(client, "/reload", keys["job"], body), 400)
            assert "outside the folders the service reads from" in message, body
            assert str(next(iter(body.values()))) in message
        assert "is not a plan" in error_of(
            post(client, "/reload", keys["job"], {"plan_dir": str(not_a_plan)}), 400
        )
    finally:
        escape.unlink()
        not_a_plan.rmdir()
    status = post(client, "/status", keys["job"]).json()
    assert status["ready"] is True and status["plan_id"] == served  # the working plan is kept


# -- manager review: queue, decisions, contests, audit, export ------------------------------------
def test_moves_are_ranked_by_impact_with_facets(client, keys, moves):
    page = post(client, "/moves", keys["manager"], {"limit": 1000}).json()
    impacts = [m["impact"] for m in page["moves"]]
    assert (
        impacts == sorted(impacts, reverse=True)
        and page["total"] == len(moves) == page["counts"]["total"]
    )
    assert set(page["reason_types"]) == {"fit", "balance", "travel", "continuity"}
    assert page["regions"] and page["reps"]


def test_moves_filters(client, keys, moves, tables):
    region_of = tables.accounts.set_index("account_id")["region"]
    region = region_of[moves[0]["account_id"]]
    by_region = post(client, "/moves", keys["manager"], {"region": region}).json()["moves"]
    assert by_region and all(region_of[m["account_id"]] == region for m in by_region)
    rep = moves[0]["to_rep_id"]
    by_rep = post(client, "/moves", keys["manager"], {"rep_id": rep}).json()["moves"]
    assert {m["account_id"] for m in by_rep} == {
        m["account_id"] for m in moves if rep in (m["from_rep_id"], m["to_rep_id"])
    }
    travel = post(client, "/moves", keys["manager"], {"reason_type": "travel"}).json()["moves"]
    assert travel and all(any(r["type"] == "travel" for r in m["reasons"]) for m in travel)
    page = post(client, "/moves", keys["manager"], {"offset": 2, "limit": 3}).json()
    assert len(page["moves"]) == 3


def test_approve_then_conflicting_decision_and_audit(client, keys, moves):
    account = moves[2]["account_id"]
    first = post(
        client,
        "/decide",
        keys["manager"],
        {"account_id": account, "action": "approve", "note": "fits", "expected_decision_id": 0},
    ).json()["move"]
    assert (
        first["status"] == "approved" and first["decision"]["final_rep_id"] == moves[2]["to_rep_id"]
    )
    stale = post(
        client,
        "/decide",
        keys["manager"],
        {"account_id": account, "action": "reject", "expected_decision_id": 0},
    )
    assert "changed since you loaded it" in error_of(stale, 409)
    current = stale.json()["move"]  # the 409 carries the move as it is now
    assert current["status"] == "approved" and current["decision"] == first["decision"]
    second = post(
        client,
        "/decide",
        keys["manager"],
        {
            "account_id": account,
            "action": "reject",
            "note": "keep",
            "expected_decision_id": first["decision"]["decision_id"],
        },
    ).json()["move"]
    assert (
        second["status"] == "rejected"
        and second["decision"]["final_rep_id"] == moves[2]["from_rep_id"]
    )
    entries = post(client, "/audit", keys["manager"], {"account_id": account}).json()["entries"]
    assert [e["action"] for e in entries] == ["decision.reject", "decision.approve"]
    newest = entries[0]
    assert newest["actor"] == "Maria Manager (manager)" and newest["plan_id"].startswith("plan-")
    assert newest["model_version"].startswith("account-potential v")
    assert (
        newest["previous_value"]["action"] == "approve"
        and newest["new_value"]["action"] == "reject"
    )
    assert entries[1]["previous_value"] is None


def test_override_needs_an_active_known_rep(client, keys, moves):
    account = moves[3]["account_id"]
    assert "needs rep_id" in error_of(
        post(client, "/decide", keys["manager"], {"account_id": account, "action": "override"}), 400
    )
    error_of(
        post(
            client,
            "/decide",
            keys["manager"],
            {"account_id": account, "action": "override", "rep_id": "R999"},
        ),
        404,
    )
    assert "only for action override" in error_of(
        post(
            client,
            "/decide",
            keys["manager"],
            {"account_id": account, "action": "approve", "rep_id": keys["other_rep_id"]},
        ),
        400,
    )
    done = post(
        client,
        "/decide",
        keys["manager"],
        {
            "account_id": account,
            "action": "override",
            "rep_id": keys["other_rep_id"],
            "note": "closer",
        },
    ).json()["move"]
    assert (
        done["status"] == "overridden" and done["decision"]["final_rep_id"] == keys["other_rep_id"]
    )


def test_decision_on_account_without_move_is_404(client, keys, moves, tables):
    moved = {m["account_id"] for m in moves}
    account = next(a for a in tables.accounts["account_id"] if a not in moved)
    assert "proposes no move" in error_of(
        post(client, "/decide", keys["manager"], {"account_id": account, "action": "approve"}), 404
    )
    error_of(
        post(client, "/decide", keys["manager"], {"account_id": "NOPE", "action": "approve"}), 404
    )


def test_bulk_approve_checks_every_id_first(client, keys, moves):
    ids = [moves[4]["account_id"], moves[5]["account_id"]]
    bad = post(
        client,
        "/bulk_decide",
        keys["manager"],
        {"account_ids": [*ids, "NOPE"], "action": "approve"},
    )
    assert "nothing was written" in error_of(bad, 400)
    assert (
        post(client, "/card", keys["manager"], {"account_id": ids[0]}).json()["owner"]["move"][
            "status"
        ]
        == "proposed"
    )
    done = post(
        client,
        "/bulk_decide",
        keys["manager"],
        {"account_ids": ids, "action": "approve", "note": "batch"},
    ).json()
    assert done["decided"] == 2 and {m["status"] for m in done["moves"]} == {"approved"}
    rejected = moves[9]["account_id"]
    post(client, "/decide", keys["manager"], {"account_id": rejected, "action": "reject"})
    again = post(
        client,
        "/bulk_decide",
        keys["manager"],
        {"account_ids": [*ids, rejected], "action": "approve"},
    ).json()
    assert again["decided"] == 0 and [m["account_id"] for m in again["skipped"]] == [*ids, rejected]
    card = post(client, "/card", keys["manager"], {"account_id": rejected}).json()
    assert card["owner"]["move"]["status"] == "rejected"  # a bulk approve never overwrites


def test_idempotency_key_makes_a_retry_answer_without_writing_again(client, keys, moves):
    account = moves[11]["account_id"]
    body = {"account_id": account, "action": "approve", "note": "once"}
    headers = {**auth(keys["manager"]), "Idempotency-Key": "retry-test-0001"}
    first = client.post("/decide", json=body, headers=headers)
    retry = client.post("/decide", json=body, headers=headers)
    assert first.status_code == retry.status_code == 200, retry.text
    assert retry.json()["move"]["decision"] == first.json()["move"]["decision"]
    trail = post(client, "/audit", keys["manager"], {"account_id": account}).json()["entries"]
    assert [e["action"] for e in trail] == ["decision.approve"]
    other = client.post("/decide", json={**body, "action": "reject"}, headers=headers)
    assert "already used for a different request" in error_of(other, 422)
    in_body = {**body, "account_id": moves[12]["account_id"], "idempotency_key": "k-body-1"}
    assert post(client, "/decide", keys["manager"], in_body).status_code == 200
    again = post(client, "/decide", keys["manager"], in_body).json()["move"]
    assert again["decision"]["note"] == "once"
    entries = post(client, "/audit", keys["manager"], {"account_id": moves[12]["account_id"]})
    assert len(entries.json()["entries"]) == 1


def test_rep_contest_lands_in_queue_and_decision_resolves_it(client, keys, moves):
    account = moves[0]["account_id"]
    contest = post(
        client,
        "/contest",
        keys["rep"],
        {"account_id": account, "reason": "Renewal closes next month"},
    )
    assert contest.status_code == 200 and contest.json()["status"] == "open"
    queue = post(client, "/contests", keys["manager"]).json()["contests"]
    assert [c["account_id"] for c in queue] == [account] and queue[0]["rep_id"] == keys["rep_id"]
    row = post(client, "/moves", keys["manager"], {"status": "contested"}).json()["moves"]
    assert [m["account_id"] for m in row] == [account] and row[0]["open_contests"] == 1
    post(
        client,
        "/decide",
        keys["manager"],
        {"account_id": account, "action": "reject", "note": "agreed, stays"},
    )
    assert post(client, "/contests", keys["manager"]).json()["contests"] == []
    resolved = post(client, "/contests", keys["manager"], {"status": "all"}).json()["contests"][0]
    assert resolved["status"] == "resolved" and resolved["resolution"] == "reject: agreed, stays"


def test_contest_rules(client, keys, moves):
    account = moves[0]["account_id"]
    assert "only those reps" in error_of(
        post(
            client,
            "/contest",
            keys["other_rep"],
            {"account_id": account, "reason": "not mine either"},
        ),
        403,
    )
    assert (
        post(client, "/contest", keys["rep"], {"account_id": account, "reason": "no"}).status_code
        == 400
    )


def test_export_applies_decisions(client, keys, moves, tables):
    approved = moves[6]
    post(
        client,
        "/decide",
        keys["manager"],
        {"account_id": approved["account_id"], "action": "approve"},
    )
    text = post(client, "/export_plan", keys["manager"], {"only_changes": False})
    assert text.headers["content-type"].startswith("text/csv")
    assert "attachment" in text.headers["content-disposition"]
    rows = {r["account_id"]: r for r in csv.DictReader(io.StringIO(text.text))}
    assert len(rows) == len(tables.accounts)
    assert rows[approved["account_id"]]["rep_id"] == approved["to_rep_id"]
    assert (
        rows[approved["account_id"]]["changed"] == "true"
        and rows[approved["account_id"]]["status"] == "approved"
    )
    undecided = moves[10]
    assert rows[undecided["account_id"]]["rep_id"] == undecided["from_rep_id"]
    changes = list(
        csv.DictReader(
            io.StringIO(post(client, "/export_plan", keys["manager"], {"only_changes": True}).text)
        )
    )
    assert changes and all(r["changed"] == "true" for r in changes)


def test_plan_metrics_balance_before_proposed_decided(client, keys, moves, tables):
    metrics = post(client, "/plan_metrics", keys["manager"]).json()
    assert metrics["metrics"]["status"] == "optimal" and metrics["report_md"].startswith("# Plan")
    owned = len(tables.current_owners())
    for kind in ("before", "proposed", "decided"):
        assert sum(r[kind]["accounts"] for r in metrics["reps"]) == owned
    assert all(r["before"]["travel_km"] >= 0 for r in metrics["reps"])
    to_rep = {r["rep_id"]: r for r in metrics["reps"]}[moves[6]["to_rep_id"]]
    assert to_rep["decided"]["accounts"] >= to_rep["before"]["accounts"]
    assert metrics["moves"]["approved"] >= 1


def preview_done(client, key, body, timeout_s: float = 240.0) -> dict:
    """/plan_preview queues a solve job and answers at once: repeat the body until it is done."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = post(client, "/plan_preview", key, body)
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["job_id"]
        if result["job_status"] not in ("queued", "running"):
            assert result["job_status"] == "done", result
            return result
        assert time.monotonic() < deadline, f"preview job still {result} after {timeout_s} s"
        time.sleep(0.5)


@pytest.mark.slow  # runs the planner in a worker process (15 s under load)
def test_plan_preview_runs_the_planner_without_saving(client, keys):
    before = post(client, "/plan_metrics", keys["manager"]).json()
    body = {
        "scenario": {
            "limits": {"workload_band": None, "potential_band": None, "max_moved_share": 0.2},
            "solver": {"time_limit_s": 5},
        },
        "top_moves": 5,
    }
    result = preview_done(client, keys["job"], body)
    assert result["status"] in {"optimal", "feasible"} and result["metrics"]["fit_method"]
    assert len(result["top_moves"]) == min(5, result["moves_total"])
    impacts = [m["impact"] for m in result["top_moves"]]
    assert impacts == sorted(impacts, reverse=True)
    assert all(m["reasons"] and m["status"] == "proposed" for m in result["top_moves"])
    assert sum(r["proposed"]["accounts"] for r in result["reps"]) >= sum(
        r["before"]["accounts"] for r in result["reps"]
    )
    assert post(client, "/plan_metrics", keys["manager"]).json()["plan_id"] == before["plan_id"]


@pytest.mark.slow  # runs the planner in a worker process
def test_plan_preview_places_added_reps_by_city(client, keys):
    hire = {"rep_id": "NEW-HOU", "name": "New hire", "city": "Houston, TX", "capacity": 60}
    body = {
        "scenario": {
            "limits": {"workload_band": None, "potential_band": None, "max_moved_share": 0.3},
            "add_reps": [hire],
            "solver": {"time_limit_s": 5},
        },
        "top_moves": 500,
    }
    result = preview_done(client, keys["manager"], body)
    assert result["status"] in {"optimal", "feasible"} and result["metrics"]["conflicts"] == []
    assert result["moves_total"] == len(result["top_moves"]) > 0
    hired = [m for m in result["top_moves"] if m["to_rep"]["rep_id"] == "NEW-HOU"]
    regions = [m["region"] for m in hired]
    assert regions.count("South") > len(regions) / 2  # placed in Houston: mostly Southern accounts
    lost = {**hire, "city": "Qzxville"}
    message = error_of(
        post(client, "/plan_preview", keys["manager"], {"scenario": {"add_reps": [lost]}}), 400
    )
    assert "city 'Qzxville'" in message and "give latitude/longitude" in message


def test_plan_preview_rejects_unknown_scenario_keys(client, keys):
    message = error_of(
        post(client, "/plan_preview", keys["manager"], {"scenario": {"max_moves": 5}}), 400
    )
    assert "max_moves" in message


# -- persistence ----------------------------------------------------------------------------------
def test_decisions_survive_a_restart(client, keys, moves, db_url, base_env, monkeypatch):
    # A second ASGI app in one process trips BentoML's Prometheus registry, so this builds a fresh
    # service instance instead; test_server_e2e restarts the real server.
    from serving.service import Territory

    account = moves[7]["account_id"]
    post(
        client,
        "/decide",
        keys["manager"],
        {"account_id": account, "action": "approve", "note": "before restart"},
    )
    for key, value in {**base_env, "TERRITORY_DECISIONS_URL": db_url}.items():
        monkeypatch.setenv(key, value)
    restarted = Territory.inner()
    move = restarted.card_dict(account)["owner"]["move"]
    assert move["status"] == "approved" and move["decision"]["note"] == "before restart"
    assert restarted.store.audit(account_id=account)[0].note == "before restart"


# -- CRM integration: HubSpot card, CORS, pages ---------------------------------------------------
def hubspot_get(client, account: str, *, secret: str, age_ms=0, tamper=False, email=None):
    query = (
        f"userId=1&userEmail={email or 'rep%40example.com'}&associatedObjectId=987"
        f"&associatedObjectType=COMPANY&portalId=62515&territory_account_id={account}"
    )
    uri = f"http://testserver/crm/hubspot/card?{query}"
    timestamp = str(int(time.time() * 1000) - age_ms)
    signature = sign_v3(secret, "GET", uri, b"", timestamp)
    if tamper:
        query = query.replace("987", "988")
    return client.get(
        f"/crm/hubspot/card?{query}",
        headers={"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": timestamp},
    )


@pytest.fixture(scope="module")
def hubspot_secret(base_env) -> str:
    return base_env["TERRITORY_HUBSPOT_CLIENT_SECRET"]


@pytest.fixture(scope="module")
def crm_origin(base_env) -> str:
    return json.loads(base_env["TERRITORY_CORS_ORIGINS"])[0]


def test_hubspot_card_answers_in_crm_card_shape(client, moves, hubspot_secret, tables):
    # The signed-in HubSpot user must map to a rep who may see the account (docs/crm.md).
    email = tables.reps.set_index("rep_id").loc[moves[8]["from_rep_id"], "email"]
    response = hubspot_get(client, moves[8]["account_id"], secret=hubspot_secret, email=email)
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    assert result["objectId"] == 987 and result["title"].startswith("Account potential: tier ")
    labels = [p["label"] for p in result["properties"]]
    assert labels[:4] == ["Potential (12 months)", "Percentile", "Tier", "Current owner"]
    assert "Recommended owner" in labels and all(
        {"label", "dataType", "value"} <= set(p) for p in result["properties"]
    )
    assert f"/widget/?account={moves[8]['account_id']}#token=" in result["link"]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"secret": "wrong-secret-0000000000"}, "does not match"),
        ({"age_ms": 6 * 60 * 1000}, "replay"),
        ({"tamper": True}, "does not match"),
    ],
)
def test_hubspot_card_rejects_bad_or_old_signatures(client, moves, hubspot_secret, kwargs, needle):
    kwargs = {"secret": hubspot_secret, **kwargs}
    assert needle in error_of(hubspot_get(client, moves[8]["account_id"], **kwargs), 401)


def test_hubspot_card_without_signature_is_401(client):
    assert "X-HubSpot" in error_of(
        client.get("/crm/hubspot/card?associatedObjectId=1"), 401
    ).replace("x-hubspot", "X-HubSpot")


def test_cors_allows_only_configured_crm_origins(client, crm_origin):
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    ok = client.options("/card", headers={"Origin": crm_origin, **preflight})
    assert ok.headers["access-control-allow-origin"] == crm_origin
    bad = client.options("/card", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in bad.headers


def test_pages_are_served_with_framing_rules(client, crm_origin):
    widget = client.get("/widget/")
    assert widget.status_code == 200 and "widget.js" in widget.text
    assert f"frame-ancestors 'self' {crm_origin}" in widget.headers["content-security-policy"]
    review = client.get("/review/")
    assert review.status_code == 200 and "review.js" in review.text
    assert review.headers["content-security-policy"].endswith("frame-ancestors 'self'")
    assert (
        client.get("/review/review.js")
        .headers["content-type"]
        .startswith(("text/javascript", "application/javascript"))
    )


def test_service_without_a_plan_is_not_ready_and_says_why(client, base_env, monkeypatch, tmp_path):
    from serving.service import Territory

    env = {
        **base_env,
        "TERRITORY_PLAN_DIR": str(tmp_path / "no-plan"),
        "TERRITORY_DECISIONS_URL": f"sqlite:///{tmp_path / 'd.db'}",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    service = Territory.inner()
    assert service.__is_ready__() is False and service.state is not None
    status = service._status()
    assert status.ready is False and status.plan_id is None
    assert any("assignments.csv" in p and "territory plan" in p for p in status.problems)


# -- the planner's own output (runs last: it reloads the shared client's plan and restores it) ----
PLANNER_REASON_TYPES = {
    "fit",
    "travel",
    "continuity",
    "balance",
    "capacity",
    "disruption",
    "forced",
    "new",
}


@pytest.mark.slow  # `territory plan` on the served world
def test_serves_a_plan_written_by_territory_plan(client, keys, real_plan_dir, plan_dir):
    written = pd.read_csv(real_plan_dir / "moves.csv", dtype={"account_id": str})
    status = post(
        client, "/reload", keys["job"], {"plan_dir": str(real_plan_dir), "reload_model": False}
    )
    try:
        assert status.json()["ready"] is True and status.json()["problems"] == []
        page = post(client, "/moves", keys["manager"], {"limit": 1000}).json()
        assert page["total"] == len(written) > 0
        assert page["reason_types"] and set(page["reason_types"]) <= PLANNER_REASON_TYPES
        top = page["moves"][0]
        assert top["impact"] == pytest.approx(written["objective_delta"].max())
        assert top["reasons"] and all(r["text"] for r in top["reasons"])
        row = written.set_index("account_id").loc[top["account_id"]]
        assert (top["from_rep"]["rep_id"], top["to_rep"]["rep_id"]) == (
            row["from_rep_id"],
            row["to_rep_id"],
        )
        card = post(client, "/card", keys["manager"], {"account_id": top["account_id"]}).json()
        assert card["owner"]["recommended"]["rep_id"] == row["to_rep_id"]
        metrics = post(client, "/plan_metrics", keys["manager"]).json()
        assert metrics["metrics"]["status"] in {"optimal", "feasible"} and metrics["report_md"]
    finally:
        post(client, "/reload", keys["job"], {"plan_dir": str(plan_dir), "reload_model": False})
    assert post(client, "/status", keys["job"]).json()["plan_id"] == plan_id_of(plan_dir)


# -- plan approval and rollback (last: an approved plan takes no more decisions) -----------------
def test_approve_plan_needs_confirmation_then_is_immutable_and_rolls_back(
    client, keys, moves, tables, scores_path, plan_dir, tmp_path
):
    from tests.serving.fixtures.plans import write_plan

    preview = post(client, "/approve_plan", keys["manager"], {"note": "Q3"}).json()
    assert preview["approved"] is False and preview["plan_status"] == "proposed"
    applies = preview["applies"]
    assert applies["undecided"] and set(applies["approved"]) >= {moves[2]["account_id"]} - set(
        applies["rejected"]
    )
    assert "Send confirm: true" in preview["message"]
    assert post(client, "/status", keys["job"]).json()["plan_status"] == "proposed"
    done = post(
        client,
        "/approve_plan",
        keys["manager"],
        {"note": "Q3", "confirm": True, "effective_date": "2026-07-01"},
    ).json()
    assert done["approved"] is True and done["plan_status"] == "approved"
    assert done["effective_date"] == "2026-07-01" and done["applies"] == applies
    assert "plan.approve" in [
        e["action"] for e in post(client, "/audit", keys["manager"], {"limit": 5}).json()["entries"]
    ]
    late = post(
        client,
        "/decide",
        keys["manager"],
        {"account_id": moves[13]["account_id"], "action": "approve"},
    )
    assert "immutable" in error_of(late, 409)
    first_id = post(client, "/status", keys["job"]).json()["plan_id"]
    # a second plan version, approved, then rolled back: the first is served and approved again
    second = write_plan(  # /reload reads plans only beside the served one
        plan_dir.parent / f"second-{tmp_path.name}",
        tables,
        pd.read_csv(scores_path, dtype={"account_id": str}),
        seed=99,
    )
    reloaded = post(
        client, "/reload", keys["job"], {"plan_dir": str(second), "reload_model": False}
    )
    assert reloaded.json()["plan_status"] == "proposed", reloaded.text
    post(client, "/approve_plan", keys["manager"], {"note": "Q4", "confirm": True})
    assert "confirm: true" in error_of(
        post(client, "/rollback_plan", keys["manager"], {"note": "wrong"}), 400
    )
    rolled = post(client, "/rollback_plan", keys["manager"], {"note": "wrong", "confirm": True})
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["restored"]["plan_id"] == first_id
    status = post(client, "/status", keys["job"]).json()
    assert status["plan_id"] == first_id and status["plan_status"] == "approved"


# -- KPIs (kpi page) ------------------------------------------------------------------------------
def test_kpi_table_matches_the_kpi_functions(client, keys, tables, scores_path):
    from models.kpis import kpi_table

    body = {"by": "region", "start": "2025-07-01", "stop": "2026-07-01", "freq": "QS"}
    report = post(client, "/kpi_table", keys["manager"], body).json()
    scores = pd.read_csv(scores_path, dtype={"account_id": "str"}).set_index("account_id")
    expected = kpi_table(
        tables, "2025-07-01", "2026-07-01", by="region", potential=scores["potential"]
    ).set_index("region")
    got = {r["group"]: r for r in report["rows"]}
    assert sorted(got) == sorted(expected.index)
    for region, row in expected.iterrows():
        assert got[region]["won_revenue"] == pytest.approx(row["won_revenue"])
        assert got[region]["accounts_owned"] == row["accounts_owned"]
        assert got[region]["coverage"] == pytest.approx(row["coverage"], nan_ok=True)
    assert report["company"]["won_revenue"] == pytest.approx(expected["won_revenue"].sum())
    assert [r["period_start"] for r in report["trend"]][-4:] == [
        "2025-07-01", "2025-10-01", "2026-01-01", "2026-04-01"
    ]  # fmt: skip
    assert any("satisfaction" in note for note in report["notes"])


def test_kpi_table_defaults_to_the_last_year_and_refuses_reps(client, keys, tables):
    report = post(client, "/kpi_table", keys["job"], {}).json()
    assert report["by"] == "rep"
    assert report["stop"] == str(tables.default_as_of().date())
    assert pd.Timestamp(report["stop"]) - pd.Timestamp(report["start"]) >= pd.Timedelta(days=365)
    assert "manager" in error_of(post(client, "/kpi_table", keys["rep"], {}), 403)
    bad = {"start": "2026-07-01", "stop": "2025-07-01"}
    assert "not before" in error_of(post(client, "/kpi_table", keys["manager"], bad), 422)


def test_kpi_page_is_served_same_origin(client):
    page = client.get("/kpis/")
    assert page.status_code == 200 and "kpis.js" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "http" not in client.get("/kpis/kpis-charts.js").text.replace("http://www.w3.org", "")


# -- goals and plan outcomes (KPI page) -----------------------------------------------------------
def test_goals_per_rep_cover_the_plan_and_a_manager_edit_is_kept_and_exported(
    client, keys, plan_dir
):
    from models.planning import read_plan_folder

    assignments = read_plan_folder(plan_dir).plan.assignments
    report = post(client, "/goals", keys["manager"], {}).json()
    rows = {r["rep_id"]: r for r in report["rows"]}
    assert set(rows) == set(assignments["rep_id"])
    assert sum(r["accounts"] for r in rows.values()) == len(assignments)
    assert all(r["goal_low"] <= r["model_goal"] <= r["goal_high"] for r in rows.values())
    assert all(r["set_by"] == "model" and r["goal"] == r["model_goal"] for r in rows.values())
    assert report["confidence"] == 0.8 and report["fairness"]["reps"] == len(rows)

    rep = sorted(rows)[0]
    assert "note" in error_of(
        post(client, "/set_goal", keys["manager"], {"rep_id": rep, "goal": 1000, "note": " "}), 400
    )
    assert "manager" in error_of(
        post(client, "/set_goal", keys["rep"], {"rep_id": rep, "goal": 1, "note": "x"}), 403
    )
    assert "owns no account" in error_of(
        post(client, "/set_goal", keys["manager"], {"rep_id": "R-nope", "goal": 1, "note": "x"}),
        404,
    )
    edited = post(
        client, "/set_goal", keys["manager"], {"rep_id": rep, "goal": 123456, "note": "new hire"}
    ).json()
    row = next(r for r in edited["rows"] if r["rep_id"] == rep)
    assert row["goal"] == 123456 and row["model_goal"] == rows[rep]["model_goal"]
    assert row["set_by"] != "model" and row["note"] == "new hire"
    assert row["expected_attainment"] == pytest.approx(row["expected_revenue"] / 123456)
    last = edited["edits"][-1]
    assert last["previous_goal"] == pytest.approx(rows[rep]["model_goal"])
    assert last["goal"] == 123456 and last["rep_id"] == rep

    exported = client.post("/export_goals", json={}, headers=auth(keys["job"]))
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    table = pd.read_csv(io.StringIO(exported.text), dtype={"rep_id": "str"}).set_index("rep_id")
    assert table.loc[rep, "goal"] == 123456 and table.loc[rep, "note"] == "new hire"
    assert len(table) == len(rows)


def test_plan_outcomes_say_why_they_cannot_be_measured_yet(client, keys):
    got = post(client, "/plan_outcomes", keys["manager"], {}).json()
    assert got["measurable"] is False
    assert got["reason"]  # not approved, or the data ends before the plan took effect
    assert "manager" in error_of(post(client, "/plan_outcomes", keys["rep"], {}), 403)


# -- moves in business terms (issue 15 items 2 and 3) ---------------------------------------------
OWNER_DEFICIT_WORDS = ("Owner is at", "Owner does not", "Owner has been", "Owner carries")


@pytest.fixture
def real_plan_served(client, keys, real_plan_dir, plan_dir):
    """The service serving the plan `territory plan` wrote (moves with details), then put back."""
    post(client, "/reload", keys["job"], {"plan_dir": str(real_plan_dir), "reload_model": False})
    yield post(client, "/moves", keys["manager"], {"limit": 1000}).json()
    post(client, "/reload", keys["job"], {"plan_dir": str(plan_dir), "reload_model": False})


@pytest.mark.slow  # `territory plan` on the served world
def test_each_move_states_revenue_with_each_owner_and_a_net_its_terms_add_up_to(
    client, keys, real_plan_served
):
    moves = real_plan_served["moves"]
    assert moves
    for move in moves:
        x = move["explained"]
        assert x is not None, move["account_id"]
        assert x["revenue_new"] - x["revenue_now"] == pytest.approx(x["fit_gain"], abs=0.02)
        assert sum(t["value"] for t in x["terms"]) == pytest.approx(x["net"], abs=0.02)
        assert x["net"] == pytest.approx(move["impact"], abs=0.05)
        assert x["dominant"]["type"] in {"fit", "travel", "balance", "capacity", "forced", "new"}
        assert set(x["optimiser_detail"]) >= {"balance_restored", "capacity_freed", "budget_used"}
        assert all(not r["text"].startswith(("better fit", "balance")) for r in x["limits"])
        if (
            x["fit_reasons"]
            and len(x["fit_reasons"]) == len([r for r in x["fit_reasons"] if r["log_share"]])
            and x["revenue_now"]
        ):
            # the fit drivers' parts add up to the fit gain (fallback fit: two drivers, top 3)
            parts = sum(r["revenue_effect"] for r in x["fit_reasons"])
            assert parts == pytest.approx(x["fit_gain"], abs=0.05)
    top = moves[0]
    card = post(client, "/card", keys["manager"], {"account_id": top["account_id"]}).json()
    # the same account's potential is one figure on the card, the move and its explanation
    assert card["potential"]["value"] == pytest.approx(top["potential"])
    assert top["explained"]["potential"] == pytest.approx(top["potential"], rel=1e-6)
    assert card["owner"]["move"]["explained"]["net"] == top["explained"]["net"]
    travel = [x for x in top["explained"]["limits"] if x["type"] == "travel"]
    assert travel and "km" in travel[0]["text"]


@pytest.mark.slow
def test_a_rep_reads_the_move_as_it_concerns_them_without_a_colleagues_shortcomings(
    client, keys, real_plan_served
):
    from serving.cards import for_rep

    move = real_plan_served["moves"][0]
    manager_card = post(client, "/card", keys["manager"], {"account_id": move["account_id"]})
    manager_card = manager_card.json()
    assert manager_card["owner"]["move"]["explained"]["optimiser_detail"]
    for rep_id in (move["to_rep"]["rep_id"], move["from_rep"]["rep_id"]):
        card = for_rep(manager_card, rep_id)
        rep_move = card["owner"]["move"]
        assert "optimiser_detail" not in rep_move["explained"]
        assert all(r["favours"] == "new" for r in rep_move["explained"]["fit_reasons"])
        assert move["to_rep"]["name"] in rep_move["for_you"] or "your book" in rep_move["for_you"]
        text = json.dumps(card)
        assert not any(word in text for word in OWNER_DEFICIT_WORDS)
        deficits = [
            r["phrase"]
            for r in manager_card["reasons"]
            if r["feature"].startswith("owner_") and r["direction"] == "down"
        ]
        assert not any(p in text for p in deficits)
    assert (
        "join your book"
        in for_rep(manager_card, move["to_rep"]["rep_id"])["owner"]["move"]["for_you"]
    )


def test_a_reps_card_has_no_owner_deficit_and_the_managers_keeps_it(client, keys, scores_path):
    from serving.reasons import OWNER_FEATURES

    scores = pd.read_csv(scores_path, dtype={"account_id": str})
    book = {
        row["account_id"]
        for row in post(
            client, "/rep_view", keys["rep"], {"rep_id": keys["rep_id"], "limit": 500}
        ).json()["accounts"]
    }
    deficit = [
        a
        for a, cell in zip(scores["account_id"], scores["top_reasons"], strict=True)
        if a in book
        and any(
            r.get("feature") in OWNER_FEATURES and r.get("direction") == "down"
            for r in json.loads(cell or "[]")
        )
    ]
    assert deficit, "the served world has no account in the rep's book with an owner deficit"
    account = deficit[0]
    manager = post(client, "/card", keys["manager"], {"account_id": account}).json()
    rep = post(client, "/card", keys["rep"], {"account_id": account}).json()
    phrases = [
        r["phrase"]
        for r in manager["reasons"]
        if r["feature"] in OWNER_FEATURES and r["direction"] == "down"
    ]
    assert phrases, manager["reasons"]  # the manager sees the owner's deficit
    assert not any(p in json.dumps(rep) for p in phrases), rep["reasons"]
    assert rep["potential"] == manager["potential"]  # the same figure either way


def test_plan_tradeoff_is_for_managers_and_says_how_to_get_a_curve(client, keys, plan_dir):
    body = post(client, "/plan_tradeoff", keys["manager"]).json()
    assert body["plan_id"] == plan_id_of(plan_dir) and body["points"] == []
    assert "territory plan --tradeoff" in body["note"]
    assert "manager" in error_of(post(client, "/plan_tradeoff", keys["rep"]), 403)
    page = client.get("/review/")
    assert 'id="tradeoff"' in page.text and "tradeoff.js" in page.text
    assert "/plan_tradeoff" in client.get("/review/tradeoff.js").text
