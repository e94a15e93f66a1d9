"""POST /card's fast path (serving/card_fast.py) and card cache (serving/card_cache.py): the same
bytes as the endpoint, the same refusals, and never a card built from anything but what is loaded
now (a decision, a reload or an age ticking over rebuilds it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from serving.card_cache import CardCache, card_stamp
from serving.decisions import DecisionView
from serving.schemas import AccountCard

# A text/plain body is still parsed as JSON by BentoML, but the fast path leaves every media type
# but JSON to the endpoint: the way to get the endpoint's own answer for comparison.
ENDPOINT_ONLY = {"Content-Type": "text/plain"}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def card(client, key: str, account_id: str, **headers):
    return client.post("/card", json={"account_id": account_id}, headers={**auth(key), **headers})


@pytest.fixture(scope="module")
def service(client):
    import bentoml

    return bentoml.get_current_service()


@pytest.fixture(scope="module")
def moves(plan_moves) -> list[dict]:
    return plan_moves.to_dict("records")


def cached_keys(service, account_id: str) -> set[tuple]:
    return {k for k in service.card_cache._cards if k[0] == account_id}


@pytest.mark.parametrize("role", ["manager", "rep"])
def test_fast_card_is_the_endpoints_answer_byte_for_byte(client, service, keys, moves, role):
    account = moves[0]["account_id"]  # the rep key's own account, with a move out of it
    fast = card(client, keys[role], account)
    endpoint = card(client, keys[role], account, **ENDPOINT_ONLY)
    assert fast.status_code == endpoint.status_code == 200
    assert fast.content == endpoint.content
    assert fast.headers["content-type"] == endpoint.headers["content-type"] == "application/json"
    assert fast.headers["server"] == endpoint.headers["server"]
    assert (account, role, keys["rep_id"] if role == "rep" else None) in cached_keys(
        service, account
    )
    body = fast.json()
    assert AccountCard.model_validate(body).account_id == account
    if role == "rep":  # the rep's version: the move told as it concerns them
        assert body["owner"]["move"]["for_you"].startswith("This account is proposed to move")


def test_rep_cannot_read_another_reps_account_through_the_cache(client, service, keys, moves):
    mine = moves[0]["account_id"]
    assert card(client, keys["rep"], mine).status_code == 200  # now cached for this rep
    other = card(client, keys["other_rep"], mine)
    missing = card(client, keys["other_rep"], "NO-SUCH-ACCOUNT")
    assert other.status_code == missing.status_code == 404
    # the same answer for a foreign and a missing id: nothing to probe
    assert other.json()["error"] == missing.json()["error"].replace("NO-SUCH-ACCOUNT", mine)
    assert (mine, "rep", keys["other_rep_id"]) not in cached_keys(service, mine)


@pytest.mark.parametrize(
    ("headers", "body", "status", "needle"),
    [
        ({}, {"account_id": "A"}, 401, "no API key"),
        ("job", {"account_id": "A"}, 403, "needs role rep or manager"),
        ("manager", {"account_id": "A", "extra": 1}, 400, "validation error"),
        ("manager", {"account_id": ""}, 400, "validation error"),
        ("manager", {"account_id": "A\x00"}, 400, "NUL"),
        ("manager", {"account_id": "NOPE"}, 404, "not in the CRM data"),
    ],
)
def test_refusals_are_the_endpoints(client, keys, moves, headers, body, status, needle):
    if isinstance(headers, str):
        headers = auth(keys[headers])
    if body["account_id"] == "A":
        body = {**body, "account_id": moves[0]["account_id"]}
    response = client.post("/card", json=body, headers=headers)
    assert response.status_code == status, response.text
    assert needle in response.text


@pytest.fixture
def open_plan(client, keys, plan_dir, tables, scores_path, tmp_path):
    """A fresh plan version served for one test (the session's plan may be approved by now,
    and an approved plan takes no decisions), then the session's plan again."""
    from tests.serving.fixtures.plans import write_plan

    scores = pd.read_csv(scores_path, dtype={"account_id": str})
    fresh = write_plan(plan_dir.parent / f"fast-{tmp_path.name}", tables, scores, seed=5)
    reload = {"plan_dir": str(fresh), "reload_model": False}
    assert client.post("/reload", json=reload, headers=auth(keys["job"])).status_code == 200
    yield pd.read_csv(fresh / "moves.csv", dtype=str).to_dict("records")
    back = {"plan_dir": str(plan_dir), "reload_model": False}
    assert client.post("/reload", json=back, headers=auth(keys["job"])).status_code == 200


def test_a_decision_rebuilds_the_card_of_its_account(client, keys, open_plan):
    account = open_plan[-1]["account_id"]
    before = card(client, keys["manager"], account).json()["owner"]["move"]
    assert before["status"] == "proposed"
    decided = client.post(
        "/decide",
        json={"account_id": account, "action": "reject", "note": "fast path check"},
        headers=auth(keys["manager"]),
    )
    assert decided.status_code == 200, decided.text
    after = card(client, keys["manager"], account).json()["owner"]["move"]
    assert after["status"] == "rejected" and after["decision"]["note"] == "fast path check"
    assert card(client, keys["manager"], account, **ENDPOINT_ONLY).json()["owner"]["move"] == after


def test_a_reload_drops_every_cached_card(client, service, keys, scores_path):
    scores = pd.read_csv(scores_path, dtype={"account_id": str})
    account = scores["account_id"].iloc[1]
    first = card(client, keys["manager"], account).json()
    assert cached_keys(service, account)
    path = scores_path.parent / "scores_fast.csv"
    scores.assign(potential=scores["potential"] * 3).to_csv(path, index=False)
    reload = {"scores_path": str(path), "reload_model": False}
    try:
        assert client.post("/reload", json=reload, headers=auth(keys["job"])).status_code == 200
        tripled = card(client, keys["manager"], account).json()
        assert tripled["potential"]["value"] == pytest.approx(3 * first["potential"]["value"])
        assert tripled["freshness"]["scores_path"] == str(path)
        assert service.card_cache._state() is service.state  # nothing of the old state is kept
    finally:
        client.post("/reload", json={"scores_path": str(scores_path)}, headers=auth(keys["job"]))
        path.unlink(missing_ok=True)
    assert card(client, keys["manager"], account).json()["potential"] == first["potential"]


def test_fast_cards_are_counted_in_the_metrics(client, keys, moves):
    import prometheus_client  # in process BentoML's metrics live in the default registry

    def served() -> float:
        value = prometheus_client.REGISTRY.get_sample_value(
            "territory_card_total", {"source": "precomputed"}
        )
        assert value is not None
        return value

    card(client, keys["manager"], moves[1]["account_id"])
    before = served()
    for _ in range(3):
        assert card(client, keys["manager"], moves[1]["account_id"]).status_code == 200
    assert served() == before + 3


# -- the cache on its own -------------------------------------------------------------------------
class _Scores:
    scored_at = "2026-11-30T00:00:00+00:00"


class _State:  # what card_stamp reads of a ServingState
    scores = _Scores()
    data_latest = "2026-11-01"


def test_stamp_follows_decision_contests_and_ages():
    state, now = _State(), datetime(2026, 12, 1, tzinfo=UTC)
    view = DecisionView("p", {}, {})
    base = card_stamp(state, view, "A1", now)
    assert card_stamp(state, view, "A1", now + timedelta(seconds=60)) == base  # 0.01 day = 864 s
    assert card_stamp(state, view, "A1", now + timedelta(seconds=900)) != base
    assert card_stamp(state, None, "A1", now) != base
    assert card_stamp(state, DecisionView("p", {}, {"A1": 1}), "A1", now) != base
    assert card_stamp(state, DecisionView("p", {}, {"B2": 1}), "A1", now) == base


def test_cache_serves_only_the_same_state_and_stamp_and_stays_bounded():
    cache, one, two = CardCache(max_cards=3), _State(), _State()
    cache.put(one, ("A1", "manager", None), (1,), b"one")
    assert cache.get(one, ("A1", "manager", None), (1,)) == b"one"
    assert cache.get(one, ("A1", "manager", None), (2,)) is None
    assert cache.get(one, ("A1", "rep", "R1"), (1,)) is None
    assert cache.get(two, ("A1", "manager", None), (1,)) is None
    assert len(cache) == 0  # asked for under another state: the old cards are dropped
    cache.put(two, ("A2", "manager", None), (1,), b"two")
    assert cache.get(two, ("A2", "manager", None), (1,)) == b"two" and len(cache) == 1
    for i in range(5):
        cache.put(two, (f"B{i}", "manager", None), (1,), b"x")
    assert len(cache) <= 3
