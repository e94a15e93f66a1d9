"""The Dask path on a real distributed.LocalCluster (2 single-threaded worker processes).

Tolerances: features, potentials, percentiles, tiers and explanations are the pandas path's
exactly (the market context is rounded to cents so any split of the accounts sums the same);
a model fitted with lightgbm.dask ranks the holdout within 0.03 normalised Gini of the same model
fitted on one machine (2 workers each grow trees on half the rows, so the trees differ).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.context import market_context
from features.loaders import CrmSourceError, load_crm
from features.partitions import bucket_of, partition_export, read_partitioned
from features.pipeline import build_account_features, build_snapshots
from models.potential import PotentialModel, learn_categories, normalized_gini
from training.cli import app
from training.distributed import (
    fit_on_cluster,
    score_on_cluster,
    snapshots_on_cluster,
    tally_partition,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with Client(cluster) as connected:
        yield connected
    cluster.close()


@pytest.fixture(scope="module")
def tables(small_world_dir):
    return load_crm(small_world_dir).tables


@pytest.fixture(scope="module")
def parts(small_world_dir, tmp_path_factory):
    return partition_export(small_world_dir, tmp_path_factory.mktemp("parts") / "p", 5)


@pytest.fixture(scope="module")
def model(tables):
    as_of = tables.default_as_of()
    dates = [as_of - pd.DateOffset(months=m) for m in (30, 24, 18, 12)]
    frames = build_snapshots(tables, dates, 365)
    columns = [c for c in frames.columns if c not in {"account_id", "as_of", "label"}]
    return PotentialModel(n_estimators=60, feature_set="account_potential_v1").fit(
        frames[columns], frames["label"]
    )


def test_partitions_keep_every_account_whole(small_world_dir, parts, tables):
    manifest = json.loads((parts.root / "manifest.json").read_text())
    assert manifest["partitions"] == 5 and manifest["rows"]["accounts"] == len(tables.accounts)
    seen = []
    for i, path in enumerate(parts.paths()):
        part = load_crm(path).tables
        assert (bucket_of(part.accounts["account_id"], 5) == i).all()
        assert set(part.opportunities["account_id"]) <= set(part.accounts["account_id"])
        assert len(part.reps) == len(tables.reps)
        seen.extend(part.accounts["account_id"])
    assert sorted(seen) == sorted(tables.accounts["account_id"])
    assert read_partitioned(parts.root).source == str(small_world_dir.resolve())


def test_a_failed_split_leaves_no_partitions(tmp_path):
    (tmp_path / "src").mkdir()
    pd.DataFrame({"id": ["a"]}).to_csv(tmp_path / "src" / "accounts.csv", index=False)
    pd.DataFrame({"rep_id": ["r"]}).to_csv(tmp_path / "src" / "reps.csv", index=False)
    with pytest.raises(CrmSourceError, match="no account_id column"):
        partition_export(tmp_path / "src", tmp_path / "out", 3)
    assert not (tmp_path / "out").exists()


def test_features_per_partition_equal_the_pandas_path(parts, tables):
    as_of = tables.default_as_of()
    whole = build_account_features(tables, as_of)
    slices = [load_crm(p).tables for p in parts.paths()]
    market = market_context([tally_partition(t, as_of) for t in slices])
    split = pd.concat([build_account_features(t, as_of, market=market) for t in slices])
    pd.testing.assert_frame_equal(split.reindex(whole.index), whole)


def test_scores_and_explanations_on_the_cluster_equal_the_pandas_path(client, parts, tables, model):
    as_of = tables.default_as_of()
    features = build_account_features(tables, as_of)
    from models.explain import explain_frame
    from models.potential import score_frame

    expected = score_frame(model, features)
    explained = explain_frame(model, features, as_of, scores=expected, reasons_as_json=True)
    got = score_on_cluster(client, parts, model, as_of, model_version="v1").set_index("account_id")
    expected = expected.set_index("account_id")
    got = got.reindex(expected.index)
    np.testing.assert_allclose(got["potential"], expected["potential"], rtol=1e-12)
    assert (got["percentile"] == expected["percentile"]).all()
    assert (got["tier"] == expected["tier"]).all()
    assert (got["top_reasons"].to_numpy() == explained["reasons"].to_numpy()).all()
    assert (got["narrative"].to_numpy() == explained["narrative"].to_numpy()).all()
    from training.batch import fingerprints

    prints = fingerprints(features, list(model.feature_names_), "v1")
    assert list(got["score_fingerprint"]) == prints  # a later pandas run can skip these


def test_lightgbm_dask_fit_ranks_the_holdout_like_the_local_fit(client, parts, tables):
    as_of = tables.default_as_of()
    train_dates = [as_of - pd.DateOffset(months=m) for m in (36, 30, 24)]
    holdout_date = as_of - pd.DateOffset(months=12)
    held = snapshots_on_cluster(client, parts, train_dates, 365)
    frames = pd.concat(client.gather(held), ignore_index=True)
    columns = [c for c in frames.columns if c not in {"account_id", "as_of", "label"}]
    local = PotentialModel(n_estimators=80, feature_set="account_potential_v1").fit(
        frames[columns], frames["label"]
    )
    template = PotentialModel(n_estimators=80, feature_set="account_potential_v1")
    remote = fit_on_cluster(client, held, template, columns, learn_categories(frames[columns]))
    holdout = build_snapshots(tables, [holdout_date], 365)
    gini_local = normalized_gini(holdout["label"], local.predict(holdout[columns]))
    gini_remote = normalized_gini(holdout["label"], remote.predict(holdout[columns]))
    assert gini_remote > 0.5
    assert abs(gini_remote - gini_local) < 0.03, (gini_local, gini_remote)
    assert remote.best_iteration_ == 80 and remote.categories_ == local.categories_


def test_sampled_snapshots_on_the_cluster_equal_the_pandas_path(client, parts, tables):
    """Training at scale samples accounts per snapshot; each partition samples the same accounts
    (a hash of id and date) and builds only them, with the whole export's market context."""
    from training.scale import sampled_accounts

    as_of = tables.default_as_of()
    dates = [as_of - pd.DateOffset(months=m) for m in (30, 24, 18)]
    sampling = {
        "keep": lambda ids, d: sampled_accounts(ids, d, 0.3),
        "whole": {dates[-1]},
        "also": lambda ids, d: np.asarray(pd.Index(ids).str.endswith("3")) & (d == dates[0]),
    }
    local = build_snapshots(tables, dates, 365, **sampling)
    held = snapshots_on_cluster(client, parts, dates, 365, sampling=sampling)
    remote = pd.concat(client.gather(held), ignore_index=True)
    key = ["as_of", "account_id"]
    local, remote = (f.set_index(key).sort_index() for f in (local, remote))
    assert len(local) < 0.6 * len(tables.accounts) * len(dates)  # sampled, not every account
    assert remote.index.equals(local.index)
    pd.testing.assert_frame_equal(remote, local[remote.columns])


@pytest.mark.model
def test_training_on_the_cluster_samples_the_rows_pandas_samples(client, parts, tables):
    """A row budget thins and samples snapshots on the cluster as on one machine: the same
    holdout (every account), the same number of refit rows, a model ranking within 0.05 Gini.
    The cluster run never holds the export here: it trains from the facts its partitions
    report (the same cut-off, snapshot plan and sample as the whole tables give)."""
    from training.cli.cluster import training_hooks
    from training.train import ExportFacts, TrainConfig, train_potential

    config = TrainConfig(max_train_rows=3_000)
    local = train_potential(tables, config)
    with training_hooks(client.scheduler.address, str(parts.root), 365, ()) as hooks:
        facts = hooks["facts"]
        remote = train_potential(facts, config, build=hooks["build"], refit=hooks["refit"])
    whole = ExportFacts.of(tables)
    assert facts.accounts == whole.accounts and facts.latest == whole.latest
    assert facts.latest_opportunity == whole.latest_opportunity
    assert facts.history_start() == whole.history_start()
    assert remote.config.as_of == local.config.as_of and remote.plan == local.plan
    assert remote.sample.samples and remote.sample == local.sample
    assert (
        len(remote.holdout)
        == len(local.holdout)
        == (tables.accounts["created_at"] < local.plan.holdout).sum()
    )
    notes = [[n for n in r.warnings if "account-snapshots" in n] for r in (local, remote)]
    assert notes[0] == notes[1] and notes[0]  # "trained on N of M": the same N
    gini = [r.comparison.set_index("model").loc["potential_model", "normalized_gini"]
            for r in (local, remote)]  # fmt: skip
    assert abs(gini[0] - gini[1]) < 0.05, gini


def test_score_command_takes_the_cluster_from_the_environment(
    client, parts, tables, tmp_path, monkeypatch
):
    from tests.serving.fixtures.champion import register_champion

    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("TERRITORY_DATA_DIR", str(state))
    monkeypatch.setenv("TERRITORY_DASK_ADDRESS", client.scheduler.address)
    uri = register_champion(tables, state)
    out = tmp_path / "scores.parquet"
    result = CliRunner().invoke(
        app, ["score", "--data", str(parts.root), "--out", str(out), "--model", uri]
    )
    assert result.exit_code == 0, result.output
    assert "scoring on 2 Dask workers, 5 partitions" in result.output
    scores = pd.read_parquet(out)
    assert sorted(scores["account_id"]) == sorted(tables.accounts["account_id"])
    assert scores["top_reasons"].str.startswith("[").all()
    assert (scores["model_uri"] == uri).all()
    assert (scores["as_of"] == str(tables.default_as_of().date())).all()  # the whole export's
    assert scores["score_fingerprint"].str.fullmatch("[0-9a-f]{16}").all()
    assert list(scores.columns)[-1] == "score_fingerprint" and scores["scored_at"].notna().all()


def test_a_bad_cluster_address_names_the_fix():
    result = CliRunner().invoke(
        app, ["score", "--data", ".", "--out", "x.csv", "--cluster", "my-laptop"]
    )
    assert result.exit_code != 0
    assert "use `local`" in str(result.exception) or "use `local`" in result.output


def test_regions_solved_in_parallel_on_the_cluster_give_the_same_plan(client, tables, model):
    from models.planning import run_plan
    from models.planning.scenario import scenario_from_dict
    from models.potential import score_frame
    from training.distributed import region_solver

    scores = score_frame(model, build_account_features(tables, tables.default_as_of()))
    scenario = scenario_from_dict(
        {"solver": {"decompose": "region", "max_reps_per_region": 6, "time_limit_s": 10}}
    )
    alone, _ = run_plan(tables, scores, scenario, choose_fit=_fallback)
    parallel, _ = run_plan(
        tables, scores, scenario, choose_fit=_fallback, solve_regions=region_solver(client)
    )
    assert alone.regions > 1 and parallel.regions == alone.regions
    assert parallel.feasible and alone.feasible
    # Phases that end on the wall clock make the two differ slightly on a busy machine.
    assert parallel.objective == pytest.approx(alone.objective, rel=0.01)
    assert set(parallel.rep_by_account) == set(alone.rep_by_account)
    assert 0 <= parallel.gap < 0.05 and parallel.bound >= parallel.objective


def _fallback(tables, as_of):
    from models.repfit import fallback_fit

    return fallback_fit, {"method": "fallback"}


def test_a_world_sampled_in_blocks_trains_and_scores_on_the_cluster(client, tmp_path, monkeypatch):
    """`territory sample --partitions` output is an export of its own: train on the cluster
    (the client never loads it), score it with that model (the lineage matches), plan it
    (regions on the cluster), and retrain on the cluster (the drift check builds today's
    features there)."""
    from features.sample_world import SampleConfig
    from features.sample_world.blocks import write_partitioned_world

    world = write_partitioned_world(
        SampleConfig(n_accounts=2_400, n_reps=20, years=3, seed=4), tmp_path / "w", 3,
        block_accounts=1_200,
    )  # fmt: skip
    monkeypatch.setenv("TERRITORY_DATA_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("TERRITORY_MLFLOW_TRACKING_URI", raising=False)
    address = client.scheduler.address
    trained = CliRunner().invoke(
        app, ["train", "--data", str(world.root), "--cluster", address, "--promote"]
    )
    assert trained.exit_code == 0, trained.output
    assert "train: 2,400 accounts" in trained.output
    out = tmp_path / "scores.parquet"
    scored = CliRunner().invoke(
        app, ["score", "--data", str(world.root), "--cluster", address, "--out", str(out)]
    )
    assert scored.exit_code == 0, scored.output
    scores = pd.read_parquet(out)
    assert len(scores) == 2_400 and scores["account_id"].is_unique
    assert scores["narrative"].str.len().gt(20).all() and scores["potential"].gt(0).all()
    assert scores["percentile"].between(0, 100).all()
    plans = tmp_path / "plans"
    planned = CliRunner().invoke(
        app,
        ["plan", "--data", str(world.root), "--scores", str(out), "--out", str(plans),
         "--fit", "fallback", "--cluster", address],
    )  # fmt: skip
    assert planned.exit_code == 0, planned.output  # the partitions read as one export here
    assignments = pd.read_csv(next(plans.glob("v*/assignments.csv")))
    assert len(assignments) == 2_400
    retrain = ["retrain", "--data", str(world.root), "--cluster", address]
    same = CliRunner().invoke(app, retrain)  # the partitions' digest matches the champion's
    assert same.exit_code == 3 and "trained on exactly this data" in same.output, same.output
    again = CliRunner().invoke(app, [*retrain, "--force"])
    assert again.exit_code == 0, again.output
    assert "training on 2 Dask workers" in again.output and "promoted" in again.output
    drift = json.loads((tmp_path / "state" / "monitoring" / "drift.json").read_text())
    assert {c["column"] for c in drift["columns"]} >= {"score", "employees"}


def test_scores_written_part_by_part_leave_the_old_file_when_a_part_fails(tmp_path):
    from training.batch import write_score_parts

    out = tmp_path / "scores.parquet"
    old = pd.DataFrame({"account_id": ["A1"], "potential": [1.0], "as_of": ["2026-01-01"]})
    old.to_parquet(out, index=False)

    def parts():
        yield old.assign(account_id="A2")
        raise ConnectionError("worker lost")

    with pytest.raises(ConnectionError):
        write_score_parts(parts(), out)
    pd.testing.assert_frame_equal(pd.read_parquet(out), old)
    assert [p.name for p in tmp_path.iterdir()] == ["scores.parquet"]
    rows, cut = write_score_parts(iter([old, old.assign(account_id="A2")]), out)
    assert (rows, cut) == (2, "2026-01-01")
    assert list(pd.read_parquet(out)["account_id"]) == ["A1", "A2"]
