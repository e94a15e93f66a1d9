"""The retraining job: gates, idempotence, failure, the lock, lineage and drift."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from features.drift import drift_report, drift_summary
from features.loaders import load_crm
from models.potential import PotentialModel
from training.lineage import (
    Lineage,
    LineageError,
    check_lineage,
    data_source_id,
    unknown_lineage_note,
)
from training.retrain import LOCK_FILE, current_champion, retrain, run_lock
from training.settings import TrainingSettings
from training.train import TrainConfig

pytestmark = [pytest.mark.model, pytest.mark.slow]
CONFIG = TrainConfig()


@pytest.fixture(scope="module")
def tables(small_world_dir):
    return load_crm(small_world_dir).tables


@pytest.fixture
def shuffled_labels(monkeypatch):
    """While active, every PotentialModel fits on shuffled labels: a challenger of noise, judged
    on the true holdout like any other."""
    original = PotentialModel.fit

    def fit_on_noise(self, X, y, *args, **kwargs):
        y = np.random.default_rng(0).permutation(np.asarray(y))
        return original(self, X, y, *args, **kwargs)

    class Switch:
        def on(self):
            monkeypatch.setattr(PotentialModel, "fit", fit_on_noise)

        def off(self):
            monkeypatch.setattr(PotentialModel, "fit", original)

    return Switch()


def champion_version(settings) -> str | None:
    champion = current_champion(settings)
    return champion.version if champion else None


def test_first_run_promotes_and_records_lineage(tables, small_world_dir, territory_home):
    settings = TrainingSettings()
    source = data_source_id(str(small_world_dir))
    outcome = retrain(tables, source, settings, CONFIG)
    assert outcome.decision == "promoted", outcome.reasons
    assert outcome.exit_code == 0
    champion = current_champion(settings)
    assert champion.version == outcome.version
    assert champion.lineage.data_source == source
    assert champion.lineage.horizon_days == 365
    run = MlflowClient().get_run(outcome.run_id)
    assert run.data.tags["retrain.decision"] == "promoted"
    assert (settings.data_dir / "monitoring" / "drift.json").exists()

    again = retrain(tables, source, settings, CONFIG)
    assert again.decision == "kept" and again.exit_code == 3
    assert "exactly this data" in again.reasons[0]
    assert again.run_id is None  # nothing trained, nothing registered
    assert champion_version(settings) == outcome.version


def test_worse_challenger_is_kept(tables, small_world_dir, territory_home, shuffled_labels):
    settings = TrainingSettings()
    source = data_source_id(str(small_world_dir))
    good = retrain(tables, source, settings, CONFIG)
    assert good.decision == "promoted", good.reasons

    shuffled_labels.on()
    worse = retrain(tables, source, settings, replace(CONFIG, seed=8))
    assert worse.decision == "kept", worse.reasons
    failed = {g.name for g in worse.gates if not g.passed}
    assert "not_worse_than_champion" in failed
    assert champion_version(settings) == good.version  # the challenger is registered, not served
    assert MlflowClient().get_run(worse.run_id).data.tags["retrain.decision"] == "kept"


def test_better_challenger_replaces_a_forced_bad_champion(
    tables, small_world_dir, territory_home, shuffled_labels
):
    settings = TrainingSettings()
    source = data_source_id(str(small_world_dir))
    shuffled_labels.on()
    bad = retrain(tables, source, settings, CONFIG, force=True)
    assert bad.decision == "promoted" and "forced" in bad.reasons[0]
    shuffled_labels.off()
    better = retrain(tables, source, settings, replace(CONFIG, seed=8))
    assert better.decision == "promoted", better.reasons
    assert champion_version(settings) == better.version


def test_failed_training_leaves_the_champion(tables, small_world_dir, territory_home):
    settings = TrainingSettings()
    source = data_source_id(str(small_world_dir))
    first = retrain(tables, source, settings, CONFIG)
    opps = tables.opportunities.assign(stage="lost")
    broken = retrain(replace(tables, opportunities=opps), source, settings, CONFIG)
    assert broken.decision == "failed" and broken.exit_code == 1
    assert "no won revenue" in broken.reasons[0]
    assert champion_version(settings) == first.version


def test_a_second_run_while_one_holds_the_lock_does_nothing(
    tables, small_world_dir, territory_home
):
    settings = TrainingSettings()
    with run_lock(settings.data_dir / LOCK_FILE):
        outcome = retrain(tables, data_source_id(str(small_world_dir)), settings, CONFIG)
    assert outcome.decision == "locked" and outcome.exit_code == 75
    assert "another retraining run holds" in outcome.reasons[0]
    assert champion_version(settings) is None


def test_lineage_refuses_other_data(tmp_path):
    lineage = Lineage(
        "/data/demo", "abc", "2026-07-01", 365, "account_potential_v1", "revenue", "c0ffee"
    )
    assert Lineage.from_tags(lineage.tags()) == lineage
    check_lineage(lineage, "/data/demo", "models:/account-potential@champion")
    with pytest.raises(LineageError, match="was trained on /data/demo .* not on /data/maven"):
        check_lineage(lineage, "/data/maven", "models:/account-potential@champion")
    check_lineage(None, "/data/maven", "models:/account-potential/1")  # warned, not refused
    note = unknown_lineage_note("models:/account-potential/1", "/data/maven")
    assert "records no training data" in note and "retrain --data /data/maven" in note
    assert data_source_id(str(tmp_path / "x" / "..")) == str(tmp_path)
    assert data_source_id("postgresql://u:secret@h/db") == "postgresql://u:@h/db"


def test_planted_drift_is_detected():
    rng = np.random.default_rng(0)
    n = 5000
    reference = pd.DataFrame(
        {
            "revenue": rng.lognormal(10, 1, n),
            "employees": rng.integers(1, 500, n).astype(float),
            "industry": rng.choice(["retail", "software", "energy"], n),
        }
    )
    same = reference.sample(frac=1.0, random_state=1).reset_index(drop=True)
    stable = drift_report(reference, same, list(reference.columns))
    assert stable["status"] == "stable" and not stable["warnings"]

    current = reference.copy()
    current["revenue"] = current["revenue"] * 3  # planted shift
    current.loc[: n // 4, "employees"] = np.nan  # a quarter now missing
    current.loc[:99, "industry"] = "biotech"  # a category training never saw
    report = drift_report(reference, current, list(reference.columns))
    by_column = {c["column"]: c for c in report["columns"]}
    assert by_column["revenue"]["level"] == "alert" and by_column["revenue"]["psi"] > 0.25
    assert by_column["employees"]["missing_current"] == pytest.approx(0.25, abs=0.01)
    assert by_column["employees"]["level"] != "stable"
    assert by_column["industry"]["new_categories"] == ["biotech"]
    assert report["status"] == "alert"
    assert any(w.startswith("industry (warning)") for w in report["warnings"])

    # what the service shows (/readyz details, /status, the review panel): the brief summary;
    # tests/serving/test_reload_server.py checks a running server shows a planted drift report
    summary = drift_summary(report, worst=2)
    assert summary["status"] == "alert" and summary["not_stable"] == 3
    worst = summary["worst"]
    assert {c["column"] for c in worst} == {"revenue", "employees"}  # above industry's PSI
    assert worst[0]["psi"] >= worst[1]["psi"] > by_column["industry"]["psi"]
    assert summary["line"].startswith(
        f"drift alert: 3 of 3 columns not stable; worst {worst[0]['column']} PSI"
    )
    assert drift_summary(stable)["line"].startswith("drift stable: 0 of 3")


def test_cli_retrain_exit_codes_and_score_refusing_other_data(
    small_world_dir, territory_home, tmp_path
):
    import shutil

    from typer.testing import CliRunner

    from training.cli import app

    runner = CliRunner()
    first = runner.invoke(app, ["retrain", "--data", str(small_world_dir)])
    assert first.exit_code == 0, first.output
    assert "promoted v1" in first.output and "beats_baselines" in first.output
    again = runner.invoke(app, ["retrain", "--data", str(small_world_dir)])
    assert again.exit_code == 3 and "exactly this data" in again.output

    scored = runner.invoke(
        app, ["score", "--data", str(small_world_dir), "--out", str(tmp_path / "s.csv")]
    )
    assert scored.exit_code == 0, scored.output
    other = tmp_path / "other_export"
    shutil.copytree(small_world_dir, other)
    # no --model: the workspace looks for a model trained on this data and finds none
    refused = runner.invoke(app, ["score", "--data", str(other), "--out", str(tmp_path / "o.csv")])
    assert refused.exit_code != 0
    message = str(refused.exception) + refused.output
    assert "no model in" in message and str(other.resolve()) in message and "--promote" in message
    # the champion named by hand: refused by its lineage, with the fix
    champion = "models:/account-potential@champion"
    named = runner.invoke(
        app, ["score", "--data", str(other), "--out", str(tmp_path / "o.csv"), "--model", champion]
    )
    assert named.exit_code != 0
    message = str(named.exception) + named.output
    assert f"was trained on {small_world_dir.resolve()}" in message
    assert f"territory retrain --data {other.resolve()}" in message
    forced = runner.invoke(
        app,
        ["score", "--data", str(other), "--out", str(tmp_path / "o.csv"), "--ignore-lineage"],
    )
    assert forced.exit_code == 0, forced.output

    by_hand = runner.invoke(app, ["promote", "1"])
    assert by_hand.exit_code == 2 and "without comparing" in by_hand.output
