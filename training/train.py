"""Train the potential model: snapshots -> candidates -> forward selection -> holdout -> refit.

Time layout for an export ending at `as_of` with horizon H (all labels fully observed):

    train snapshots ... | validation snapshot | ... | holdout as_of = as_of - H | as_of
    [features < t, label in [t, t+H)]   t_val > every t_train     t_val + H <= holdout

The holdout is never seen in training or selection. The model registered for serving is refit
with the chosen configuration on every labelled snapshot up to the holdout date.
"""

from __future__ import annotations

import hashlib
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from features.errors import DataContractError
from features.feature_sets import FEATURE_SETS, MONOTONE_INCREASING
from features.pipeline import build_snapshots, snapshot_dates
from features.tables import CrmTables
from models.potential import (
    PotentialModel,
    calibration_by_decile,
    conversion_metrics,
    firmographic_rule,
    last_12_month_revenue,
    linear_model,
    ranking_metrics,
)

MIN_HISTORY_DAYS = 180
VALIDATION_SHARE = 0.2
SELECTION_TOLERANCE = 0.01
Oracle = Callable[[pd.Timestamp, pd.Timestamp], pd.Series]
SMALL_EXPORT_ACCOUNTS = 2000

CANDIDATES: dict[str, dict] = {
    "simple": {
        "num_leaves": 7,
        "max_depth": 3,
        "min_child_samples": 100,
        "n_estimators": 1500,
        "learning_rate": 0.08,
    },
    "medium": {
        "num_leaves": 15,
        "max_depth": 5,
        "min_child_samples": 60,
        "n_estimators": 1000,
        "learning_rate": 0.08,
    },
    "large": {
        "num_leaves": 31,
        "max_depth": 7,
        "min_child_samples": 40,
        "n_estimators": 800,
        "learning_rate": 0.08,
    },
}


@dataclass(frozen=True)
class TrainConfig:
    """What to train: the cut-off date, horizon, objective and feature set."""

    as_of: pd.Timestamp | None = None
    horizon_days: int = 365
    objective: str = "revenue"
    feature_set: str = "account_potential_v1"
    extra_columns: tuple[str, ...] = ()
    snapshot_months: int = 1
    seed: int = 7


@dataclass(frozen=True)
class SnapshotPlan:
    """The as_of dates used for training, validation, holdout and the final refit."""

    train: list[pd.Timestamp]
    validation: pd.Timestamp
    holdout: pd.Timestamp
    refit: list[pd.Timestamp]


@dataclass
class TrainingResult:
    """Everything a run produced: the served model, metrics and the tables behind them."""

    model: PotentialModel
    eval_model: PotentialModel
    config: TrainConfig
    plan: SnapshotPlan
    chosen: str
    selection: pd.DataFrame
    comparison: pd.DataFrame
    calibration: pd.DataFrame
    holdout: pd.DataFrame
    dataset_digest: str
    warnings: list[str] = field(default_factory=list)

    @property
    def metrics(self) -> dict[str, float]:
        row = self.comparison.set_index("model").loc["potential_model"]
        return {f"holdout_{k}": float(v) for k, v in row.items() if pd.notna(v)}


def plan_snapshots(
    data_start: pd.Timestamp, config: TrainConfig, as_of: pd.Timestamp
) -> SnapshotPlan:
    """Lay out snapshot dates so validation follows training and the holdout follows both."""
    horizon = pd.Timedelta(days=config.horizon_days)
    holdout = (as_of - horizon).normalize()
    first = data_start + pd.Timedelta(days=MIN_HISTORY_DAYS)
    # One date grid stepping back from the holdout, so training and refit share snapshots.
    refit = snapshot_dates(first, holdout, months=config.snapshot_months)
    labelled = [d for d in refit if d + horizon <= holdout]
    if len(labelled) < 2:
        span = (as_of - data_start).days
        raise DataContractError(
            f"the export covers {span} days up to {as_of.date()}, too short for horizon "
            f"{config.horizon_days} d: training needs {MIN_HISTORY_DAYS} d of history plus two "
            "label windows before the holdout "
            f"({MIN_HISTORY_DAYS + 2 * config.horizon_days + 31} d). "
            f"Use a shorter --horizon (e.g. {max(30, (span - MIN_HISTORY_DAYS - 31) // 2)}) "
            "or more history."
        )
    return SnapshotPlan(train=labelled[:-1], validation=labelled[-1], holdout=holdout, refit=refit)


def dataset_digest(tables: CrmTables) -> str:
    """A short content hash of the export, logged with every run."""
    h = hashlib.sha256()
    for frame in (
        tables.accounts,
        tables.reps,
        tables.opportunities,
        tables.assignments,
        tables.activities,
    ):
        h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def _xy(frame: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    return frame[columns], frame["label"].to_numpy(dtype=float)


def _make_model(config: TrainConfig, name: str, features: list[str], **overrides) -> PotentialModel:
    params = {**CANDIDATES[name], **overrides}
    monotone = [f for f in MONOTONE_INCREASING if f in features]
    return PotentialModel(
        config.objective,
        feature_set=config.feature_set,
        monotone_increasing=monotone,
        random_state=config.seed,
        **params,
    )


def validation_group(
    account_ids: pd.Series, seed: int, share: float = VALIDATION_SHARE
) -> np.ndarray:
    """True for the accounts held out for validation: a stable hash of id and seed, ~`share`."""
    keys = (account_ids.astype(str) + f"|{seed}").map(lambda k: zlib.crc32(k.encode()) % 10_000)
    return (keys < share * 10_000).to_numpy()


def shap_cost(model: PotentialModel) -> float:
    """Relative TreeSHAP cost per row: trees x leaves x depth^2 (exact TreeSHAP's complexity)."""
    return float(model.best_iteration_ * model.num_leaves * model.max_depth**2)


def select_candidate(
    config: TrainConfig,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    columns: list[str],
    names: list[str],
) -> tuple[str, pd.DataFrame, dict[str, PotentialModel]]:
    """Fit each candidate on `train`, score it on the later `valid` fold, keep the best.

    "Best" weighs explanation cost: among candidates whose validation top-20% capture is within
    SELECTION_TOLERANCE (relative) of the best one, the cheapest to explain wins.
    """
    rows, fitted = [], {}
    X, y = _xy(train, columns)
    X_val, y_val = _xy(valid, columns)
    for name in names:
        model = _make_model(config, name, columns).fit(X, y, eval_set=(X_val, y_val))
        fitted[name] = model
        metrics = ranking_metrics(y_val, model.predict(X_val))
        rows.append(
            {
                "candidate": name,
                "trees": model.best_iteration_,
                **metrics,
                "shap_cost": shap_cost(model),
            }
        )
    table = pd.DataFrame(rows)
    best_capture = table["capture_top20"].max()
    table["within_tolerance"] = table["capture_top20"] >= (1 - SELECTION_TOLERANCE) * best_capture
    table["shap_cost"] = table["shap_cost"] / table["shap_cost"].min()
    chosen = table[table["within_tolerance"]].sort_values(["shap_cost", "candidate"]).iloc[0]
    return str(chosen["candidate"]), table, fitted


def compare_on_holdout(
    model: PotentialModel,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    columns: list[str],
    oracle: pd.Series | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """The model against the baselines (and the oracle where truth exists) on the holdout."""
    X_tr, y_tr = _xy(train, columns)
    X_ho, y_ho = _xy(holdout, columns)
    predicted = model.predict(X_ho)
    scores = {
        "potential_model": predicted,
        "last_12m_revenue": last_12_month_revenue(X_ho),
        "firmographic_rule": firmographic_rule(X_tr, y_tr, X_ho),
        "linear_model": linear_model(X_tr, y_tr, X_ho),
    }
    if oracle is not None:
        scores["oracle_true_potential"] = oracle.reindex(holdout["account_id"]).fillna(0).to_numpy()
    rows = []
    for name, score in scores.items():
        row = {"model": name, **ranking_metrics(y_ho, score)}
        if model.objective == "conversion" and name == "potential_model":
            row.update(conversion_metrics(y_ho, score))
        rows.append(row)
    return pd.DataFrame(rows), predicted


def train_potential(
    tables: CrmTables,
    config: TrainConfig,
    *,
    oracle: Oracle | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> TrainingResult:
    """Run the whole training recipe on one export; pure apart from CPU (no files, no MLflow).

    Args:
        oracle: for a sample world, maps a label window (start, stop) to each account's true
            expected revenue in it; the holdout then also reports the oracle's ranking.
    """
    as_of = pd.Timestamp(config.as_of) if config.as_of is not None else tables.default_as_of()
    config = replace(config, as_of=as_of)
    notes: list[str] = []
    columns = list(FEATURE_SETS[config.feature_set]) + list(config.extra_columns)
    plan = plan_snapshots(tables.history_start(), config, as_of)
    names = list(CANDIDATES)
    if len(tables.accounts) < SMALL_EXPORT_ACCOUNTS:
        names = ["simple"]
        notes.append(
            f"small export ({len(tables.accounts)} accounts < {SMALL_EXPORT_ACCOUNTS}): "
            "trained only "
            "the simple candidate (7 leaves, depth 3); its metrics have wide error bars."
        )
    progress(f"building snapshots from {plan.train[0].date()} to {plan.holdout.date()}")
    dates = plan.refit
    frames = build_snapshots(tables, dates, config.horizon_days, extra_columns=config.extra_columns)
    # Validation is later in time than training AND on accounts training never saw: monthly
    # snapshots share most of their label window, so same-account validation rewards memorising.
    held = validation_group(frames["account_id"], config.seed)
    train = frames[frames["as_of"].isin(plan.train) & ~held]
    valid = frames[(frames["as_of"] == plan.validation) & held]
    holdout = frames[frames["as_of"] == plan.holdout]
    if valid["label"].sum() <= 0 or train["label"].sum() <= 0:
        raise DataContractError(
            "no won revenue in the training or validation label windows "
            f"(as_of {plan.train[0].date()}"
            f"..{plan.validation.date()}): check opportunity stages and closed_at dates."
        )
    progress(f"selecting among {names}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        chosen, selection, fitted = select_candidate(config, train, valid, columns, names)
        eval_model = fitted[chosen]
        progress("scoring holdout and baselines")
        window = (plan.holdout, plan.holdout + pd.Timedelta(days=config.horizon_days))
        truth = oracle(*window) if oracle is not None else None
        comparison, predicted = compare_on_holdout(eval_model, train, holdout, columns, truth)
        trees = max(50, int(eval_model.best_iteration_ * 1.1))
        progress(f"refitting '{chosen}' on {len(plan.refit)} snapshots ({trees} trees)")
        X_all, y_all = _xy(frames[frames["as_of"].isin(plan.refit)], columns)
        model = _make_model(config, chosen, columns, n_estimators=trees).fit(X_all, y_all)
    calibration = calibration_by_decile(holdout["label"].to_numpy(), predicted)
    return TrainingResult(
        model=model,
        eval_model=eval_model,
        config=config,
        plan=plan,
        chosen=chosen,
        selection=selection,
        comparison=comparison,
        calibration=calibration,
        holdout=holdout.assign(predicted=predicted),
        dataset_digest=dataset_digest(tables),
        warnings=notes,
    )
