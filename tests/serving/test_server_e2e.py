"""The real server: `territory serve` as a subprocess on a loopback port, called over HTTP."""

from __future__ import annotations

import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_served_card_decision_metrics_and_restart(served, keys, plan_moves):
    move = plan_moves.iloc[0]
    with httpx.Client(base_url=served.url, timeout=30) as http:
        card = http.post(
            "/card", json={"account_id": move["account_id"]}, headers=auth(keys["rep"])
        )
        assert card.status_code == 200, card.text
        assert card.json()["freshness"]["source"] == "precomputed"
        assert card.json()["owner"]["move"]["to_rep"]["rep_id"] == move["to_rep_id"]

        contest = http.post(
            "/contest",
            json={"account_id": move["account_id"], "reason": "Deal closing in May"},
            headers=auth(keys["rep"]),
        )
        assert contest.status_code == 200, contest.text
        decided = http.post(
            "/decide",
            json={
                "account_id": move["account_id"],
                "action": "approve",
                "note": "e2e",
                "expected_decision_id": 0,
            },
            headers=auth(keys["manager"]),
        )
        assert decided.status_code == 200, decided.text
        assert decided.json()["move"]["status"] == "approved"
        forbidden = http.post(
            "/decide",
            json={"account_id": move["account_id"], "action": "reject"},
            headers=auth(keys["rep"]),
        )
        assert forbidden.status_code == 403 and "needs role manager" in forbidden.json()["error"]

        metrics = http.get("/metrics").text
        assert 'territory_card_total{source="precomputed"}' in metrics
        assert 'territory_decisions_total{action="approve"}' in metrics
        assert "bentoml_service_request_total" in metrics
        # cards answered by serving/card_fast.py are counted by BentoML's HTTP metrics too
        assert any(
            line.startswith("bentoml_service_request_total{") and 'endpoint="/card"' in line
            for line in metrics.splitlines()
        )
        assert "/card" in http.get("/docs.json").json()["paths"]
        assert http.get("/widget/").status_code == 200 and http.get("/review/").status_code == 200

    again = served.restarted()
    try:
        again.wait_ready()
        with httpx.Client(base_url=again.url, timeout=30) as http:
            after = http.post(
                "/card", json={"account_id": move["account_id"]}, headers=auth(keys["manager"])
            ).json()
            assert after["owner"]["move"]["status"] == "approved"
            assert after["owner"]["move"]["decision"]["note"] == "e2e"
            trail = http.post(
                "/audit", json={"account_id": move["account_id"]}, headers=auth(keys["manager"])
            ).json()
            assert [e["action"] for e in trail["entries"]] == [
                "contest.resolve",
                "decision.approve",
                "contest.open",
            ]
    finally:
        again.stop()
