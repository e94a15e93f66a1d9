"""Scenario planning through the API, in process (the session's one service client): saved
scenarios, solves in worker processes with progress, cache and cancel, the comparison, the map
data and a rep's own book. Adoption changes the served plan, so it is tested against a real
server (test_scenarios_browser.py)."""

from __future__ import annotations

import time

import pytest

from tests.serving.fixtures.clients import auth

QUICK = {
    "name": "wide bands",
    "limits": {"workload_band": None, "potential_band": None, "max_moved_share": 0.2},
    "solver": {"time_limit_s": 5},
}
TIGHTER = {
    "name": "fewer moves",
    "limits": {"workload_band": None, "potential_band": None, "max_moved_share": 0.05},
    "solver": {"time_limit_s": 5},
}


def post(client, path, key, body=None):
    return client.post(path, json=body or {}, headers=auth(key))


def ok(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def error_of(response, status: int) -> str:
    assert response.status_code == status, response.text
    return response.json()["error"]


def wait_done(client, key, job_id, timeout_s: float = 240.0) -> dict:
    seen = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = ok(post(client, "/scenario_job", key, {"job_id": job_id}))
        seen.append((job["status"], job["fraction"]))
        if job["status"] not in ("queued", "running", "cancelling"):
            job["seen"] = seen
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} not finished after {timeout_s} s: {seen[-3:]}")


@pytest.fixture(scope="module")
def solved(client, keys) -> list[dict]:
    """Two scenarios solved by worker processes (the first from a saved scenario)."""
    saved = ok(post(client, "/scenario_save", keys["manager"], {"name": "wide", "document": QUICK}))
    first = ok(
        post(client, "/scenario_solve", keys["manager"], {"scenario_id": saved["scenario_id"]})
    )
    second = ok(post(client, "/scenario_solve", keys["manager"], {"document": TIGHTER}))
    return [wait_done(client, keys["manager"], j["job_id"]) for j in (first, second)]


def test_save_validates_and_keeps_name_author_and_document(client, keys):
    saved = ok(
        post(
            client,
            "/scenario_save",
            keys["manager"],
            {"name": "from yaml", "yaml": "limits:\n  max_moved_share: 0.1\n"},
        )
    )
    assert saved["author"] == "Maria Manager" and saved["name"] == "from yaml"
    assert saved["document"]["limits"] == {"max_moved_share": 0.1}
    listed = ok(post(client, "/scenario_list", keys["manager"]))
    assert saved["scenario_id"] in [s["scenario_id"] for s in listed["scenarios"]]
    message = error_of(
        post(
            client, "/scenario_save", keys["manager"], {"name": "x", "document": {"max_moves": 3}}
        ),
        400,
    )
    assert "max_moves" in message
    assert "does not parse" in error_of(
        post(client, "/scenario_save", keys["manager"], {"name": "x", "yaml": "limits: [1, "}), 400
    )


def test_reps_may_not_plan_scenarios(client, keys):
    message = error_of(post(client, "/scenario_solve", keys["rep"], {"document": QUICK}), 403)
    assert "needs role manager or job" in message


@pytest.mark.slow  # two planner runs in worker processes
def test_solve_runs_in_a_worker_with_progress_and_is_cached(client, keys, solved):
    first, second = solved
    for job in solved:
        assert job["status"] == "done", job
        assert job["summary"]["status"] in {"optimal", "feasible"}
        assert job["fraction"] == 1.0 and job["author"] == "Maria Manager"
    statuses = [s for s, _ in first["seen"]]
    assert statuses[-1] == "done"
    again = ok(post(client, "/scenario_solve", keys["job"], {"document": QUICK | {"name": "wide"}}))
    assert again["cached"] is True and again["job_id"] == first["job_id"]
    changed = {**TIGHTER, "solver": {"time_limit_s": 6}}
    fresh = ok(post(client, "/scenario_solve", keys["job"], {"document": changed}))
    assert fresh["cached"] is False and fresh["job_id"] != second["job_id"]
    deadline = time.monotonic() + 120
    while (
        ok(post(client, "/scenario_job", keys["job"], {"job_id": fresh["job_id"]}))["status"]
        == "queued"
    ):
        assert time.monotonic() < deadline, "the worker process never started"
        time.sleep(0.2)
    cancelled = ok(post(client, "/scenario_cancel", keys["manager"], {"job_id": fresh["job_id"]}))
    assert cancelled["status"] in {"cancelled", "cancelling"}
    final = wait_done(client, keys["manager"], fresh["job_id"], timeout_s=30)
    assert final["status"] == "cancelled" and "cancelled" in final["error"]
    queued = ok(post(client, "/scenario_solve", keys["job"], {"document": changed | {"name": "q"}}))
    now = ok(post(client, "/scenario_cancel", keys["manager"], {"job_id": queued["job_id"]}))
    assert now["status"] in {"cancelled", "cancelling"}
    assert wait_done(client, keys["manager"], queued["job_id"], 30)["status"] == "cancelled"
    message = error_of(
        post(client, "/scenario_cancel", keys["manager"], {"job_id": fresh["job_id"]}), 400
    )
    assert "cancelled" in message


@pytest.mark.slow
def test_compare_two_scenarios_with_the_status_quo(client, keys, solved):
    body = {"job_ids": [j["job_id"] for j in solved]}
    result = ok(post(client, "/scenario_compare", keys["manager"], body))
    assert [c["key"] for c in result["columns"]] == ["today", *body["job_ids"]]
    metrics = {m["metric"]: m["values"] for m in result["metrics"]}
    assert metrics["accounts moved"][0] == 0
    assert metrics["accounts moved"][2] <= metrics["accounts moved"][1]  # 5% budget vs 20%
    assert all(v is not None for v in metrics["expected value / yr"])
    differing = result["differing"]
    assert differing["total"] >= differing["shown"] > 0
    row = differing["accounts"][0]
    assert len(row["owners"]) == 3 and len(set(row["owners"])) > 1
    reps = result["reps"]
    for k in range(2):  # accounts only change hands: per-rep deltas sum to zero
        assert abs(sum(r["deltas"][k]["accounts"] for r in reps)) < 1e-9
    queued = ok(post(client, "/scenario_solve", keys["job"], {"document": {"name": "slow"}}))
    ok(post(client, "/scenario_cancel", keys["job"], {"job_id": queued["job_id"]}))
    body = {"job_ids": [queued["job_id"]]}
    message = error_of(post(client, "/scenario_compare", keys["manager"], body), 400)
    assert "only a finished solve" in message and "cancel" in message


def test_compare_unknown_job_is_404(client, keys):
    message = error_of(post(client, "/scenario_compare", keys["manager"], {"job_ids": ["zz"]}), 404)
    assert "'zz' does not exist" in message


@pytest.mark.slow
def test_map_data_for_a_scenario_and_the_served_plan(client, keys, solved, tables):
    served = ok(post(client, "/plan_map", keys["manager"]))
    assert served["geography"] is True
    assert len(served["accounts"]["id"]) == len(tables.accounts) - served["unplaced"]
    assert len(served["reps"]) == len(tables.reps)
    names = [p["name"] for p in served["places"]]  # reference cities from package data
    assert 0 < len(names) <= 24 and "Chicago" in names
    moved = sum(
        b != a
        for b, a in zip(served["accounts"]["before"], served["accounts"]["after"], strict=True)
    )
    assert moved > 0
    job = solved[0]
    scenario = ok(post(client, "/plan_map", keys["manager"], {"job_id": job["job_id"]}))
    moved = sum(
        b != a
        for b, a in zip(scenario["accounts"]["before"], scenario["accounts"]["after"], strict=True)
    )
    planned = job["summary"]["after"]["accounts_moved"]  # moves of unplaced accounts not drawn
    assert planned - scenario["unplaced"] <= moved <= planned and moved > 0


def test_rep_book_is_the_reps_own(client, keys):
    book = ok(post(client, "/rep_book", keys["rep"], {"rep_id": keys["rep_id"]}))
    assert book["rep"]["rep_id"] == keys["rep_id"]
    potentials = [a["potential"]["value"] for a in book["accounts"] if a["potential"]]
    assert potentials == sorted(potentials, reverse=True)
    assert [c["rank"] for c in book["call_plan"]] == list(range(1, len(book["call_plan"]) + 1))
    assert book["leaving"] and all("proposed" in m["when"] for m in book["leaving"])
    work = book["workload"]
    assert work["low"] < work["target"] < work["high"] and work["band"] == 0.1
    message = error_of(
        post(client, "/rep_book", keys["rep"], {"rep_id": keys["other_rep_id"]}), 403
    )
    assert "only open their own" in message
    assert ok(post(client, "/rep_book", keys["manager"], {"rep_id": keys["other_rep_id"]}))
