"""Is the sample world learnable but not trivial? A quick backtest of account ranking.

Generates a world, then ranks the accounts that exist one year before the end date by
(a) their last-12-month won revenue (the baseline), (b) the true potential over the label
window (the oracle, from truth), (c) a quick LightGBM model on point-in-time features, trained
one year earlier (features as of end - 24 months, label = the following 12 months). Each is
scored by top-20% capture: the share of the realised next-12-month won revenue that the top
20% of the ranking holds.

    .venv/bin/python -m bench.sample_world_learnability [--accounts 20000 --reps 60 --years 3
        --seed 7] [--set latent_sd=0.8 ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
import pandas as pd

from features.geography import haversine_km
from features.sample_world import (
    SampleConfig,
    WorldParams,
    calibration_report,
    generate_world,
    potential_between,
)
from features.tables import CrmTables

YEAR = pd.DateOffset(years=1)


def _window_sum(
    frame: pd.DataFrame,
    date_col: str,
    start: pd.Timestamp,
    stop: pd.Timestamp,
    index: pd.Index,
    value: str | None = None,
) -> pd.Series:
    rows = frame[(frame[date_col] > start) & (frame[date_col] <= stop)]
    grouped = rows.groupby("account_id")
    out = grouped[value].sum() if value else grouped.size()
    return out.reindex(index, fill_value=0).astype(float)


def features_as_of(tables: CrmTables, as_of: pd.Timestamp) -> pd.DataFrame:
    """Simple point-in-time features for the accounts that exist on `as_of`."""
    acc = tables.accounts[tables.accounts["created_at"] <= as_of].set_index("account_id")
    idx = acc.index
    opps = tables.opportunities[tables.opportunities["created_at"] <= as_of]
    closed = opps[opps["closed_at"] <= as_of]
    won = closed[closed["stage"] == "won"]
    acts = tables.activities[tables.activities["occurred_at"] <= as_of]
    f = pd.DataFrame(index=idx)
    f["employees"] = acc["employees"].astype(float)
    f["annual_revenue"] = acc["annual_revenue"]
    f["industry"] = acc["industry"].astype("category")
    f["region"] = acc["region"].astype("category")
    f["age_days"] = (as_of - acc["created_at"]).dt.days
    for months in (3, 6, 12, 24):
        start = as_of - pd.DateOffset(months=months)
        f[f"won_{months}m"] = _window_sum(won, "closed_at", start, as_of, idx, "amount")
        f[f"activities_{months}m"] = _window_sum(acts, "occurred_at", start, as_of, idx)
    f["won_deals_12m"] = _window_sum(won, "closed_at", as_of - YEAR, as_of, idx)
    f["closed_deals_12m"] = _window_sum(closed, "closed_at", as_of - YEAR, as_of, idx)
    f["win_rate_12m"] = f["won_deals_12m"] / f["closed_deals_12m"].replace(0, np.nan)
    f["created_deals_12m"] = _window_sum(opps, "created_at", as_of - YEAR, as_of, idx)
    is_open = opps["closed_at"].isna() | (opps["closed_at"] > as_of)
    f["open_pipeline"] = (
        opps[is_open].groupby("account_id")["amount"].sum().reindex(idx, fill_value=0.0)
    )
    f["meetings_visits_12m"] = _window_sum(
        acts[acts["type"].isin(["meeting", "visit"])], "occurred_at", as_of - YEAR, as_of, idx
    )
    return f.join(_owner_features(tables, acc, as_of))


def _owner_features(tables: CrmTables, acc: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    spells = tables.assignments
    live = spells[
        (spells["start_date"] <= as_of) & (spells["end_date"].isna() | (spells["end_date"] > as_of))
    ]
    owner = live.sort_values("start_date").groupby("account_id")["rep_id"].last()
    reps = tables.reps.set_index("rep_id")
    rep = reps.reindex(owner.reindex(acc.index).to_numpy())
    load = owner.value_counts()
    return pd.DataFrame(
        {
            "has_owner": owner.reindex(acc.index).notna().astype(int).to_numpy(),
            "owner_tenure_days": (as_of - rep["hired_at"]).dt.days.to_numpy(),
            "owner_distance_km": haversine_km(
                acc["latitude"], acc["longitude"], rep["home_latitude"], rep["home_longitude"]
            ),
            "owner_accounts": load.reindex(rep.index).to_numpy(dtype=float),
            "owner_match": [
                int(isinstance(e, str) and i in e.split("|"))
                for i, e in zip(acc["industry"], rep["industries"], strict=True)
            ],
        },
        index=acc.index,
    )


def top20_capture(score: pd.Series, label: pd.Series, seed: int = 0) -> float:
    """Share of the realised label total held by the 20% of accounts ranked highest by score."""
    tie_break = np.random.default_rng(seed).random(len(score))
    order = np.lexsort((tie_break, -score.to_numpy(dtype=float)))
    top = order[: int(round(0.2 * len(order)))]
    return float(label.to_numpy()[top].sum() / label.sum())


def experiment(config: SampleConfig, params: WorldParams) -> dict[str, float]:
    """Generate the world and return baseline / oracle / model capture (and timings)."""
    import lightgbm as lgb

    started = time.perf_counter()
    world = generate_world(config, params)
    generated = time.perf_counter() - started
    tables, end = world.tables, pd.Timestamp(config.end_date)
    opps = tables.opportunities
    won = opps[opps["stage"] == "won"]
    train_at, test_at = end - 2 * YEAR, end - YEAR
    x_train, x_test = features_as_of(tables, train_at), features_as_of(tables, test_at)
    y_train = _window_sum(won, "closed_at", train_at, test_at, x_train.index, "amount")
    y_test = _window_sum(won, "closed_at", test_at, end, x_test.index, "amount")
    model = lgb.LGBMRegressor(
        objective="tweedie",
        n_estimators=400,
        learning_rate=0.03,
        num_leaves=31,
        min_child_samples=40,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        num_threads=2,
        verbose=-1,
        random_state=0,
    )
    model.fit(x_train, y_train)
    truth = world.truth.accounts.set_index("account_id").reindex(x_test.index).reset_index()
    oracle = potential_between(truth, config.end_date, test_at.date(), config.end_date)
    owner_v = truth["expected_revenue_current_owner"].to_numpy()
    result = {
        "baseline_last_12m": top20_capture(x_test["won_12m"], y_test),
        "oracle_true_potential": top20_capture(pd.Series(oracle), y_test),
        "quick_model": top20_capture(pd.Series(model.predict(x_test)), y_test),
        "perfect_hindsight": top20_capture(y_test, y_test),
        "v_current_owner_at_end": top20_capture(pd.Series(owner_v), y_test),
        "generate_seconds": generated,
    }
    result["model_over_baseline"] = result["quick_model"] / result["baseline_last_12m"]
    result["model_over_oracle"] = result["quick_model"] / result["oracle_true_potential"]
    result["calibration"] = calibration_report(tables, config.end_date)
    return result


def _overrides(pairs: list[str]) -> dict[str, float]:
    out = {}
    for pair in pairs:
        key, value = pair.split("=", 1)
        out[key] = float(value)
    return out


def main() -> None:
    """Run the experiment from the command line and print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=60)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--set", nargs="*", default=[], help="WorldParams overrides, key=value")
    args = parser.parse_args()
    config = SampleConfig(
        n_accounts=args.accounts, n_reps=args.reps, years=args.years, seed=args.seed
    )
    params = dataclasses.replace(WorldParams(), **_overrides(args.set))
    print(
        json.dumps(
            {
                "config": dataclasses.asdict(config) | {"end_date": str(config.end_date)},
                **experiment(config, params),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
