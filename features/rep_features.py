"""Point-in-time rep features: what was known about a rep, and the rep-account pair, at a moment.

Every feature for a query (rep_id, account_id, at) uses only opportunities closed strictly before
``at`` (``closed_at < at``), so training rows built at each opportunity's ``created_at`` never see
their own outcome or anything later. Win rates are shrunk (empirical Bayes) toward a prior:
the overall rate toward the team's rate at that moment, the industry rate toward the rep's own.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.contract import REP_LEVELS
from features.geography import haversine_km

DAYS_PER_YEAR = 365.25
SHRINKAGE = 20.0
"""Pseudo-opportunities of prior weight in the shrunk win rates."""

REP_FEATURES = (
    "rep_tenure_years",
    "rep_level",
    "rep_closed_deals",
    "rep_win_rate",
    "rep_industry_closed_deals",
    "rep_industry_win_rate",
    "rep_log_revenue_closed",
    "rep_knows_industry",
    "distance_km",
)


_BY_ID: list = []
"""The last frame ``by_account_id`` indexed: (weak reference, (rows, columns), the result)."""


def by_account_id(accounts: pd.DataFrame) -> pd.DataFrame:
    """``accounts.set_index("account_id")``, kept for the last frame asked: a plan reads the
    account rows of every region's pairs from the same 1M-row frame, and indexing it again per
    read (hashing 1M ids) was ~45% of building a 1M-account plan after the history lookups."""
    if _BY_ID:
        ref, shape, indexed = _BY_ID[0]
        if ref() is accounts and shape == (len(accounts), tuple(accounts.columns)):
            return indexed
    indexed = accounts.set_index("account_id")
    _BY_ID[:] = [(weakref.ref(accounts), (len(accounts), tuple(accounts.columns)), indexed)]
    return indexed


def closed_events(opportunities: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    """Won/lost opportunities with a rep: rep_id, industry, closed_at, won, won_amount."""
    closed = opportunities[opportunities["stage"].isin(["won", "lost"])]
    closed = closed[closed["rep_id"].notna() & closed["closed_at"].notna()]
    industry = accounts.set_index("account_id")["industry"]
    won = (closed["stage"] == "won").astype(float)
    return pd.DataFrame(
        {
            "rep_id": closed["rep_id"].astype(str).to_numpy(),
            "industry": industry.reindex(closed["account_id"]).astype("string").to_numpy(),
            "closed_at": pd.to_datetime(closed["closed_at"]).to_numpy().astype("datetime64[ns]"),
            "won": won.to_numpy(),
            "won_amount": (won * closed["amount"].fillna(0.0)).to_numpy(),
        }
    )


GROUPINGS = {"team_": (), "rep_": ("rep_id",), "ind_": ("rep_id", "industry")}
"""Running totals of closed opportunities: the whole team, per rep, per rep and industry."""


@dataclass(frozen=True)
class ClosedHistory:
    """Per grouping of GROUPINGS (by its prefix): running totals of closed opportunities by
    closing day, sorted by day. Built once per export (``closed_history``) and read as of any
    moment, so features for millions of queries do not re-aggregate every opportunity per call."""

    running: dict[str, pd.DataFrame]
    at_date: dict[tuple[str, np.datetime64], pd.DataFrame] = field(
        default_factory=dict, compare=False, repr=False
    )
    """Per (grouping, date): each key's totals over events before that date (``_totals_at``)."""


def closed_history(opportunities: pd.DataFrame, accounts: pd.DataFrame) -> ClosedHistory:
    """The running totals rep_features_at reads, from an export's opportunities and accounts."""
    ev = closed_events(opportunities, accounts).assign(_all=0, n=1.0)
    running = {}
    for prefix, by in GROUPINGS.items():
        cols = [f"{prefix}closed", f"{prefix}wins", f"{prefix}revenue"]
        keys = list(by) or ["_all"]
        daily = ev.groupby([*keys, "closed_at"], as_index=False)[["n", "won", "won_amount"]].sum()
        daily = daily.sort_values([*keys, "closed_at"])
        daily[cols] = daily.groupby(keys)[["n", "won", "won_amount"]].cumsum().to_numpy()
        running[prefix] = daily[[*keys, "closed_at", *cols]].sort_values("closed_at")
    return ClosedHistory(running)


def _cumulative_before(history: ClosedHistory, queries: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """Per query: counts over events with the same grouping keys and ``closed_at < at``."""
    cols = [f"{prefix}closed", f"{prefix}wins", f"{prefix}revenue"]
    keys = list(GROUPINGS[prefix]) or ["_all"]
    # merge_asof needs one resolution on both sides: a date parsed from a scenario file is
    # datetime64[s], CRM columns are [ns] or [us]
    at = pd.to_datetime(queries["at"]).to_numpy().astype("datetime64[ns]")
    if at.size and (at == at[0]).all() and not np.isnat(at[0]):
        return _totals_at(history, queries, prefix, at[0])
    left = queries.assign(_all=0, _row=np.arange(len(queries)), at=at)
    left = left[[*keys, "at", "_row"]].dropna(subset=keys).sort_values("at")
    merged = pd.merge_asof(
        left,
        history.running[prefix],
        left_on="at",
        right_on="closed_at",
        by=keys,
        allow_exact_matches=False,
        direction="backward",
    )
    out = pd.DataFrame(0.0, index=np.arange(len(queries)), columns=cols)
    out.loc[merged["_row"].to_numpy(), cols] = merged[cols].fillna(0.0).to_numpy()
    return out


def _totals_at(
    history: ClosedHistory, queries: pd.DataFrame, prefix: str, at: np.datetime64
) -> pd.DataFrame:
    """``_cumulative_before`` where every query has the same date (a plan's pairs): each key's
    last running total before it, found once per date and looked up by key. At 1M accounts a
    plan read features for every region's pairs, and each read's ``merge_asof`` sorted the whole
    history again: 97% of building the plan (~18 minutes)."""
    cols = [f"{prefix}closed", f"{prefix}wins", f"{prefix}revenue"]
    keys = list(GROUPINGS[prefix]) or ["_all"]
    totals = history.at_date.get((prefix, at))
    if totals is None:
        running = history.running[prefix]
        before = running[running["closed_at"].to_numpy().astype("datetime64[ns]") < at]
        totals = before.groupby(keys, sort=False)[cols].last()  # running is sorted by date
        history.at_date[(prefix, at)] = totals
    left = queries.assign(_all=0)[keys]
    found = totals.reindex(pd.MultiIndex.from_frame(left) if len(keys) > 1 else left[keys[0]])
    return pd.DataFrame(found.fillna(0.0).to_numpy(), index=np.arange(len(queries)), columns=cols)


def rep_features_at(
    queries: pd.DataFrame,
    opportunities: pd.DataFrame,
    accounts: pd.DataFrame,
    reps: pd.DataFrame,
    history: ClosedHistory | None = None,
) -> pd.DataFrame:
    """Features per query row (columns rep_id, account_id, at), in REP_FEATURES order.

    ``reps`` follows the contract (hired_at, level, industries, home_latitude/home_longitude);
    reps or accounts not found give NaN tenure/level/distance and zero history. ``history``:
    ``closed_history(opportunities, accounts)`` when the caller already has it.
    """
    queries = queries.reset_index(drop=True)
    if history is None:
        history = closed_history(opportunities, accounts)
    acc = by_account_id(accounts).reindex(queries["account_id"])
    q = pd.DataFrame(
        {
            "rep_id": queries["rep_id"].astype(str).to_numpy(),
            "industry": acc["industry"].astype("string").to_numpy(),
            "at": pd.to_datetime(queries["at"]).to_numpy(),
        }
    )
    team = _cumulative_before(history, q, "team_")
    own = _cumulative_before(history, q, "rep_")
    ind = _cumulative_before(history, q, "ind_")
    prior = (team["team_wins"] + 1.0) / (team["team_closed"] + 4.0)
    rate = (own["rep_wins"] + SHRINKAGE * prior) / (own["rep_closed"] + SHRINKAGE)
    ind_rate = (ind["ind_wins"] + SHRINKAGE * rate) / (ind["ind_closed"] + SHRINKAGE)
    rep = reps.set_index("rep_id").reindex(q["rep_id"])
    tenure = (q["at"].to_numpy() - pd.to_datetime(rep["hired_at"]).to_numpy()) / np.timedelta64(
        1, "D"
    )
    level = rep["level"].map({name: i for i, name in enumerate(REP_LEVELS)})
    return pd.DataFrame(
        {
            "rep_tenure_years": np.asarray(tenure, dtype=float) / DAYS_PER_YEAR,
            "rep_level": level.astype(float).to_numpy(),
            "rep_closed_deals": own["rep_closed"].to_numpy(),
            "rep_win_rate": rate.to_numpy(),
            "rep_industry_closed_deals": ind["ind_closed"].to_numpy(),
            "rep_industry_win_rate": ind_rate.to_numpy(),
            "rep_log_revenue_closed": np.log1p(own["rep_revenue"].to_numpy()),
            "rep_knows_industry": knows_industry(rep["industries"], q["industry"]),
            "distance_km": haversine_km(
                acc["latitude"], acc["longitude"], rep["home_latitude"], rep["home_longitude"]
            ),
        }
    )


def knows_industry(rep_industries: pd.Series, industry: pd.Series) -> np.ndarray:
    """1.0 where the account's industry is among the rep's '|'-separated industries."""
    out = np.zeros(len(industry))
    for i, (known, name) in enumerate(
        zip(rep_industries.to_numpy(), industry.to_numpy(), strict=True)
    ):
        if isinstance(known, str) and isinstance(name, str):
            parts = {p.strip().lower() for p in known.split("|")}
            out[i] = float(name.strip().lower() in parts)
    return out
