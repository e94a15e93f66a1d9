"""Learned rep fit: a LightGBM win model on point-in-time rep features and account features.

``fit`` trains on closed opportunities with a rep (features as of each opportunity's created_at,
label won/lost), holding out the latest 20% by date to check it beats a coin flip. The fit of a
pair is ``P(win | rep, account) / mean over reps of P(win | rep', account)``: how much more likely
this rep is to win this account than an average active rep. ``choose_rep_fit`` picks this model
when the history is rich enough and the transparent fallback (models.rep_fit) otherwise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from features.rep_features import rep_features_at
from features.tables import CrmTables
from models.rep_fit import fallback_fit

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


class RepFitModel:
    """Win model behind the learned fit; scikit-learn style (``fit`` returns self)."""

    method = "learned"

    def __init__(self, params: RepFitParams | None = None) -> None:
        self.params = params or RepFitParams()

    def fit(self, tables: CrmTables, as_of: pd.Timestamp) -> RepFitModel:
        """Train on opportunities created and closed before ``as_of``."""
        import lightgbm as lgb

        rows = _training_rows(tables, as_of, self.params)
        if len(rows) < self.params.min_closed_opportunities:
            raise ValueError(
                f"only {len(rows)} closed opportunities with a rep before {as_of:%Y-%m-%d}"
                f"; the learned fit needs {self.params.min_closed_opportunities}."
            )
        self.industries_ = sorted(tables.accounts["industry"].dropna().astype(str).unique())
        x = self._features(rows, tables.opportunities, tables.accounts, tables.reps)
        y = (rows["stage"] == "won").to_numpy(int)
        cut = int(0.8 * len(rows))
        self.holdout_auc_ = _auc(y[cut:], self._train(lgb, x[:cut], y[:cut]).predict(x[cut:]))
        self.booster_ = self._train(lgb, x, y)
        self.as_of_, self.tables_, self.n_training_rows_ = as_of, tables, len(rows)
        return self

    def _train(self, lgb, x: pd.DataFrame, y: np.ndarray):
        p = self.params
        model = lgb.LGBMClassifier(
            n_estimators=p.n_estimators,
            learning_rate=p.learning_rate,
            num_leaves=p.num_leaves,
            min_child_samples=p.min_child_samples,
            random_state=p.seed,
            num_threads=1,
            deterministic=True,
            verbose=-1,
            monotone_constraints=[MONOTONE.get(c, 0) for c in x.columns],
            monotone_constraints_method="advanced",
        )
        return model.fit(x, y, categorical_feature=["account_industry"]).booster_

    def _features(self, queries, opportunities, accounts, reps) -> pd.DataFrame:
        pit = rep_features_at(queries, opportunities, accounts, reps)
        acc = accounts.set_index("account_id").reindex(queries["account_id"].to_numpy())
        codes = pd.Categorical(acc["industry"].astype("string"), categories=self.industries_).codes
        pit["account_log_employees"] = np.log1p(pd.to_numeric(acc["employees"]).to_numpy(float))
        pit["account_log_revenue"] = np.log1p(pd.to_numeric(acc["annual_revenue"]).to_numpy(float))
        pit["account_industry"] = pd.Categorical(np.where(codes >= 0, codes, -1))
        return pit[[*MODEL_REP_FEATURES, *ACCOUNT_FEATURES]]

    def win_probability(
        self,
        account_ids: np.ndarray,
        rep_ids: np.ndarray,
        reps: pd.DataFrame | None = None,
        distance_km: float | None = None,
    ) -> np.ndarray:
        """P(win) for (account, rep) pairs as of the training date; ``reps`` adds unknown reps.

        ``distance_km`` replaces every pair's distance (to read a rep's effect apart from where
        the rep lives).
        """
        roster = self.tables_.reps if reps is None else reps
        queries = pd.DataFrame({"account_id": account_ids, "rep_id": rep_ids, "at": self.as_of_})
        x = self._features(queries, self.tables_.opportunities, self.tables_.accounts, roster)
        if distance_km is not None:
            x["distance_km"] = float(distance_km)
        return self.booster_.predict(x, num_threads=1)

    def rep_effect(
        self,
        accounts: pd.DataFrame,
        reps: pd.DataFrame,
        account_rows: np.ndarray,
        distance_km: float = 100.0,
    ) -> pd.Series:
        """Per active rep: mean log win-probability ratio to the average rep over the given
        accounts, every pair at the same distance: the rep's own effect, not its location's."""
        roster = contract_reps(reps, self.as_of_)
        active = np.flatnonzero(reps["active"].fillna(True).astype(bool).to_numpy())
        ids_a = accounts["account_id"].astype(str).to_numpy()[account_rows]
        pairs_a = np.repeat(ids_a, active.size)
        pairs_r = np.tile(roster["rep_id"].to_numpy()[active], ids_a.size)
        p = self.win_probability(pairs_a, pairs_r, roster, distance_km).reshape(ids_a.size, -1)
        log_ratio = np.log(p) - np.log(p.mean(axis=1, keepdims=True))
        return pd.Series(log_ratio.mean(axis=0), index=roster["rep_id"].to_numpy()[active])

    def __call__(
        self,
        accounts: pd.DataFrame,
        reps: pd.DataFrame,
        account_rows: np.ndarray,
        rep_rows: np.ndarray,
    ) -> np.ndarray:
        """The matcher's fit function: win-probability ratio to an average active rep."""
        roster = contract_reps(reps, self.as_of_)
        account_ids = accounts["account_id"].astype(str).to_numpy()[account_rows]
        rep_ids = roster["rep_id"].to_numpy()[rep_rows]
        p = self.win_probability(account_ids, rep_ids, roster)
        unique = np.unique(account_ids)
        pool = _baseline_pool(reps)
        pairs_a = np.repeat(unique, pool.size)
        pairs_r = np.tile(roster["rep_id"].to_numpy()[pool], unique.size)
        base = self.win_probability(pairs_a, pairs_r, roster).reshape(unique.size, pool.size)
        average = pd.Series(base.mean(axis=1), index=unique).reindex(account_ids).to_numpy()
        return np.clip(p / np.maximum(average, 1e-9), *FIT_RANGE)

    def describe(self) -> dict[str, object]:
        return {
            "method": self.method,
            "holdout_auc": round(float(self.holdout_auc_), 4),
            "training_rows": int(self.n_training_rows_),
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
    rows = o.loc[keep, ["opportunity_id", "account_id", "rep_id", "created_at", "stage"]]
    rows = rows.sort_values(["created_at", "opportunity_id"]).reset_index(drop=True)
    if len(rows) > params.max_training_rows:
        step = int(np.ceil(len(rows) / params.max_training_rows))
        rows = rows.iloc[::step].reset_index(drop=True)
    return rows.rename(columns={"created_at": "at"})


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
