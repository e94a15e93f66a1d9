"""The default path at scale: the README's default scenario plans a 100k-account sample world."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from models.planning import run_plan, scenario_for
from models.repfit import fallback_fit

ROOT = Path(__file__).resolve().parents[2]


def _fallback(_tables, _as_of):
    return fallback_fit, {"method": "fallback", "reason": "scale test"}


@pytest.mark.slow
def test_default_scenario_plans_a_100k_account_sample_world():
    from features.sample_world import SampleConfig, generate_world

    world = generate_world(SampleConfig(n_accounts=100_000, n_reps=500, years=3, seed=3))
    # scores from the world's truth: cheap, and the plan path after scoring is the product's
    scores = world.truth.accounts[["account_id", "true_potential"]].rename(
        columns={"true_potential": "potential"}
    )
    document = yaml.safe_load((ROOT / "docs" / "scenarios" / "default.yaml").read_text())
    scenario = scenario_for(document, world.tables.accounts)
    plan, setup = run_plan(world.tables, scores, scenario, _fallback)

    assert plan.status == "feasible", plan.conflicts[:5]
    assert plan.regions > 1  # the regional split is what this exercises
    accounts = setup.inputs.accounts
    assert len(plan.rep_by_account) == len(accounts)
    reps = setup.inputs.reps.set_index("rep_id")
    active = reps[reps["active"].fillna(True).astype(bool)]
    share = active["capacity"] / active["capacity"].sum()
    owner = pd.Series(plan.rep_by_account).reindex(accounts["account_id"]).to_numpy()
    assert set(owner) <= set(active.index)
    limits = document["limits"]
    for column, band in (
        ("workload", limits["workload_band"]),
        ("potential", limits["potential_band"]),
    ):
        load = pd.Series(accounts[column].to_numpy(), index=owner).groupby(level=0).sum()
        target = accounts[column].sum() * share
        ratio = load.reindex(active.index, fill_value=0.0) / target
        assert ratio.between((1 - band) * 0.995, (1 + band) * 1.005).all(), column
    moved = np.sum(accounts["current_rep"].astype("string").to_numpy(dtype=object) != owner)
    forced = plan.metrics["moves_by_kind"]["forced"] + plan.metrics["moves_by_kind"]["new"]
    budget = document["limits"]["max_moved_share"]
    assert budget < 0.10  # what a real realignment moves: single-digit percent of accounts
    assert moved - forced <= np.floor(budget * len(accounts))
