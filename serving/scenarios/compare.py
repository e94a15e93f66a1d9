"""Side by side: two to four solved scenarios and the status quo.

Headline metrics (value, moves, balance, travel, coverage of high-potential accounts) from each
plan's metrics.json, the accounts whose owner differs between any of the columns, and per-rep
deltas against today. Plan folders are immutable, so each is read once per process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from serving.errors import BadRequest

METRICS = (
    ("expected value / yr", ("expected_value",), "money"),
    ("accounts moved", ("accounts_moved",), "count"),
    ("potential moved", ("share_potential_moved",), "share"),
    ("workload per rep: CV", ("workload", "cv"), "ratio"),
    ("potential per rep: CV", ("potential", "cv"), "ratio"),
    ("rep load: max", ("rep_load", "max"), "ratio"),
    ("reps over capacity", ("rep_load", "over_capacity"), "count"),
    ("travel km, total", ("travel_km_total",), "count"),
    ("high-potential coverage", ("coverage_high_potential",), "share"),
)
DIFFERING_SHOWN = 200


_read: dict[tuple[str, int], Any] = {}


def read_folder(state, path: str):
    """A job's plan folder read through the plan folder's one reader, once per loaded state (the
    folder never changes; the current owners come with the state)."""
    from serving.plans import read_plan

    key = (path, id(state.current_owner))
    if key not in _read:
        if len(_read) > 16:
            _read.clear()
        _read[key] = read_plan(Path(path), state.current_owner)
    return _read[key]


def _get(doc: dict | None, path: tuple[str, ...]) -> Any:
    for key in path:
        doc = doc.get(key) if isinstance(doc, dict) else None
    return doc


def _per_rep(table: pd.DataFrame, column: str) -> pd.DataFrame:
    return table.groupby(column).agg(
        accounts=("account_id", "size"),
        potential=("potential", "sum"),
        workload=("workload", "sum"),
    )


def compare(state, jobs: list, folders: list) -> dict[str, Any]:
    """The comparison of ``jobs`` (finished, with their read plan ``folders``) and today."""
    if not 1 <= len(jobs) <= 4:
        raise BadRequest(f"compare one to four scenarios with the status quo, not {len(jobs)}.")
    columns = [{"key": "today", "name": "Today (status quo)", "status": "current"}]
    columns += [
        {"key": j.job_id, "name": j.name, "status": (j.summary or {}).get("status")} for j in jobs
    ]
    before = next((f.metrics.get("before") for f in folders if f.metrics.get("before")), {})
    docs = [before, *[f.metrics.get("after") or {} for f in folders]]
    metrics = [
        {"metric": label, "kind": kind, "values": [_get(d, path) for d in docs]}
        for label, path, kind in METRICS
    ]
    for row in metrics:  # today moves nothing
        if row["metric"] in ("accounts moved", "potential moved"):
            row["values"][0] = 0
    tables = [f.plan.assignments for f in folders if f.plan.assignments is not None]
    if len(tables) != len(folders):
        raise BadRequest("an infeasible scenario has no plan to compare; leave it out.")
    return {
        "columns": columns,
        "metrics": metrics,
        "differing": _differing(state, tables),
        "reps": _rep_deltas(state, tables),
    }


def _differing(state, tables: list[pd.DataFrame]) -> dict[str, Any]:
    base = tables[0].set_index("account_id")
    owners = pd.DataFrame({"today": base["current_rep"]})
    for i, table in enumerate(tables):
        owners[f"s{i}"] = table.set_index("account_id")["rep_id"].reindex(owners.index)
    values = owners.fillna("").to_numpy(str)
    differs = (values != values[:, :1]).any(axis=1)
    chosen = owners[differs].assign(potential=base["potential"][differs])
    chosen = chosen.sort_values("potential", ascending=False)
    rows = []
    for account_id, row in chosen.head(DIFFERING_SHOWN).iterrows():
        info = state.accounts.get(account_id)
        rows.append(
            {
                "account_id": account_id,
                "name": info.name if info else account_id,
                "region": info.region if info else None,
                "potential": float(row["potential"]),
                "owners": [row["today"] or None, *[row[f"s{i}"] for i in range(len(tables))]],
            }
        )
    return {"total": int(differs.sum()), "shown": len(rows), "accounts": rows}


def _rep_deltas(state, tables: list[pd.DataFrame]) -> list[dict[str, Any]]:
    today = _per_rep(tables[0], "current_rep")
    planned = [_per_rep(t, "rep_id") for t in tables]
    rep_ids = sorted(set(today.index).union(*[set(p.index) for p in planned]))
    out = []
    for rep_id in rep_ids:
        now = today.reindex([rep_id]).fillna(0).iloc[0]
        info = state.reps.get(rep_id)
        deltas = []
        for plan in planned:
            after = plan.reindex([rep_id]).fillna(0).iloc[0]
            deltas.append(
                {k: float(after[k] - now[k]) for k in ("accounts", "potential", "workload")}
            )
        out.append(
            {
                "rep_id": rep_id,
                "name": info.name if info else rep_id,
                "today": {k: float(now[k]) for k in ("accounts", "potential", "workload")},
                "deltas": deltas,
            }
        )
    return sorted(out, key=lambda r: -max(abs(d["potential"]) for d in r["deltas"]))
