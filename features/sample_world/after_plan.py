"""The year after a plan: the same world, continued under the plan's owners, with its truth.

    after = simulate_year_after(config, {"A000012": "R0007", ...}, months=12)
    after.tables                 # history + the months after the plan (actuals to measure)
    after.expected_under_plan    # oracle: expected won revenue per account in the window
    after.expected_if_kept       # the same had every account kept its owner (the counterfactual)

The history up to the end date is the world's own (same seed, same draws); the plan takes effect
the day after it. During the simulated months nobody leaves, no account is created and no manager
moves anything, so the difference between the two oracles is the plan's true lift.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.sample_world.accounts import draw_accounts
from features.sample_world.config import SampleConfig, SampleConfigError, WorldParams, check_config
from features.sample_world.frames import crm_tables, id_series, sequential_ids
from features.sample_world.history import YearAfterPlan, simulate_history
from features.sample_world.oracle import expected_revenue_between
from features.sample_world.places import us_cities
from features.sample_world.truth import Truth, build_truth
from features.sample_world.world import SampleWorld, history_window
from features.tables import CrmTables

FUTURE_STREAM = 2_000_003  # a fixed second seed word: the future never reuses history's draws


@dataclass(frozen=True)
class YearAfter:
    """A world simulated past a plan, the plan's window and the two oracles over it."""

    world: SampleWorld
    effective: pd.Timestamp
    stop: pd.Timestamp
    expected_under_plan: pd.Series
    expected_if_kept: pd.Series

    @property
    def tables(self) -> CrmTables:
        return self.world.tables

    @property
    def truth(self) -> Truth:
        return self.world.truth


def _owner_rows(new_owner: Mapping[str, str], account_ids, rep_ids) -> np.ndarray:
    """Planned rep row per account row (-1 where the plan names none)."""
    accounts = pd.Index(id_series(account_ids))
    reps = pd.Index(id_series(rep_ids))
    plan = pd.Series(new_owner, dtype="str")
    a, r = accounts.get_indexer(plan.index), reps.get_indexer(plan.to_numpy())
    unknown = plan.index[(a < 0) | (r < 0)]
    if len(unknown):
        raise SampleConfigError(
            "plan",
            list(unknown[:5]),
            f"{len(unknown)} planned owner(s) name accounts or reps this world does not have "
            f"(first: {list(unknown[:5])}); plan on the export of the same config and seed.",
        )
    owner = np.full(len(accounts), -1, dtype=np.int64)
    owner[a] = r
    return owner


def simulate_year_after(
    config: SampleConfig,
    new_owner: Mapping[str, str],
    *,
    params: WorldParams | None = None,
    months: int = 12,
) -> YearAfter:
    """Generate the world of `config`, apply `new_owner` the day after its end and run `months`.

    `new_owner` maps account_id -> rep_id (accounts it omits keep their owner); reps must be
    active at the end date.
    """
    check_config(config)
    params = params or WorldParams()
    rng = np.random.default_rng(config.seed)
    start_day, end_day = history_window(config)
    effective = pd.Timestamp(config.end_date) + pd.Timedelta(days=1)
    stop = effective + pd.DateOffset(months=months)
    cities = us_cities()
    accounts = draw_accounts(config, params, cities, start_day, end_day, rng)
    account_ids = sequential_ids("A", len(accounts))

    last_day = (stop - pd.Timedelta(days=1)).to_datetime64().astype("datetime64[D]")
    plan = YearAfterPlan(
        # Rep ids follow the roster, known only once history has run: resolve owners then.
        owners=lambda n_reps: _owner_rows(new_owner, account_ids, sequential_ids("R", n_reps)),
        last_day=int(last_day.astype(np.int64)),
        rng=np.random.default_rng([config.seed, FUTURE_STREAM]),
    )
    window = (start_day, end_day)
    history = simulate_history(config, params, accounts, cities, window, rng, after=plan)
    ids = (account_ids, sequential_ids("R", len(history.roster)))
    tables = crm_tables(accounts, history, ids, cities, params, rng)
    history = dataclasses.replace(history, opportunities={}, activities={})
    truth = build_truth(accounts, history, id_series(ids[0]), id_series(ids[1]), params, config)
    world = SampleWorld(config=config, params=params, tables=tables, truth=truth)
    last = stop - pd.Timedelta(days=1)
    under_plan = expected_revenue_between(truth, tables, effective, stop, until=last)
    kept = dataclasses.replace(tables, assignments=_kept_assignments(tables, effective))
    if_kept = expected_revenue_between(truth, kept, effective, stop, until=last)
    return YearAfter(world, effective, stop, under_plan, if_kept)


def _kept_assignments(tables: CrmTables, effective: pd.Timestamp) -> pd.DataFrame:
    """The ownership history as if the plan never happened: spells from `effective` on are
    dropped and the spells they replaced run on."""
    a = tables.assignments
    before = a[a["start_date"] < effective].copy()
    ended_by_plan = before["end_date"] == effective
    before.loc[ended_by_plan, "end_date"] = pd.NaT
    return before.reset_index(drop=True)
