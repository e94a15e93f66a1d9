"""The learned fit over millions of pairs, read from the trees' structure instead of row by row.

Each of the learned fit's LightGBM models is trained with interaction constraints that keep
account features (size, industry) and rep features (the rep, its record in the account's
industry, its distance to the account) in separate trees (``RepFitParams.
separate_account_features``). A pair's raw score is therefore a sum of two parts,

    raw(account, rep) = F(account) + G(rep, industry, distance)

and, with any fixed reference row z0 = (account0, rep0),

    raw(account, rep) = raw(account, rep0) + raw(account0, rep) - raw(account0, rep0).

At plan time every rep feature but distance depends only on the rep and the account's industry,
and the trees read distance only through the thresholds they split on, so G takes one value per
(rep, industry, distance interval between consecutive thresholds). A region of 125k accounts,
2-4M candidate pairs and 3M baseline pairs needs the models on one row per account and one per
such key (tens of thousands), instead of 3 models x 7M rows of per-pair features; the pairs
themselves only cost numpy arithmetic. ``checked`` compares it with the row-by-row computation on
a sample of pairs, so a LightGBM that one day breaks the decomposition cannot go unnoticed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import log_expit

from features.geography import haversine_km
from features.rep_features import by_account_id

DISTANCE = "distance_km"
LOG_FLOOR = float(np.log(1e-12))
"""Rates and probabilities below 1e-12 count as 1e-12 (as the row-by-row path clips them)."""


def split_points(boosters, feature: str = DISTANCE) -> np.ndarray:
    """Sorted distinct thresholds at which any tree of any of ``boosters`` splits on
    ``feature`` (read once per fitted model: ``RepFitModel.distance_points_``)."""
    found = []
    for booster in boosters:
        trees = booster.trees_to_dataframe()
        found.append(trees.loc[trees["split_feature"] == feature, "threshold"].to_numpy(float))
    return np.unique(np.concatenate(found))


def intervals(points: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per value, its interval between consecutive ``points`` (LightGBM sends a value left when
    value <= threshold, so interval k holds points[k-1] < value <= points[k]; NaN gets its own),
    and one value inside each interval, which every tree treats like all the others in it."""
    k = np.searchsorted(points, values, side="left")
    k[np.isnan(values)] = points.size + 1
    if points.size:
        inside = np.concatenate(
            [[points[0] - 1.0], (points[:-1] + points[1:]) / 2.0, [points[-1] + 1.0], [np.nan]]
        )
    else:
        inside = np.array([0.0, np.nan])
    return k, inside


def _with_columns(base: pd.DataFrame, row: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``base``'s ``columns`` with every other column set to ``row``'s (dtypes kept)."""
    out = row.iloc[np.zeros(len(base), dtype=np.int64)].reset_index(drop=True)
    for c in columns:
        out[c] = base[c].reset_index(drop=True)
    return out


def pair_logs(
    model,
    account_ids: np.ndarray,
    pair_account: np.ndarray,
    roster: pd.DataFrame,
    pair_rep: np.ndarray,
    account_features: tuple[str, ...],
) -> dict[str, np.ndarray]:
    """Log deal rate, win probability and deal size per pair, as ``RepFitModel.log_components``
    gives them, for pairs (account_ids[pair_account], roster row pair_rep) at the model's date;
    ``account_features`` are the columns the account-only trees read."""
    tables = model.tables_
    at = model.as_of_
    accounts = by_account_id(tables.accounts).reindex(account_ids)
    industry, _ = pd.factorize(accounts["industry"].astype("string"), use_na_sentinel=True)
    distance = haversine_km(
        accounts["latitude"].to_numpy(float)[pair_account],
        accounts["longitude"].to_numpy(float)[pair_account],
        roster["home_latitude"].to_numpy(float)[pair_rep],
        roster["home_longitude"].to_numpy(float)[pair_rep],
    )
    boosters = model.models_
    interval, inside = intervals(model.distance_points_, distance)
    del distance
    n_industries = int(industry.max(initial=-1)) + 2
    key = (pair_rep.astype(np.int64) * n_industries + industry[pair_account] + 1) * inside.size
    key += interval
    del interval
    codes, uniques = pd.factorize(key)
    del key
    first = np.empty(uniques.size, dtype=np.int64)
    first[codes] = np.arange(codes.size)

    def features(accounts_at: np.ndarray, reps_at: np.ndarray) -> pd.DataFrame:
        queries = pd.DataFrame(
            {
                "account_id": account_ids[accounts_at],
                "rep_id": roster["rep_id"].to_numpy()[reps_at],
                "at": at,
            }
        )
        return model._features(queries, tables.opportunities, tables.accounts, roster)

    by_account = features(np.arange(account_ids.size), np.full(account_ids.size, pair_rep[0]))
    by_key = features(pair_account[first], pair_rep[first])
    by_key[DISTANCE] = inside[uniques % inside.size]
    reference = by_account.iloc[[0]]
    account_columns = [c for c in by_account.columns if c in account_features]
    rep_columns = [c for c in by_account.columns if c not in account_features]
    account_rows = _with_columns(by_account, reference, account_columns)
    key_rows = _with_columns(by_key, reference, rep_columns)
    out = {}
    for name, booster in boosters.items():
        a = booster.predict(account_rows, raw_score=True, num_threads=1)
        g = booster.predict(key_rows, raw_score=True, num_threads=1)
        c = booster.predict(reference, raw_score=True, num_threads=1)[0]
        raw = a[pair_account] + (g - c)[codes]
        out[name] = _log_scale(name, raw)
    return out


def _log_scale(name: str, raw: np.ndarray) -> np.ndarray:
    """A model's raw score on the scale ``log_components`` reports: log rate (Poisson, log link),
    log P(win) (binary, logistic link), log deal size (least squares on logs)."""
    if name == "deal_rate":
        return np.maximum(raw, LOG_FLOOR)
    if name == "win":
        return np.maximum(log_expit(raw), LOG_FLOOR)
    return raw
