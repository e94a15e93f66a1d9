"""A running server picks up a new champion, new scores and a new drift report without a restart,
keeps serving the last good state when a new scores file is broken, and says which model and
scores file answered (a real `territory serve` on a free port)."""

from __future__ import annotations

import json
import os
import shutil
import time

import httpx
import numpy as np
import pandas as pd
import pytest

from features.drift import drift_report
from features.loaders import load_crm
from tests.serving.fixtures.plans import write_plan
from tests.serving.fixtures.servers import ARTIFACTS, Server
from tests.serving.fixtures.world import run_cli, write_tiny_world
from tests.training.small_model import register_small_model

pytestmark = [pytest.mark.integration, pytest.mark.slow]
JOB, MANAGER = "job-key-reload-0123456789", "manager-key-reload-012345"


@pytest.fixture
def world(tmp_path):
    """Its own CRM export, MLflow store (champion v1), scores file and plan: this test moves the
    champion and rewrites the scores, so it shares nothing with the session fixtures."""
    import mlflow

    before = mlflow.get_tracking_uri()
    crm = write_tiny_world(tmp_path / "crm")
    home = tmp_path / "state"
    home.mkdir()
    tables = load_crm(str(crm)).tables
    register_small_model(tables, home)
    scores = tmp_path / "scores.csv"
    env = {"TERRITORY_DATA_DIR": str(home)}
    run_cli(["score", "--data", str(crm), "--out", str(scores)], env)
    plan = write_plan(tmp_path / "plan", tables, pd.read_csv(scores, dtype={"account_id": str}))
    yield {"crm": crm, "home": home, "scores": scores, "plan": plan, "tables": tables, "env": env}
    mlflow.set_tracking_uri(before)


def call(server: Server, path: str, key: str, body: dict | None = None) -> dict:
    response = httpx.post(
        server.url + path, json=body or {}, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(what, check, server: Server, timeout_s: float = 120.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    status = call(server, "/status", JOB)
    raise AssertionError(f"timed out waiting for {what}; /status: {json.dumps(status)}")


def test_new_champion_scores_and_drift_are_served_without_a_restart(world, tmp_path):
    keys = {JOB: {"name": "job", "role": "job"}, MANAGER: {"name": "M", "role": "manager"}}
    env = {
        **world["env"],
        "TERRITORY_API_KEYS": json.dumps(keys),
        "TERRITORY_DECISIONS_URL": f"sqlite:///{tmp_path / 'decisions.db'}",
        "TERRITORY_RELOAD_CHECK_S": "1",
    }
    args = ["--data", str(world["crm"]), "--scores", str(world["scores"])]
    server = Server(env, [*args, "--plan", str(world["plan"])], tmp_path / "server.log")
    try:
        server.wait_ready()
        _check_serving_v1_then_v2(server, world)
        _check_drift_is_shown(server, world)
        _check_broken_scores_keep_the_last_good_ones(server, world)
    finally:
        server.stop()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(server.log, ARTIFACTS / "reload-server.log")


def _check_serving_v1_then_v2(server: Server, world) -> None:
    ready = httpx.get(server.url + "/readyz", timeout=10).json()
    assert ready["ready"] is True
    assert any("serving account-potential v1 (champion)" in d for d in ready["details"])
    ids = pd.read_csv(world["scores"], dtype={"account_id": str})["account_id"].tolist()[:5]
    first = call(server, "/score", JOB, {"account_ids": ids})
    assert first["model_version"] == "account-potential v1 (champion)"
    assert first["scores_model_version"] == "account-potential v1"
    assert first["scores_path"] == str(world["scores"]) and first["scored_at"]
    card = call(server, "/card", MANAGER, {"account_id": ids[0]})
    assert card["model_version"] == "account-potential v1 (champion)"
    fresh = card["freshness"]
    assert fresh["scored_at"] == first["scored_at"] and fresh["scores_age_days"] < 1
    # the tiny world ends 2026-06-30: older than the 30-day default, so the card warns
    assert fresh["data_age_days"] > 30
    assert any("TERRITORY_DATA_MAX_AGE_DAYS" in w for w in fresh["warnings"])
    assert not any("TERRITORY_SCORES_MAX_AGE_DAYS" in w for w in fresh["warnings"])

    # promote a new model and rescore, as the scheduled jobs do; the server is not restarted
    assert register_small_model(world["tables"], world["home"], n_estimators=25) == "2"
    run_cli(["score", "--data", str(world["crm"]), "--out", str(world["scores"])], world["env"])
    second = wait_for(
        "the server to answer with v2",
        lambda: (
            r
            if (r := call(server, "/score", JOB, {"account_ids": ids}))["scores_model_version"]
            == "account-potential v2"
            else None
        ),
        server,
    )
    assert second["model_version"] == "account-potential v2 (champion)"
    assert second["scored_at"] >= first["scored_at"]
    rescored = pd.read_csv(world["scores"], dtype={"account_id": str}).set_index("account_id")
    assert [r["potential"] for r in second["results"]] == pytest.approx(
        rescored.loc[ids, "potential"].tolist()
    )
    status = call(server, "/status", JOB)
    assert status["model_version"] == "account-potential v2 (champion)"
    assert status["reload"]["reloaded_at"] and status["reload"]["error"] is None
    assert not any("made with" in w for w in status["freshness"]["warnings"])


def _check_drift_is_shown(server: Server, world) -> None:
    """Drift planted in a copy of the features, written where `territory retrain` writes it."""
    from training.retrain import _write_drift
    from training.settings import TrainingSettings

    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"won_revenue_12m": rng.lognormal(10, 1, 2000)})
    current = reference.assign(won_revenue_12m=reference["won_revenue_12m"] * 4)
    report = drift_report(reference, current, ["won_revenue_12m"])
    report.update(reference_as_of="2025-06-30", current_as_of="2026-06-30")
    os.environ["TERRITORY_DATA_DIR"] = str(world["home"])
    try:
        _write_drift(TrainingSettings(), report)
    finally:
        del os.environ["TERRITORY_DATA_DIR"]
    details = wait_for(
        "drift in /readyz",
        lambda: [
            d
            for d in httpx.get(server.url + "/readyz", timeout=10).json()["details"]
            if d.startswith("drift alert")
        ],
        server,
    )
    assert "won_revenue_12m PSI" in details[0] and "alert >= 0.25" in details[0]
    drift = call(server, "/status", MANAGER)["drift"]
    assert drift["status"] == "alert"
    assert drift["worst"][0]["column"] == "won_revenue_12m" and drift["worst"][0]["psi"] > 0.25
    assert drift["thresholds"]["psi_alert"] == 0.25


def _check_broken_scores_keep_the_last_good_ones(server: Server, world) -> None:
    before = call(server, "/status", JOB)
    broken = world["scores"].with_name("broken.tmp")
    broken.write_text("account_id,oops\nA00001,1\n")
    os.replace(broken, world["scores"])
    status = wait_for(
        "the failed reload in /status",
        lambda: s if (s := call(server, "/status", JOB))["reload"]["error"] else None,
        server,
    )
    assert "lacks column(s)" in status["reload"]["error"]
    assert status["model_version"] == before["model_version"]
    assert status["scored_at"] == before["scored_at"] and status["scores"] == before["scores"]
    assert any("reload failed" in p for p in status["problems"])
    ready = httpx.get(server.url + "/readyz", timeout=10)
    assert ready.status_code == 200  # still serving the last good scores
    assert any("reload failed" in d and "last good" in d for d in ready.json()["details"])
    ids = [
        r["account_id"] for r in call(server, "/score", JOB, {"account_ids": ["A00001"]})["results"]
    ]
    assert ids == ["A00001"]
