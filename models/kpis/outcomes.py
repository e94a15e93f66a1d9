"""What an approved plan did: actual against predicted per account, moved against kept, per rep,
and the measured lift of the moves against an honest comparison group.

The comparison decides how much to trust the lift:

- ``held back at random``: moves the plan proposed but deliberately did not make (chosen at
  random, e.g. by `choose_holdback`). Moved and held-back accounts differ only by the coin, so
  the difference is the moves' effect (on average over the moves that could have been held back).
- ``kept, matched on predicted potential``: without a holdback, kept accounts in the same
  potential decile stand in. The plan chose its moves where the current owner fits badly, so
  this comparison is biased (usually it understates the lift); it is labelled as such.

Interference: moves change every involved rep's load, so held-back accounts of a rep who gave
accounts away get a little more attention than with no plan at all; the held-back comparison then
understates the lift somewhat (the sample world test bounds it).

Both compare each account's actual revenue over its predicted one, averaged with equal weight per
account, so accounts of different sizes mix and no giant account decides the result.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.tables import CrmTables
from models.kpis.table import DAYS_PER_YEAR, KpiError, owners_on

N_STRATA = 10
PLAN_COLUMNS = ("account_id", "rep_id", "current_rep", "potential")


@dataclass(frozen=True)
class Lift:
    """Measured lift of the moved accounts over their counterfactual, with a bootstrap interval."""

    comparison: str
    moved_accounts: int
    control_accounts: int
    actual: float
    counterfactual: float
    lift: float
    lift_ratio: float
    lift_ratio_low: float
    lift_ratio_high: float


@dataclass(frozen=True)
class PlanOutcome:
    """Per account and per rep outcomes of a plan over [effective, stop), and its lift."""

    effective: pd.Timestamp
    stop: pd.Timestamp
    accounts: pd.DataFrame
    reps: pd.DataFrame
    lift: Lift


def won_between(tables: CrmTables, start: pd.Timestamp, stop: pd.Timestamp) -> pd.Series:
    """Won revenue per account_id closed in [start, stop) (any rep)."""
    opps = tables.opportunities
    won = opps[(opps["stage"] == "won") & (opps["closed_at"] >= start) & (opps["closed_at"] < stop)]
    return won.groupby("account_id")["amount"].sum()


def choose_holdback(
    moves: pd.DataFrame, share: float, seed: int, *, confidence: str | None = None
) -> list[str]:
    """A random `share` of the moves to hold back on purpose (keep with their owner).

    With `confidence` (a column such as ``objective_delta``), only the less confident half of the
    moves is eligible, so the plan gives up little; the lift is then measured on those moves.
    """
    if not 0.0 < share < 1.0:
        raise KpiError(f"holdback share {share} must be between 0 and 1 (e.g. 0.2).")
    pool = moves
    if confidence is not None:
        pool = moves[moves[confidence] <= moves[confidence].median()]
    rng = np.random.default_rng(seed)
    n = int(round(share * len(pool)))
    return sorted(rng.choice(pool["account_id"].astype(str).to_numpy(), n, replace=False))


def outcome_accounts(
    tables: CrmTables,
    plan: pd.DataFrame,
    effective: pd.Timestamp,
    stop: pd.Timestamp,
    holdback: Collection[str] = (),
) -> pd.DataFrame:
    """One row per planned account: who owns it, its group, predicted and actual revenue."""
    missing = [c for c in PLAN_COLUMNS if c not in plan.columns]
    if missing:
        raise KpiError(
            f"the plan's assignments lack column(s) {missing}; pass assignments.csv of a plan "
            "folder (territory plan --out)."
        )
    out = plan[list(PLAN_COLUMNS)].copy()
    out["account_id"] = out["account_id"].astype(str)
    out = out.set_index("account_id")
    held = out.index.isin(list(holdback))
    moved = out["rep_id"] != out["current_rep"]
    out["group"] = np.where(held, "held_back", np.where(moved, "moved", "kept"))
    out["owner_in_window"] = owners_on(tables.assignments, effective).reindex(out.index)
    expected = np.where(held, out["current_rep"], out["rep_id"])
    out["plan_applied"] = out["owner_in_window"] == expected
    years = (stop - effective).days / DAYS_PER_YEAR
    out["predicted"] = out["potential"].astype(float) * years
    out["actual"] = won_between(tables, effective, stop).reindex(out.index).fillna(0.0)
    out["actual_over_predicted"] = out["actual"] / out["predicted"].where(out["predicted"] > 0)
    return out.reset_index()


def outcome_reps(accounts: pd.DataFrame) -> pd.DataFrame:
    """Per owner in the window: accounts gained and kept, predicted and actual revenue."""
    frame = accounts.assign(gained=accounts["group"] == "moved")
    reps = frame.groupby("owner_in_window").agg(
        accounts=("account_id", "size"),
        gained=("gained", "sum"),
        predicted=("predicted", "sum"),
        actual=("actual", "sum"),
    )
    reps["actual_over_predicted"] = reps["actual"] / reps["predicted"].where(reps["predicted"] > 0)
    return reps.rename_axis("rep_id").reset_index()


def _strata(predicted: pd.Series) -> pd.Series:
    ranks = predicted.rank(method="first")
    return np.ceil(ranks / len(ranks) * N_STRATA).clip(1, N_STRATA).astype(int)


def _counterfactual(treated: pd.DataFrame, control: pd.DataFrame) -> tuple[float, float]:
    """(ratio sum, money) the treated accounts would show at their control's actual/predicted.

    Per stratum, each treated account is expected to reach the mean actual/predicted of its
    control peers: equal weight per account, so a few giant accounts cannot swing the result.
    """
    ratios, money = 0.0, 0.0
    overall = control["ratio"].mean()
    for stratum, part in treated.groupby("stratum"):
        peers = control.loc[control["stratum"] == stratum, "ratio"]
        mean = peers.mean() if len(peers) else overall  # an empty stratum borrows the overall
        ratios += len(part) * mean
        money += part["predicted"].sum() * mean
    return float(ratios), float(money)


def _lift_ratio(treated: pd.DataFrame, control: pd.DataFrame) -> float:
    ratios, _ = _counterfactual(treated, control)
    return treated["ratio"].sum() / ratios - 1.0 if ratios > 0 else float("nan")


def measured_lift(accounts: pd.DataFrame, *, n_boot: int = 300, seed: int = 0) -> Lift:
    """Lift of the moved accounts over the held-back ones (or kept ones matched on potential).

    ``lift_ratio`` is the moved accounts' mean actual/predicted over the comparison's, minus 1;
    ``lift`` is the same in money: actual minus predicted times the comparison's ratio.
    """
    frame = accounts[accounts["plan_applied"] & (accounts["predicted"] > 0)].copy()
    frame["stratum"] = _strata(frame["predicted"])
    frame["ratio"] = frame["actual"] / frame["predicted"]
    treated = frame[frame["group"] == "moved"]
    held = frame[frame["group"] == "held_back"]
    random_control = len(held) > 0
    control = held if random_control else frame[frame["group"] == "kept"]
    if treated.empty or control.empty:
        raise KpiError(
            f"no lift to measure: {len(treated)} moved and {len(control)} comparison account(s) "
            "with the plan applied; measure after the plan's effective date, with moves made."
        )
    comparison = "held back at random" if random_control else "kept, matched on predicted potential"
    if random_control:  # randomised: no strata needed, one ratio is unbiased and less noisy
        treated, control = treated.assign(stratum=1), control.assign(stratum=1)
    actual = float(treated["actual"].sum())
    _, base = _counterfactual(treated, control)
    rng = np.random.default_rng(seed)
    boot = [
        _lift_ratio(
            treated.iloc[rng.integers(0, len(treated), len(treated))],
            control.iloc[rng.integers(0, len(control), len(control))],
        )
        for _ in range(n_boot)
    ]
    low, high = np.nanpercentile(boot, [2.5, 97.5])
    return Lift(
        comparison=comparison,
        moved_accounts=len(treated),
        control_accounts=len(control),
        actual=actual,
        counterfactual=base,
        lift=actual - base,
        lift_ratio=_lift_ratio(treated, control),
        lift_ratio_low=float(low),
        lift_ratio_high=float(high),
    )


def plan_outcomes(
    tables: CrmTables,
    plan: pd.DataFrame,
    effective: pd.Timestamp,
    stop: pd.Timestamp | None = None,
    holdback: Collection[str] = (),
    *,
    n_boot: int = 300,
) -> PlanOutcome:
    """Outcomes of a plan (its assignments.csv frame) over [effective, stop); default 12 months."""
    effective = pd.Timestamp(effective)
    stop = pd.Timestamp(stop) if stop is not None else effective + pd.DateOffset(years=1)
    if not effective < stop:
        raise KpiError(f"the outcome window {effective.date()} to {stop.date()} is empty.")
    accounts = outcome_accounts(tables, plan, effective, stop, holdback)
    lift = measured_lift(accounts, n_boot=n_boot)
    return PlanOutcome(effective, stop, accounts, outcome_reps(accounts), lift)
