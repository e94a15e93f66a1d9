"""Learned rep fit: expected revenue from an account under a rep, relative to an average rep.

A rep changes what an account yields three ways, and each gets a LightGBM model on the same
point-in-time rep features (models.repfit.learned.MODEL_REP_FEATURES, as of the row's date), the
account's size and industry, and the rep's identity (so a rep's own track record counts, shrunk by
LightGBM's categorical smoothing; reps it never saw, such as planned hires, use the features alone):

* deal rate: opportunities created per quarter of ownership (Poisson), on account-quarters that
  one rep owned from start to end, over the last two years;
* win: P(won) of a closed opportunity (binary), features as of its created_at;
* deal size: log amount of a won opportunity (least squares).

``expected = rate x P(win) x size``; the fit of a pair is ``expected(rep, account) / mean over
reps of expected(rep', account)``: how much more revenue this rep should bring from this account
than an average active rep. Win alone would miss most of a rep's effect when it also shows in how
many deals and how big (in the sample world 70% of it does). The win model's AUC on the latest 20%
of deals by date is the gate: ``choose_rep_fit`` uses the learned fit when the history is rich
enough and it beats a coin flip, and the transparent fallback (models.repfit.transparent) otherwise.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from features.rep_features import (
    ClosedHistory,
    by_account_id,
    closed_history,
    rep_features_at,
)
from features.tables import CrmTables
from models.potential import size_workload
from models.repfit.additive import pair_logs, split_points
from models.repfit.transparent import fallback_fit

ACCOUNT_FEATURES = ("account_log_employees", "account_log_revenue", "account_industry")
MODEL_REP_FEATURES = (
    "rep_tenure_years",
    "rep_level",
    "rep_win_rate",
    "rep_industry_win_rate",
    "rep_knows_industry",
    "distance_km",
)
"""Rep features the model sees: rates, not running totals (deal counts and revenue closed keep
growing, so at plan time they sit beyond anything seen in training and trees flatten them)."""
MONOTONE = {
    "rep_load": -1,
    "rep_level": 1,
    "rep_win_rate": 1,
    "rep_industry_win_rate": 1,
    "rep_knows_industry": 1,
    "distance_km": -1,
}
"""Directions the fit must respect whatever the data's noise (more skill or expertise never
lowers it, more distance never raises it)."""
FIT_RANGE = (0.25, 4.0)
BASELINE_REPS = 25
QUARTER_DAYS = 91
COMPONENTS = ("deal_rate", "win", "deal_size")
CHECK_PAIRS = 200
"""Pairs on which each call compares the fit read from the trees with the row-by-row fit."""
CHECK_TOLERANCE = 1e-6


@dataclass(frozen=True)
class RepFitParams:
    """Hyperparameters and the data thresholds that decide learned vs fallback."""

    n_estimators: int = 150
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_child_samples: int = 100
    max_training_rows: int = 200_000
    min_closed_opportunities: int = 500
    min_holdout_auc: float = 0.55
    seed: int = 0
    rate_quarters: int = 8
    """Quarters of ownership (before the plan date) the deal-rate model learns from."""
    rep_identity: bool = True
    """Let the models learn each known rep's own effect (rep_id as a categorical feature)."""
    min_rows_per_rep: int = 200
    """LightGBM's min_data_per_group / cat_smooth: a rep's own effect needs this much history."""
    rep_load: bool = True
    """Learn how a rep's load (workload of the accounts owned at the row's date / the rep's
    capacity) lowers what they bring, and read every fit at a full but not overloaded book (1.0):
    an overloaded rep's past is not held against them in a plan that keeps loads within capacity."""
    separate_account_features: bool = True
    """Trees split on account features or on rep and pair features, never both: the fit is a ratio
    between reps for one account, so account features only set the baseline, and letting them
    interact with rep features fits noise that shows up as differences between reps."""


class RepFitModel:
    """Win model behind the learned fit; scikit-learn style (``fit`` returns self)."""

    method = "learned"

    def __init__(self, params: RepFitParams | None = None) -> None:
        self.params = params or RepFitParams()
        self._closed_cache: tuple | None = None

    def fit(self, tables: CrmTables, as_of: pd.Timestamp) -> RepFitModel:
        """Train on opportunities and ownership before ``as_of``."""
        import lightgbm as lgb

        rows = _training_rows(tables, as_of, self.params)
        if len(rows) < self.params.min_closed_opportunities:
            raise ValueError(
                f"only {len(rows)} closed opportunities with a rep before {as_of:%Y-%m-%d}"
                f"; the learned fit needs {self.params.min_closed_opportunities}."
            )
        self.industries_ = sorted(tables.accounts["industry"].dropna().astype(str).unique())
        self.known_reps_ = sorted(rows["rep_id"].astype(str).unique())
        self.assignments_ = tables.assignments
        x = self._features(rows, tables.opportunities, tables.accounts, tables.reps, history=True)
        won = (rows["stage"] == "won").to_numpy()
        y = won.astype(int)
        cut = int(0.8 * len(rows))
        early = self._train(lgb, x[:cut], y[:cut], "binary")
        self.holdout_auc_ = _auc(y[cut:], early.predict(x[cut:], num_threads=1))
        amount = pd.to_numeric(rows["amount"], errors="coerce").to_numpy(float)
        sized = won & (amount > 0)
        periods = _ownership_quarters(tables, as_of, self.params)
        xq = self._features(
            periods, tables.opportunities, tables.accounts, tables.reps, history=True
        )
        deals = periods["deals"].to_numpy(float)
        self.as_of_, self.tables_ = as_of, tables
        self.models_ = {
            "deal_rate": self._train(lgb, xq, deals, "poisson"),
            "win": self._train(lgb, x, y, "binary"),
            "deal_size": self._train(lgb, x[sized], np.log(amount[sized]), "regression"),
        }
        self.n_training_rows_, self.n_rate_rows_ = len(rows), len(periods)
        self.distance_points_ = split_points(self.models_.values())
        return self

    def _train(self, lgb, x: pd.DataFrame, y: np.ndarray, objective: str):
        p = self.params
        categorical = [c for c in ("account_industry", "rep_code") if c in x.columns]
        model = lgb.LGBMRegressor if objective != "binary" else lgb.LGBMClassifier
        columns = list(x.columns)
        groups = None
        if p.separate_account_features:
            account = [i for i, c in enumerate(columns) if c in ACCOUNT_FEATURES]
            groups = [[i for i in range(len(columns)) if i not in account], account]
        fitted = model(
            objective=objective,
            n_estimators=p.n_estimators,
            learning_rate=p.learning_rate,
            num_leaves=p.num_leaves,
            min_child_samples=p.min_child_samples,
            min_data_per_group=p.min_rows_per_rep,
            cat_smooth=float(p.min_rows_per_rep),
            max_cat_threshold=64,
            random_state=p.seed,
            num_threads=1,
            deterministic=True,
            verbose=-1,
            monotone_constraints=[MONOTONE.get(c, 0) for c in columns],
            monotone_constraints_method="advanced",
            interaction_constraints=groups,
        )
        return fitted.fit(x, y, categorical_feature=categorical).booster_

    def _features(
        self, queries, opportunities, accounts, reps, history: bool = False
    ) -> pd.DataFrame:
        """Model features per query; ``history`` reads each rep's load at the query date (training
        rows), else every rep is at a full, not overloaded book (plans)."""
        pit = rep_features_at(
            queries, opportunities, accounts, reps, self._closed(opportunities, accounts)
        )
        if self.params.rep_load:
            pit["rep_load"] = (
                _rep_load(self.assignments_, queries, accounts, reps)
                if history
                else np.ones(len(queries))
            )
        acc = by_account_id(accounts).reindex(queries["account_id"].to_numpy())
        codes = pd.Categorical(acc["industry"].astype("string"), categories=self.industries_).codes
        pit["account_log_employees"] = np.log1p(pd.to_numeric(acc["employees"]).to_numpy(float))
        pit["account_log_revenue"] = np.log1p(pd.to_numeric(acc["annual_revenue"]).to_numpy(float))
        pit["account_industry"] = pd.Categorical(np.where(codes >= 0, codes, -1))
        columns = [*MODEL_REP_FEATURES, *ACCOUNT_FEATURES]
        if self.params.rep_load:
            columns.append("rep_load")
        if self.params.rep_identity:
            rep = pd.Index(self.known_reps_).get_indexer(queries["rep_id"].astype(str).to_numpy())
            pit["rep_code"] = pd.Categorical(rep, categories=np.arange(len(self.known_reps_)))
            columns.append("rep_code")
        return pit[columns]

    def _closed(self, opportunities: pd.DataFrame, accounts: pd.DataFrame) -> ClosedHistory:
        """The export's running totals of closed opportunities, built once per pair of frames
        (a plan reads features for every region's pairs from the same export)."""
        cached = self._closed_cache
        if cached is None or cached[0] is not opportunities or cached[1] is not accounts:
            cached = (opportunities, accounts, closed_history(opportunities, accounts))
            self._closed_cache = cached
        return cached[2]

    def log_components(
        self,
        account_ids: np.ndarray,
        rep_ids: np.ndarray,
        reps: pd.DataFrame | None = None,
        distance_km: float | None = None,
    ) -> dict[str, np.ndarray]:
        """Log deal rate, win probability and deal size for (account, rep) pairs as of the
        training date; ``reps`` adds unknown reps, ``distance_km`` replaces every pair's distance
        (to read a rep's effect apart from where the rep lives)."""
        x = self._pair_features(account_ids, rep_ids, reps, distance_km)
        out = {name: model.predict(x, num_threads=1) for name, model in self.models_.items()}
        # deal size is modelled in logs already; rate and win are on their own scale
        return {
            name: v if name == "deal_size" else np.log(np.maximum(v, 1e-12))
            for name, v in out.items()
        }

    @staticmethod
    def log_fit(pairs: dict[str, np.ndarray], average: dict[str, np.ndarray]) -> np.ndarray:
        """Log fit: per component, the pair's log value minus the log of the average rep's
        value, summed (log expected revenue relative to the average rep)."""
        return sum(pairs[c] - average[c] for c in COMPONENTS)

    def _pair_features(self, account_ids, rep_ids, reps, distance_km) -> pd.DataFrame:
        roster = self.tables_.reps if reps is None else reps
        queries = pd.DataFrame({"account_id": account_ids, "rep_id": rep_ids, "at": self.as_of_})
        x = self._features(queries, self.tables_.opportunities, self.tables_.accounts, roster)
        if distance_km is not None:
            x["distance_km"] = float(distance_km)
        return x

    def rep_effect(
        self,
        accounts: pd.DataFrame,
        reps: pd.DataFrame,
        account_rows: np.ndarray,
        distance_km: float = 100.0,
    ) -> pd.Series:
        """Per active rep: mean log expected-revenue ratio to the average rep over the given
        accounts, every pair at the same distance: the rep's own effect, not its location's."""
        roster = contract_reps(reps, self.as_of_)
        active = np.flatnonzero(reps["active"].fillna(True).astype(bool).to_numpy())
        ids_a = accounts["account_id"].astype(str).to_numpy()[account_rows]
        pairs_a = np.repeat(ids_a, active.size)
        pairs_r = np.tile(roster["rep_id"].to_numpy()[active], ids_a.size)
        logs = self.log_components(pairs_a, pairs_r, roster, distance_km)
        logs = {c: v.reshape(ids_a.size, -1) for c, v in logs.items()}
        average = {c: _log_mean_exp(v)[:, None] for c, v in logs.items()}
        log_ratio = self.log_fit(logs, average)
        return pd.Series(log_ratio.mean(axis=0), index=roster["rep_id"].to_numpy()[active])

    def __call__(
        self,
        accounts: pd.DataFrame,
        reps: pd.DataFrame,
        account_rows: np.ndarray,
        rep_rows: np.ndarray,
    ) -> np.ndarray:
        """The matcher's fit function: expected-revenue ratio to an average active rep.

        With account and rep features in separate trees (the default), pairs are read from the
        trees' structure (models.repfit.additive), checked against the row-by-row computation
        on a sample of pairs; otherwise every pair is its own row for every model."""
        roster = contract_reps(reps, self.as_of_)
        account_rows, rep_rows = np.asarray(account_rows), np.asarray(rep_rows)
        if not self.params.separate_account_features or account_rows.size == 0:
            return self._fit_by_rows(accounts, reps, roster, account_rows, rep_rows)
        fit = self._fit_additive(accounts, reps, roster, account_rows, rep_rows)
        sample = np.random.default_rng(0).choice(
            account_rows.size, min(account_rows.size, CHECK_PAIRS), replace=False
        )
        direct = self._fit_by_rows(accounts, reps, roster, account_rows[sample], rep_rows[sample])
        worst = float(np.max(np.abs(np.log(fit[sample]) - np.log(direct))))
        if worst > CHECK_TOLERANCE:
            warnings.warn(
                f"the learned fit read from the trees' structure differs from the row-by-row fit "
                f"by up to {worst:.2e} (log) on {sample.size} sampled pairs; using the row-by-row "
                "fit for all pairs (slower). Please report this with your LightGBM version.",
                RuntimeWarning,
                stacklevel=2,
            )
            return self._fit_by_rows(accounts, reps, roster, account_rows, rep_rows)
        return fit

    def _fit_additive(self, accounts, reps, roster, account_rows, rep_rows) -> np.ndarray:
        unique, where = np.unique(account_rows, return_inverse=True)
        pool = _baseline_pool(reps)
        logs = pair_logs(
            self,
            accounts["account_id"].astype(str).to_numpy()[unique],
            np.concatenate([where, np.repeat(np.arange(unique.size), pool.size)]),
            roster,
            np.concatenate([rep_rows, np.tile(pool, unique.size)]),
            ACCOUNT_FEATURES,
        )
        pairs = {c: v[: where.size] for c, v in logs.items()}
        average = {
            c: _log_mean_exp(v[where.size :].reshape(unique.size, pool.size))[where]
            for c, v in logs.items()
        }
        return np.clip(np.exp(self.log_fit(pairs, average)), *FIT_RANGE)

    def _fit_by_rows(self, accounts, reps, roster, account_rows, rep_rows) -> np.ndarray:
        account_ids = accounts["account_id"].astype(str).to_numpy()[account_rows]
        rep_ids = roster["rep_id"].to_numpy()[rep_rows]
        logs = self.log_components(account_ids, rep_ids, roster)
        unique, where = np.unique(account_ids, return_inverse=True)
        pool = _baseline_pool(reps)
        pairs_a = np.repeat(unique, pool.size)
        pairs_r = np.tile(roster["rep_id"].to_numpy()[pool], unique.size)
        base = self.log_components(pairs_a, pairs_r, roster)
        average = {
            c: _log_mean_exp(v.reshape(unique.size, pool.size))[where] for c, v in base.items()
        }
        return np.clip(np.exp(self.log_fit(logs, average)), *FIT_RANGE)

    def describe(self) -> dict[str, object]:
        return {
            "method": self.method,
            "holdout_auc": round(float(self.holdout_auc_), 4),
            "training_rows": int(self.n_training_rows_),
            "deal_rate_rows": int(self.n_rate_rows_),
            "components": list(COMPONENTS),
            "params": asdict(self.params),
        }


def contract_reps(reps: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Matcher-style reps (tenure_years, latitude/longitude) back in contract columns."""
    tenure = pd.to_timedelta(reps["tenure_years"].fillna(0).to_numpy(float) * 365.25, unit="D")
    return pd.DataFrame(
        {
            "rep_id": reps["rep_id"].astype(str).to_numpy(),
            "hired_at": pd.Timestamp(as_of) - tenure,
            "level": reps["level"].to_numpy() if "level" in reps else None,
            "industries": reps["industries"].to_numpy(),
            "home_latitude": reps["latitude"].to_numpy(float),
            "home_longitude": reps["longitude"].to_numpy(float),
        }
    )


def _baseline_pool(reps: pd.DataFrame) -> np.ndarray:
    """Up to BASELINE_REPS active reps, evenly spread over the roster (deterministic)."""
    active = np.flatnonzero(reps["active"].fillna(True).astype(bool).to_numpy())
    active = active if active.size else np.arange(len(reps))
    take = np.linspace(0, active.size - 1, min(BASELINE_REPS, active.size)).round().astype(int)
    return active[np.unique(take)]


def _training_rows(tables: CrmTables, as_of: pd.Timestamp, params: RepFitParams) -> pd.DataFrame:
    o = tables.opportunities
    keep = o["stage"].isin(["won", "lost"]) & o["rep_id"].notna() & (o["closed_at"] < as_of)
    rows = o.loc[keep, ["opportunity_id", "account_id", "rep_id", "created_at", "stage", "amount"]]
    rows = rows.sort_values(["created_at", "opportunity_id"]).reset_index(drop=True)
    if len(rows) > params.max_training_rows:
        step = int(np.ceil(len(rows) / params.max_training_rows))
        rows = rows.iloc[::step].reset_index(drop=True)
    return rows.rename(columns={"created_at": "at"})


def _ownership_quarters(
    tables: CrmTables, as_of: pd.Timestamp, params: RepFitParams
) -> pd.DataFrame:
    """Account-quarters one rep owned from start to end (the last ``rate_quarters`` before
    ``as_of``), with the opportunities created on the account in that quarter."""
    quarter = pd.Timedelta(days=QUARTER_DAYS)
    starts = pd.DatetimeIndex([as_of - k * quarter for k in range(params.rate_quarters, 0, -1)])
    spells = tables.assignments
    begin = pd.to_datetime(spells["start_date"]).to_numpy().astype("datetime64[ns]")
    end = pd.to_datetime(spells["end_date"]).to_numpy().astype("datetime64[ns]")
    end = np.where(np.isnat(end), np.datetime64("2262-01-01"), end)
    s, q = np.nonzero(
        (begin[:, None] <= starts.to_numpy()[None, :])
        & (end[:, None] >= (starts + quarter).to_numpy()[None, :])
    )
    rows = pd.DataFrame(
        {
            "account_id": spells["account_id"].astype(str).to_numpy()[s],
            "rep_id": spells["rep_id"].astype(str).to_numpy()[s],
            "at": starts.to_numpy()[q],
            "quarter": q,
        }
    )
    o = tables.opportunities
    created = pd.to_datetime(o["created_at"])
    inside = (created >= starts[0]) & (created < as_of)
    index = ((created[inside] - starts[0]) // quarter).astype(int).to_numpy()
    counts = (
        pd.DataFrame({"account_id": o.loc[inside, "account_id"].astype(str), "quarter": index})
        .value_counts()
        .rename("deals")
    )
    rows = rows.join(counts, on=["account_id", "quarter"]).fillna({"deals": 0.0})
    rows = rows.sort_values(["at", "account_id"], kind="stable").reset_index(drop=True)
    if len(rows) > params.max_training_rows:
        step = int(np.ceil(len(rows) / params.max_training_rows))
        rows = rows.iloc[::step].reset_index(drop=True)
    return rows


def _rep_load(
    assignments: pd.DataFrame, queries: pd.DataFrame, accounts: pd.DataFrame, reps: pd.DataFrame
) -> np.ndarray:
    """Per query (rep_id, at): size workload (models.potential.workload.size_workload) of the
    accounts the rep owned at ``at`` over the rep's capacity; reps without a capacity take the
    median one (and
    with no capacity in the data at all, the median book among these queries counts as full)."""
    workload = size_workload(accounts.set_index("account_id")["employees"])
    per_spell = workload.reindex(assignments["account_id"].astype(str)).fillna(1.0).to_numpy()
    start = pd.to_datetime(assignments["start_date"]).to_numpy().astype("datetime64[ns]")
    end = pd.to_datetime(assignments["end_date"]).to_numpy().astype("datetime64[ns]")
    rep = assignments["rep_id"].astype(str).to_numpy()
    ended = ~np.isnat(end)
    events = pd.DataFrame(
        {
            "rep_id": np.concatenate([rep, rep[ended]]),
            "t": np.concatenate([start, end[ended]]),
            "d": np.concatenate([per_spell, -per_spell[ended]]),
        }
    )
    books = events.groupby(["rep_id", "t"], as_index=False)["d"].sum().sort_values("t")
    books["book"] = books.groupby("rep_id")["d"].cumsum()
    at = pd.to_datetime(queries["at"]).to_numpy().astype("datetime64[ns]")
    left = pd.DataFrame(
        {"rep_id": queries["rep_id"].astype(str).to_numpy(), "t": at, "_row": np.arange(len(at))}
    ).sort_values("t")
    mine = pd.merge_asof(left, books[["rep_id", "t", "book"]], on="t", by="rep_id")
    given = reps["capacity"].to_numpy() if "capacity" in reps else np.full(len(reps), np.nan)
    capacity = pd.Series(
        pd.to_numeric(given, errors="coerce"), index=reps["rep_id"].astype(str).to_numpy()
    )
    book = mine["book"].fillna(0.0).to_numpy()
    if capacity.notna().any():
        median = float(capacity.median())
    else:  # no capacity at all: a typical book counts as full, as plans read it
        median = float(np.median(book[book > 0])) if (book > 0).any() else 1.0
    capacity = capacity.fillna(median).reindex(mine["rep_id"]).fillna(median).clip(lower=1e-9)
    out = np.zeros(len(at))
    out[mine["_row"].to_numpy()] = book / capacity.to_numpy()
    return out


def _log_mean_exp(values: np.ndarray) -> np.ndarray:
    """log(mean(exp(values))) along the last axis, without overflow."""
    top = values.max(axis=-1)
    return top + np.log(np.exp(values - top[..., None]).mean(axis=-1))


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (rank form); 0.5 when one class is missing."""
    positives, negatives = int(y.sum()), int((1 - y).sum())
    if positives == 0 or negatives == 0:
        return 0.5
    ranks = pd.Series(score).rank().to_numpy()
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def choose_rep_fit(tables: CrmTables, as_of: pd.Timestamp, params: RepFitParams | None = None):
    """The learned fit when the history supports it, else the fallback; with the reason why."""
    params = params or RepFitParams()
    try:
        model = RepFitModel(params).fit(tables, as_of)
    except ValueError as exc:
        return fallback_fit, {"method": "fallback", "reason": str(exc)}
    if model.holdout_auc_ < params.min_holdout_auc:
        return fallback_fit, {
            "method": "fallback",
            "reason": (
                f"learned fit's holdout AUC {model.holdout_auc_:.3f} < {params.min_holdout_auc}"
            ),
        }
    return model, model.describe()
