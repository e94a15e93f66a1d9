"""Train -> register -> load by alias -> same predictions; the train and score CLIs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.loaders import load_crm
from features.pipeline import build_account_features
from models.errors import ModelNotFoundError
from models.potential import load_potential_model
from training.cli import app
from training.register import configure, log_and_register
from training.settings import TrainingSettings
from training.train import TrainConfig, plan_snapshots, train_potential

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def trained(small_world_dir):
    tables = load_crm(small_world_dir).tables
    return tables, train_potential(tables, TrainConfig())


def test_time_layout_is_forward(trained):
    _, result = trained
    plan, horizon = result.plan, pd.Timedelta(days=365)
    assert max(plan.train) < plan.validation
    assert plan.validation + horizon <= plan.holdout
    assert plan.holdout + horizon <= result.config.as_of
    assert plan.holdout in plan.refit and set(plan.train) <= set(plan.refit)


def test_too_short_history_names_the_horizon():
    config = TrainConfig(horizon_days=365)
    with pytest.raises(Exception, match="--horizon"):
        plan_snapshots(pd.Timestamp("2025-01-01"), config, pd.Timestamp("2026-01-01"))


def test_small_export_warns_and_trains_the_simple_model(trained):
    _, result = trained
    assert result.chosen == "simple"
    assert any("small export" in w for w in result.warnings)


def test_comparison_has_every_baseline(trained):
    _, result = trained
    assert list(result.comparison["model"]) == [
        "potential_model",
        "last_12m_revenue",
        "firmographic_rule",
        "linear_model",
    ]
    assert result.metrics["holdout_capture_top20"] > 0.2


def test_training_is_reproducible(trained):
    tables, result = trained
    again = train_potential(tables, TrainConfig())
    holdout = result.holdout[result.model.feature_names_]
    np.testing.assert_array_equal(again.model.predict(holdout), result.model.predict(holdout))


def test_mlflow_round_trip_by_alias(trained, territory_home):
    tables, result = trained
    settings = TrainingSettings()
    run_id, version = log_and_register(result, settings, promote=True)
    assert len(run_id) == 32 and version == "1"
    features = build_account_features(tables, result.config.as_of)[result.model.feature_names_]
    for alias in ("champion", "challenger"):
        loaded, _ = load_potential_model(f"models:/account-potential@{alias}")
        np.testing.assert_array_equal(loaded.predict(features), result.model.predict(features))
    import mlflow

    run = mlflow.get_run(run_id)
    assert run.data.params["feature_set"] == "account_potential_v1"
    assert run.data.params["dataset_digest"] == result.dataset_digest
    assert "holdout_capture_top20" in run.data.metrics
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id, "plots")}
    assert {
        "plots/calibration.png",
        "plots/capture_curve.png",
        "plots/shap_summary.png",
    } <= artifacts


def test_unknown_model_uri_is_a_clear_error(territory_home):
    configure(TrainingSettings())
    with pytest.raises(ModelNotFoundError, match="territory train"):
        load_potential_model("models:/account-potential@nope")


def test_cli_train_then_score(small_world_dir, territory_home):
    runner = CliRunner()
    trained = runner.invoke(app, ["train", "--data", str(small_world_dir), "--promote"])
    assert trained.exit_code == 0, trained.output
    assert "run id" in trained.output and "of oracle" in trained.output
    out = territory_home / "scores.csv"
    scored = runner.invoke(app, ["score", "--data", str(small_world_dir), "--out", str(out)])
    assert scored.exit_code == 0, scored.output
    scores = pd.read_csv(out)
    assert {"account_id", "potential", "percentile", "tier"} <= set(scores.columns)
    assert scores["account_id"].is_unique and (scores["potential"] >= 0).all()
    assert set(scores["tier"]) == {"A", "B", "C", "D"}
    # without --scores the plan scores with the champion itself, and gets the same potentials
    plan_dir = territory_home / "plan"
    planned = runner.invoke(
        app, ["plan", "--data", str(small_world_dir), "--out", str(plan_dir), "--fit", "fallback"]
    )
    assert planned.exit_code == 0, planned.output
    assert "no --scores" in planned.output
    assignments = pd.read_csv(plan_dir / "current" / "assignments.csv", dtype={"account_id": "str"})
    merged = assignments.merge(scores.astype({"account_id": "str"}), on="account_id")
    assert len(merged) == len(scores)
    assert np.allclose(merged["potential_x"], merged["potential_y"], rtol=1e-6)


def test_cli_score_without_any_model_says_train_first(small_world_dir, territory_home):
    result = CliRunner().invoke(
        app, ["score", "--data", str(small_world_dir), "--out", str(territory_home / "s.csv")]
    )
    assert result.exit_code != 0
    assert "territory train" in str(result.exception) + result.output


def test_validation_accounts_are_disjoint_from_training(trained):
    from training.train import validation_group

    ids = pd.Series([f"A{i:06d}" for i in range(5000)])
    held = validation_group(ids, seed=7)
    assert 0.17 < held.mean() < 0.23
    np.testing.assert_array_equal(held, validation_group(ids, seed=7))  # stable
    assert not np.array_equal(held, validation_group(ids, seed=8))


def test_selection_prefers_the_cheapest_model_within_tolerance(trained):
    _, result = trained
    table = result.selection
    assert table["within_tolerance"].any()
    chosen = table.set_index("candidate").loc[result.chosen]
    assert chosen["within_tolerance"]
    cheaper = table[table["shap_cost"] < chosen["shap_cost"]]
    assert not cheaper["within_tolerance"].any()
