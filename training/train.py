"""Train the potential model: snapshots -> candidates -> forward selection -> holdout -> refit.

Time layout for an export ending at `as_of` with horizon H (all labels fully observed):

    train snapshots ... | validation snapshot | ... | holdout as_of = as_of - H | as_of
    [features < t, label in [t, t+H)]   t_val > every t_train     t_val + H <= holdout

The holdout is never seen in training or selection. The model registered for serving is refit
with the chosen configuration on every labelled snapshot up to the holdout date.

Short histories (two labelled snapshots before the holdout do not fit) train on every snapshot of
the same monthly grid and validate / hold out accounts training never saw; the result says so
(`TrainingResult.validation`). The horizon advice in errors comes from that same grid. Runs that
look too good to be true stop (models.potential.leakage); revenue totals are calibrated for the
trend (models.potential.calibration); the chosen model must beat the baselines on the later
period or it is not registered without force (training.register).
"""

from __future__ import annotations

import hashlib
import time
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from features.errors import DataContractError, TerritoryError
from features.feature_sets import FEATURE_SETS, MONOTONE_INCREASING
from features.pipeline import build_snapshots, snapshot_dates
from features.tables import CrmTables
from models.potential import (
    TOTAL_TOLERANCE,
    LeakageError,
    PotentialModel,
    TotalCalibration,
    calibration_by_decile,
    conversion_metrics,
    find_suspects,
    firmographic_rule,
    fit_total_calibration,
    last_12_month_revenue,
    leakage_message,
    linear_model,
    ranking_metrics,
    scale_log_link_booster,
    total_ratio,
)
from training.scale import (
    MAX_TRAIN_ROWS,
    RowSample,
    StageClock,
    refit_estimate,
    row_sample,
    sampled_accounts,
    snapshot_step,
)

MIN_HISTORY_DAYS = 180
SHORT_MIN_WARMUP_DAYS = 60
HOLDOUT_SEED_OFFSET = 1_000_003
MIN_HORIZON_DAYS = 7
FORWARD, ACCOUNTS = "forward", "held_out_accounts"
VALIDATION_NOTES = {
    FORWARD: "forward validation: selection on a later period and held-out accounts, holdout on "
    "the latest full label window; the metrics reflect change over time.",
    ACCOUNTS: "held-out-account validation: the history is too short for a later validation "
    "period, so selection and holdout use accounts training never saw over the same period; "
    "the metrics do not show how the model holds up as the market changes (retrain often).",
}
VALIDATION_SHARE = 0.2
SELECTION_TOLERANCE = 0.01
Oracle = Callable[[pd.Timestamp, pd.Timestamp], pd.Series]
# The Dask path's hooks (training/distributed.py): snapshots for a list of dates, and the final
# fit of an unfitted model on the refit rows (given locally as the frame its categories come from).
SnapshotBuilder = Callable[[list[pd.Timestamp], dict[str, object]], pd.DataFrame]
Refitter = Callable[[PotentialModel, pd.DataFrame], PotentialModel]
SMALL_EXPORT_ACCOUNTS = 2000
CALIBRATE_TOTALS = True

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
    # Strongly regularised: shallow trees, big leaves, heavy L2 and feature subsampling, for
    # exports whose later periods differ from the earlier ones (drift).
    "regularised": {
        "num_leaves": 7,
        "max_depth": 3,
        "min_child_samples": 300,
        "n_estimators": 1500,
        "learning_rate": 0.05,
        "reg_lambda": 30.0,
        "colsample_bytree": 0.5,
    },
}
GATE_METRIC = "normalized_gini"
"""The chosen model must beat every baseline on this metric in the later validation period."""


class BaselineGateError(TerritoryError):
    """The chosen model does not beat the baselines on the later period; nothing registered."""


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
    max_train_rows: int | None = MAX_TRAIN_ROWS
    """account-snapshots fitted at most (training.scale); None fits every row"""


@dataclass(frozen=True)
class SnapshotPlan:
    """The as_of dates used for training, validation, holdout and the final refit."""

    train: list[pd.Timestamp]
    validation: pd.Timestamp
    holdout: pd.Timestamp
    refit: list[pd.Timestamp]
    validation_kind: str = FORWARD

    @property
    def validation_note(self) -> str:
        """Which validation this plan uses and how far to trust it."""
        return VALIDATION_NOTES[self.validation_kind]


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
    gate: pd.DataFrame | None = None
    total_calibration: TotalCalibration | None = None
    sample: RowSample | None = None

    @property
    def beats_baselines(self) -> bool:
        """True when the chosen model beat every baseline on the later validation period."""
        return self.gate is None or bool(self.gate.attrs.get("passed", True))

    @property
    def validation(self) -> str:
        """Which validation the run used and how far to trust its metrics."""
        return self.plan.validation_note

    @property
    def metrics(self) -> dict[str, float]:
        row = self.comparison.set_index("model").loc["potential_model"]
        return {f"holdout_{k}": float(v) for k, v in row.items() if pd.notna(v)}


@dataclass(frozen=True)
class ExportFacts:
    """What training needs to know about a whole export, for an export it does not hold (the
    Dask path combines one record per partition: combine_facts); `ExportFacts.of(tables)` for
    one it holds."""

    accounts: int
    latest: pd.Timestamp  # the latest date anywhere (CrmTables.latest_date)
    latest_opportunity: pd.Timestamp  # NaT without opportunities
    first_opportunity: pd.Timestamp  # CrmTables.history_start
    digest: str

    @classmethod
    def of(cls, tables: CrmTables, *, digest: bool = True) -> ExportFacts:
        """`digest`: False skips hashing the rows (a third of the time) when only counts and
        dates are needed; the digest is then empty."""
        opps = tables.opportunities
        return cls(
            accounts=len(tables.accounts),
            latest=tables.latest_date(),
            latest_opportunity=pd.concat([opps["created_at"], opps["closed_at"]]).max(),
            first_opportunity=tables.history_start(),
            digest=dataset_digest(tables) if digest else "",
        )

    def history_start(self) -> pd.Timestamp:
        return self.first_opportunity

    def default_as_of(self) -> pd.Timestamp:
        return self.latest.normalize() + pd.Timedelta(days=1)


def combine_facts(parts: list[ExportFacts]) -> ExportFacts:
    """The facts of a partitioned export from each partition's. Its digest hashes the
    partitions' digests in order: it names this partitioning of the data, not the rows alone
    (the same rows split otherwise digest differently)."""
    if not parts:
        raise DataContractError("the partitioned export has no partitions: nothing to train on.")

    def extreme(key: str, pick) -> pd.Timestamp:
        known = [pd.Timestamp(getattr(p, key)) for p in parts if pd.notna(getattr(p, key))]
        return pick(known) if known else pd.NaT

    digests = [p.digest for p in parts]
    joined = hashlib.sha256("".join(digests).encode()).hexdigest()[:16] if all(digests) else ""
    return ExportFacts(
        accounts=sum(p.accounts for p in parts),
        latest=extreme("latest", max),
        latest_opportunity=extreme("latest_opportunity", max),
        first_opportunity=extreme("first_opportunity", min),
        digest=joined,
    )


def export_digest(tables: CrmTables | ExportFacts) -> str:
    """dataset_digest of an export held here, or the digest its partitions reported."""
    return tables.digest if isinstance(tables, ExportFacts) else dataset_digest(tables)


def label_as_of(tables: CrmTables | ExportFacts) -> pd.Timestamp:
    """Default cut-off: the day after the latest opportunity date (what the label is built from).

    Other tables (activities, assignments) may run on after the deal log stops; a cut-off past
    the last opportunity would make the newest label window look empty.
    """
    if isinstance(tables, ExportFacts):
        latest = tables.latest_opportunity
    else:
        opps = tables.opportunities
        latest = pd.concat([opps["created_at"], opps["closed_at"]]).max()
    if pd.isna(latest):
        return tables.default_as_of()
    return pd.Timestamp(latest).normalize() + pd.Timedelta(days=1)


def account_count(tables: CrmTables | ExportFacts) -> int:
    """Accounts in the export, held here or on a cluster."""
    return tables.accounts if isinstance(tables, ExportFacts) else len(tables.accounts)


def _grid(first: pd.Timestamp, holdout: pd.Timestamp, months: int) -> list[pd.Timestamp]:
    return snapshot_dates(first, holdout, months=months)


def _forward_plan(
    data_start: pd.Timestamp, config: TrainConfig, as_of: pd.Timestamp
) -> SnapshotPlan | None:
    horizon = pd.Timedelta(days=config.horizon_days)
    holdout = (as_of - horizon).normalize()
    first = data_start + pd.Timedelta(days=MIN_HISTORY_DAYS)
    # One date grid stepping back from the holdout, so training and refit share snapshots.
    refit = _grid(first, holdout, config.snapshot_months)
    labelled = [d for d in refit if d + horizon <= holdout]
    if len(labelled) < 2:
        return None
    return SnapshotPlan(train=labelled[:-1], validation=labelled[-1], holdout=holdout, refit=refit)


def _account_plan(
    data_start: pd.Timestamp, config: TrainConfig, as_of: pd.Timestamp
) -> SnapshotPlan | None:
    """Short history: every snapshot trains; validation and holdout are held-out accounts."""
    holdout = (as_of - pd.Timedelta(days=config.horizon_days)).normalize()
    warmup = min(MIN_HISTORY_DAYS, max(SHORT_MIN_WARMUP_DAYS, (holdout - data_start).days // 2))
    refit = _grid(data_start + pd.Timedelta(days=warmup), holdout, config.snapshot_months)
    if not refit:
        return None
    return SnapshotPlan(
        train=refit, validation=holdout, holdout=holdout, refit=refit, validation_kind=ACCOUNTS
    )


def _plan_or_none(data_start, config, as_of) -> SnapshotPlan | None:
    return _forward_plan(data_start, config, as_of) or _account_plan(data_start, config, as_of)


def suggest_horizon(
    data_start: pd.Timestamp, config: TrainConfig, as_of: pd.Timestamp
) -> int | None:
    """The longest horizon up to the one asked whose snapshot plan fits (same grid as training)."""
    for days in range(config.horizon_days, MIN_HORIZON_DAYS - 1, -1):
        if _plan_or_none(data_start, replace(config, horizon_days=days), as_of) is not None:
            return days
    return None


def plan_snapshots(
    data_start: pd.Timestamp, config: TrainConfig, as_of: pd.Timestamp
) -> SnapshotPlan:
    """Lay out snapshot dates so validation follows training and the holdout follows both.

    Where two labelled snapshots before the holdout do not fit, fall back to validating and
    holding out accounts training never saw, at the latest fully labelled snapshot.
    """
    plan = _plan_or_none(data_start, config, as_of)
    if plan is not None:
        return plan
    span = (as_of - data_start).days
    advice = suggest_horizon(data_start, config, as_of)
    fix = (
        f"Use --horizon {advice} (the longest that fits this history) or more history."
        if advice is not None
        else f"No horizon of {MIN_HORIZON_DAYS} d or more fits: export more history."
    )
    raise DataContractError(
        f"the export covers {span} days up to {as_of.date()}, too short for horizon "
        f"{config.horizon_days} d: training needs at least {SHORT_MIN_WARMUP_DAYS} d of history "
        f"before the first snapshot plus one label window ({SHORT_MIN_WARMUP_DAYS} + "
        f"{config.horizon_days} d). {fix}"
    )


def plan_at_scale(
    tables: CrmTables | ExportFacts, config: TrainConfig, as_of: pd.Timestamp
) -> tuple[SnapshotPlan, RowSample]:
    """The snapshot plan and row sample that keep a run within ``config.max_train_rows``.

    Snapshots thin out (every 2 or 3 months) only where the coarser grid gives the same kind of
    validation; then each training snapshot keeps the same share of its accounts.
    """
    start = tables.history_start()
    plan = plan_snapshots(start, config, as_of)
    accounts = account_count(tables)
    step = snapshot_step(accounts * len(plan.refit), config.max_train_rows)
    if step > config.snapshot_months:
        coarse = _plan_or_none(start, replace(config, snapshot_months=step), as_of)
        if coarse is not None and coarse.validation_kind == plan.validation_kind:
            plan = coarse
        else:
            step = config.snapshot_months
    return plan, row_sample(accounts, len(plan.refit), step, config.max_train_rows)


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
    on_fitted: Callable[[int], None] = lambda _done: None,
) -> tuple[str, pd.DataFrame, dict[str, PotentialModel]]:
    """Fit each candidate on `train`, score it on the later `valid` fold, keep the best.

    "Best" weighs explanation cost: among candidates whose validation top-20% capture is within
    SELECTION_TOLERANCE (relative) of the best one, the cheapest to explain wins. Fit seconds per
    candidate are in ``table.attrs["fit_seconds"]`` (the refit estimate scales from them).
    """
    rows, fitted, seconds = [], {}, {}
    X, y = _xy(train, columns)
    X_val, y_val = _xy(valid, columns)
    for done, name in enumerate(names, start=1):
        started = time.perf_counter()
        model = _make_model(config, name, columns).fit(X, y, eval_set=(X_val, y_val))
        seconds[name] = time.perf_counter() - started
        on_fitted(done)
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
    table.attrs["fit_seconds"] = seconds
    return str(chosen["candidate"]), table, fitted


def baseline_gate(
    model: PotentialModel, train: pd.DataFrame, valid: pd.DataFrame, columns: list[str]
) -> tuple[pd.DataFrame, list[str]]:
    """The chosen model against the baselines on the later validation period.

    Returns the table (``attrs["passed"]`` says whether the model beat every baseline on
    GATE_METRIC) and a note when it did not.
    """
    table, _ = compare_on_holdout(model, train, valid, columns)
    scores = table.set_index("model")[GATE_METRIC]
    best = scores.drop("potential_model").idxmax()
    passed = bool(scores["potential_model"] > scores[best])
    table.attrs["passed"] = passed
    if passed:
        return table, []
    return table, [
        f"the chosen model does not beat the baseline '{best}' on the later validation period "
        f"({GATE_METRIC} {scores['potential_model']:.3f} vs {scores[best]:.3f}): it will not be "
        "registered without force (`--force`); rank by that baseline or add history."
    ]


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


def snapshot_sampling(plan: SnapshotPlan, sample: RowSample, seed: int) -> dict[str, object]:
    """build_snapshots' keep / whole / also for a run: the row sample at every training date,
    the sample plus the validation group at the validation date, every account at the
    holdout."""
    return {
        "keep": (lambda ids, d: sampled_accounts(ids, d, sample.fraction))
        if sample.samples
        else None,
        "whole": {plan.holdout},
        "also": lambda ids, d: (
            validation_group(pd.Series(ids), seed)
            if d == plan.validation
            else np.zeros(len(ids), dtype=bool)
        ),
    }


def split_frames(
    frames: pd.DataFrame, plan: SnapshotPlan, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Training, validation and holdout rows of the stacked snapshots, as the plan lays out.

    Validation is always on accounts training never saw: monthly snapshots share most of their
    label window, so same-account validation rewards memorising. Forward plans also validate on
    a later date and hold out the latest label window; account plans hold out a second group.
    """
    held = validation_group(frames["account_id"], seed)
    sampled = frames["in_sample"].to_numpy(bool) if "in_sample" in frames else True
    if plan.validation_kind == FORWARD:
        train = frames[frames["as_of"].isin(plan.train) & ~held & sampled]
        valid = frames[(frames["as_of"] == plan.validation) & held]
        return train, valid, frames[frames["as_of"] == plan.holdout]
    tested = validation_group(frames["account_id"], seed + HOLDOUT_SEED_OFFSET) & ~held
    train = frames[frames["as_of"].isin(plan.train) & ~held & ~tested & sampled]
    valid = frames[(frames["as_of"] == plan.validation) & held]
    return train, valid, frames[(frames["as_of"] == plan.holdout) & tested]


def refit_rows(frames: pd.DataFrame, plan: SnapshotPlan) -> pd.DataFrame:
    """The rows the served model is refit on: every refit snapshot, within the row sample."""
    rows = frames["as_of"].isin(plan.refit)
    if "in_sample" in frames:
        rows &= frames["in_sample"].to_numpy(bool)
    return frames[rows]


def guard_leakage(
    model: PotentialModel,
    comparison: pd.DataFrame,
    holdout: pd.DataFrame,
    columns: list[str],
    *,
    allow: bool,
) -> list[str]:
    """Raise LeakageError naming the suspect columns when the holdout is too good to be true.

    With `allow`, the same finding comes back as a warning instead.
    """
    gain = pd.Series(model.booster_.feature_importance("gain"), index=model.feature_names_)
    reasons, suspects = find_suspects(comparison, holdout[columns], holdout["label"], gain)
    if not reasons:
        return []
    message = leakage_message(reasons, suspects)
    if not allow:
        raise LeakageError(message)
    return [f"leakage check overridden (allow_leakage): {message}"]


def trend_holds(
    model: PotentialModel, train: pd.DataFrame, valid: pd.DataFrame, columns: list[str]
) -> bool:
    """Whether extrapolating the training snapshots' growth brings the later validation period's
    total closer to its actual total than the level alone does (chosen forward, like the model:
    a noisy trend on a young or small export must not inflate every prediction)."""
    if model.objective != "revenue" or not CALIBRATE_TOTALS or valid["label"].sum() <= 0:
        return True
    X_tr, _ = _xy(train, columns)
    X_va, y_va = _xy(valid, columns)
    in_sample, later = model.predict(X_tr), model.predict(X_va)
    target = pd.Timestamp(valid["as_of"].max())

    def miss(use_growth: bool) -> float:
        factor = fit_total_calibration(
            train["as_of"], train["label"], in_sample, target, use_growth=use_growth
        ).factor
        return abs(np.log(max(total_ratio(y_va, later * factor), 1e-9)))

    return miss(True) <= miss(False)


def calibrate_totals(
    model: PotentialModel,
    frame: pd.DataFrame,
    columns: list[str],
    target: pd.Timestamp,
    *,
    use_growth: bool = True,
) -> TotalCalibration | None:
    """Fold the total factor into a revenue model (see models.potential.calibration), with the
    trend when ``use_growth`` (decided forward by ``trend_holds``).

    Conversion models are left alone: their probabilities are already isotonic-calibrated.
    """
    if model.objective != "revenue" or not CALIBRATE_TOTALS:
        return None
    X, _ = _xy(frame, columns)
    calibration = fit_total_calibration(
        frame["as_of"], frame["label"], model.predict(X), target, use_growth=use_growth
    )
    if model.constant_ is not None:
        model.constant_ *= calibration.factor
    else:
        scale_log_link_booster(model.booster_, calibration.factor)
    return calibration


def train_potential(
    tables: CrmTables | ExportFacts,
    config: TrainConfig,
    *,
    oracle: Oracle | None = None,
    allow_leakage: bool = False,
    progress: Callable[[str], None] = lambda _: None,
    build: SnapshotBuilder | None = None,
    refit: Refitter | None = None,
) -> TrainingResult:
    """Run the whole training recipe on one export; pure apart from CPU (no files, no MLflow).

    Args:
        oracle: for a sample world, maps a label window (start, stop) to each account's true
            expected revenue in it; the holdout then also reports the oracle's ranking.
        allow_leakage: train on even when the holdout looks too good to be true (a feature
            that seems filled from the outcome); the suspects are then listed as warnings.
        build: builds the stacked snapshots for a list of dates elsewhere (the Dask path,
            training/distributed.py); default build_snapshots on `tables`. Needed when
            `tables` is an ExportFacts (an export held on the cluster, not here).
        refit: fits the final model (an unfitted PotentialModel, the refit rows) elsewhere
            (lightgbm.dask); default its own fit.
    """
    as_of = pd.Timestamp(config.as_of) if config.as_of is not None else label_as_of(tables)
    config = replace(config, as_of=as_of)
    notes: list[str] = []
    columns = list(FEATURE_SETS[config.feature_set]) + list(config.extra_columns)
    plan, sample = plan_at_scale(tables, config, as_of)
    clock = StageClock(progress)
    names = list(CANDIDATES)
    if account_count(tables) < SMALL_EXPORT_ACCOUNTS:
        names = ["simple"]
        notes.append(
            f"small export ({account_count(tables)} accounts < {SMALL_EXPORT_ACCOUNTS}): "
            "trained only "
            "the simple candidate (7 leaves, depth 3); its metrics have wide error bars."
        )
    dates = plan.refit
    clock.stage(
        f"building {len(dates)} snapshots from {plan.train[0].date()} to {plan.holdout.date()}",
        len(dates),
    )
    sampling = snapshot_sampling(plan, sample, config.seed)
    if build is None:
        if isinstance(tables, ExportFacts):
            raise TypeError("train_potential on ExportFacts needs `build` (the Dask path)")
        frames = build_snapshots(
            tables,
            dates,
            config.horizon_days,
            extra_columns=config.extra_columns,
            on_snapshot=lambda done, _total: clock.step(done),
            **sampling,
        )
    else:  # the Dask path builds the same rows, partition by partition on the cluster
        frames = build(dates, sampling)
    train, valid, holdout = split_frames(frames, plan, config.seed)
    if plan.validation_kind != FORWARD:
        notes.append(plan.validation_note)
    if valid["label"].sum() <= 0 or train["label"].sum() <= 0:
        raise DataContractError(
            "no won revenue in the training or validation label windows "
            f"(as_of {plan.train[0].date()}"
            f"..{plan.validation.date()}): check opportunity stages and closed_at dates."
        )
    clock.stage(f"fitting candidates {names} on {len(train):,} rows", len(names))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        chosen, selection, fitted = select_candidate(
            config, train, valid, columns, names, on_fitted=clock.step
        )
        eval_model = fitted[chosen]
        gate, gate_notes = baseline_gate(eval_model, train, valid, columns)
        notes += gate_notes
        trend = trend_holds(eval_model, train, valid, columns)
        calibrate_totals(eval_model, train, columns, plan.holdout, use_growth=trend)
        clock.stage(f"scoring the holdout ({len(holdout):,} accounts) and baselines")
        window = (plan.holdout, plan.holdout + pd.Timedelta(days=config.horizon_days))
        truth = oracle(*window) if oracle is not None else None
        comparison, predicted = compare_on_holdout(eval_model, train, holdout, columns, truth)
        notes += guard_leakage(eval_model, comparison, holdout, columns, allow=allow_leakage)
        trees = max(50, int(eval_model.best_iteration_ * 1.1))
        refit_frame = refit_rows(frames, plan)
        fitted_trees = eval_model.best_iteration_ + eval_model.early_stopping_rounds
        estimate = refit_estimate(
            selection.attrs["fit_seconds"][chosen],
            len(train),
            fitted_trees,
            len(refit_frame),
            trees,
        )
        clock.stage(
            f"refitting '{chosen}' on {len(refit_frame):,} rows of {len(plan.refit)} snapshots "
            f"({trees} trees)",
            estimate_s=estimate,
        )
        X_all, y_all = _xy(refit_frame, columns)
        template = _make_model(config, chosen, columns, n_estimators=trees)
        model = template.fit(X_all, y_all) if refit is None else refit(template, X_all)
        clock.stage("refit done")
        served = calibrate_totals(model, refit_frame, columns, as_of, use_growth=trend)
    if sample.samples:
        notes.append(sample.note(len(refit_frame)))
    calibration = calibration_by_decile(holdout["label"].to_numpy(), predicted)
    ratio = total_ratio(holdout["label"], predicted)
    if config.objective == "revenue" and abs(ratio - 1) > TOTAL_TOLERANCE:
        notes.append(
            f"holdout predicted total is {ratio:.0%} of actual (tolerance "
            f"+-{TOTAL_TOLERANCE:.0%}): treat potentials as a ranking, not a forecast."
        )
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
        dataset_digest=export_digest(tables),
        warnings=notes,
        total_calibration=served,
        gate=gate,
        sample=sample,
    )
