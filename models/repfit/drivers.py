"""Why one rep fits an account better than another: the rep fit's own drivers, per move.

For a move from rep ``old`` to rep ``new`` the fit changes by ``log(fit[new] / fit[old])``; this
module splits that change among a few business drivers (industry experience, tenure, distance,
level, track record, load) using the fit's own arithmetic:

* ``fallback_fit``: exact. Its raw score is ``1 + 0.03 x tenure + 0.15 x knows_industry``, so the
  change in raw score splits into a tenure part and an industry part, scaled to the log change.
* ``RepFitModel``: LightGBM's own per-feature contributions (``pred_contrib``) of the three
  component models, old pair subtracted from new pair, grouped by driver and scaled so they add up
  to the log change of the (clipped) fit the plan used.

``DRIVER_WORDS`` is the catalogue the service words them from.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.repfit.transparent import (
    INDUSTRY_WEIGHT,
    TENURE_CAP_YEARS,
    TENURE_WEIGHT,
    knows_industry,
)

DRIVERS = ("industry", "tenure", "distance", "level", "track_record", "load")
FEATURE_DRIVER = {
    "rep_knows_industry": "industry",
    "rep_industry_win_rate": "industry",
    "rep_tenure_years": "tenure",
    "distance_km": "distance",
    "rep_level": "level",
    "rep_win_rate": "track_record",
    "rep_code": "track_record",
    "rep_load": "load",
}
"""The learned fit's rep and pair features, by the driver a manager knows them as."""
DRIVER_WORDS = {
    "industry": ("industry experience", "knows this industry", "less experience in this industry"),
    "tenure": ("tenure", "longer tenure", "shorter tenure"),
    "distance": ("distance", "closer to the account", "further from the account"),
    "level": ("level", "more senior role", "more junior role"),
    "track_record": ("track record", "stronger track record", "weaker track record"),
    "load": ("load", "more room in their book", "fuller book"),
}
"""Per driver: (label, words when it favours the new rep, words when it favours the old one)."""


def fit_drivers(
    fit,
    accounts: pd.DataFrame,
    reps: pd.DataFrame,
    account_rows: np.ndarray,
    new_rows: np.ndarray,
    old_rows: np.ndarray,
) -> list[dict[str, float]]:
    """Per move: {driver: share of log(fit[new] / fit[old])}; old row -1 (no owner) gives {}.

    The values of one move add up to the log change of the fit (to rounding).
    """
    account_rows, new_rows, old_rows = (
        np.asarray(x, dtype=np.int64) for x in (account_rows, new_rows, old_rows)
    )
    out: list[dict[str, float]] = [{} for _ in range(account_rows.size)]
    has = np.flatnonzero(old_rows >= 0)
    if has.size == 0:
        return out
    a, n, o = account_rows[has], new_rows[has], old_rows[has]
    target = np.log(fit(accounts, reps, a, n)) - np.log(fit(accounts, reps, a, o))
    if getattr(fit, "method", "") == "learned" and hasattr(fit, "models_"):
        parts = _learned_parts(fit, accounts, reps, a, n, o)
    else:
        parts = _fallback_parts(accounts, reps, a, n, o)
    total = sum(parts.values())
    # scale so the parts add up to the fit change the plan used (clip, logit vs log)
    scale = np.divide(target, total, out=np.zeros_like(target), where=np.abs(total) > 1e-12)
    for k, i in enumerate(has):
        shares = {d: float(v[k] * scale[k]) for d, v in parts.items()}
        out[i] = {d: s for d, s in shares.items() if abs(s) > 1e-6}
    return out


def _fallback_parts(accounts, reps, a, n, o) -> dict[str, np.ndarray]:
    tenure = np.minimum(reps["tenure_years"].fillna(0).to_numpy(float), TENURE_CAP_YEARS)
    knows_new = knows_industry(accounts, reps, a, n).astype(float)
    knows_old = knows_industry(accounts, reps, a, o).astype(float)
    return {
        "tenure": TENURE_WEIGHT * (tenure[n] - tenure[o]),
        "industry": INDUSTRY_WEIGHT * (knows_new - knows_old),
    }


def _learned_parts(model, accounts, reps, a, n, o) -> dict[str, np.ndarray]:
    from models.repfit.learned import contract_reps

    roster = contract_reps(reps, model.as_of_)
    ids = accounts["account_id"].astype(str).to_numpy()[a]
    rep_ids = roster["rep_id"].to_numpy()
    x_new = model._pair_features(ids, rep_ids[n], roster, None)
    x_old = model._pair_features(ids, rep_ids[o], roster, None)
    parts = {d: np.zeros(a.size) for d in DRIVERS}
    for booster in model.models_.values():
        delta = booster.predict(x_new, pred_contrib=True, num_threads=1) - booster.predict(
            x_old, pred_contrib=True, num_threads=1
        )
        for j, feature in enumerate(x_new.columns):
            driver = FEATURE_DRIVER.get(feature)
            if driver is not None:
                parts[driver] += delta[:, j]
    return parts
