"""What the service holds in memory: precomputed scores and reasons keyed by account_id, CRM
reference data, the plan, and (only when some account has no precomputed score) a feature matrix
to score it on request (serving/scores.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from features.tables import CrmTables
from models.potential import PotentialModel
from serving.balance import BalanceIndex
from serving.errors import NotFound, NotReady
from serving.plans import Plan
from serving.scores import SCORE_COLUMNS, OnDemandScorer, ScoreEntry, ScoreTable, read_scores

__all__ = [
    "SCORE_COLUMNS",
    "AccountInfo",
    "OnDemandScorer",
    "RepInfo",
    "ScoreEntry",
    "ScoreTable",
    "ServingState",
    "build_state",
    "read_scores",
]


@dataclass(frozen=True)
class AccountInfo:
    """CRM facts the card shows."""

    name: str
    industry: str | None
    region: str | None
    city: str | None


@dataclass(frozen=True)
class RepInfo:
    """CRM facts about a rep the card and review page show."""

    rep_id: str
    name: str
    level: str | None
    active: bool


@dataclass
class ServingState:
    """One consistent snapshot of everything the service serves; replaced whole on reload."""

    model: PotentialModel
    model_uri: str
    model_version: str
    tables: CrmTables
    scores: ScoreTable
    plan: Plan | None
    accounts: dict[str, AccountInfo]
    reps: dict[str, RepInfo]
    current_owner: dict[str, str]
    book: dict[str, list[str]]
    data_latest: str
    loaded_at: str
    threads: int = 1
    feature_as_of: pd.Timestamp | None = None
    balance: BalanceIndex | None = None
    on_demand_error: str | None = None
    balance_before: dict = field(default_factory=dict)
    balance_proposed: dict = field(default_factory=dict)
    scores_max_age_days: float = 7.0
    data_max_age_days: float = 30.0
    _on_demand: OnDemandScorer | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def answered_by(self) -> dict:
        """Which model and which scores file answer (every score answer carries this)."""
        return {
            "model_version": self.model_version,
            "scored_at": self.scores.scored_at,
            "scores_path": str(self.scores.path) if self.scores.path else None,
            "scores_model_version": self.scores.model_version,
        }

    def entry(self, account_id: str) -> ScoreEntry | None:
        """Precomputed score, or None when the batch job has not scored the account."""
        return self.scores.get(account_id)

    def require_account(self, account_id: str) -> AccountInfo:
        info = self.accounts.get(account_id)
        if info is None:
            raise NotFound(
                f"account {account_id!r} is not in the CRM data ({len(self.accounts)} accounts "
                f"loaded, e.g. {next(iter(self.accounts), '-')}); check the id, or reload after "
                "the next CRM import."
            )
        return info

    def require_rep(self, rep_id: str) -> RepInfo:
        info = self.reps.get(rep_id)
        if info is None:
            raise NotFound(
                f"rep {rep_id!r} is not in the CRM data ({len(self.reps)} reps loaded); "
                "check the id."
            )
        return info

    def score_many(
        self, account_ids: list[str], *, top_k: int = 3, recompute: bool = False
    ) -> dict[str, ScoreEntry]:
        """Precomputed entries; the rest (or all, with recompute) computed from live features."""
        out = (
            {}
            if recompute
            else {a: e for a in account_ids if (e := self.scores.get(a)) is not None}
        )
        todo = [a for a in account_ids if a not in out and a in self.accounts]
        if todo:
            out.update(self.on_demand().score(todo, self.scores, top_k=top_k))
        return out

    def on_demand(self) -> OnDemandScorer:
        """The feature matrix for on-request scoring, built on first use."""
        with self._lock:
            if self._on_demand is None and self.on_demand_error is not None:
                raise NotReady(
                    f"this account has no precomputed score and on-request scoring failed at load "
                    f"({self.on_demand_error}); run `territory score` and POST /reload."
                )
            if self._on_demand is None:
                from features.pipeline import build_account_features  # noqa: PLC0415 - heavy, rarely needed

                extra = [
                    c for c in self.model.feature_names_ if c in self.tables.extra_account_columns
                ]
                features = build_account_features(
                    self.tables, self.feature_as_of, extra_columns=extra
                )
                self._on_demand = OnDemandScorer(
                    self.model, features, self.feature_as_of, threads=self.threads
                )
            return self._on_demand


def build_state(
    *,
    model: PotentialModel,
    model_uri: str,
    model_version: str,
    tables: CrmTables,
    scores: pd.DataFrame,
    scores_path: Path | None,
    plan: Plan | None,
    threads: int = 1,
    max_age_days: tuple[float, float] = (7.0, 30.0),
    scores_stamp: tuple | None = None,
) -> ServingState:
    """Index everything for lookups by id; warm the on-request scorer if any account needs it."""
    table = ScoreTable(scores, path=scores_path, stamp=scores_stamp)
    current = {str(a): str(r) for a, r in tables.current_owners().items()}
    feature_as_of = tables.default_as_of()
    state = ServingState(
        model=model,
        model_uri=model_uri,
        model_version=model_version,
        tables=tables,
        scores=table,
        plan=plan,
        accounts=_account_infos(tables),
        reps=_rep_infos(tables),
        current_owner=current,
        book=_books(current, table),
        data_latest=tables.latest_date().date().isoformat(),
        loaded_at=datetime.now(UTC).isoformat(timespec="seconds"),
        threads=threads,
        feature_as_of=feature_as_of,
        scores_max_age_days=max_age_days[0],
        data_max_age_days=max_age_days[1],
    )
    potential = {a: float(table.potential[i]) for a, i in table.row.items()}
    state.balance = BalanceIndex(tables, potential, plan.workload if plan else {})
    state.balance_before = state.balance.totals(current)
    if plan is not None:
        proposed = {**current, **plan.planned_owner}
        state.balance_proposed = state.balance.totals(proposed)
    if any(a not in table.row for a in state.accounts):
        try:
            state.on_demand()
        except Exception as exc:  # noqa: BLE001 - precomputed cards still work; say why on request
            state.on_demand_error = f"{type(exc).__name__}: {exc}"
    return state


def _account_infos(tables: CrmTables) -> dict[str, AccountInfo]:
    acc = tables.accounts
    return {
        str(a): AccountInfo(str(n) if pd.notna(n) else str(a), _text(i), _text(r), _text(c))
        for a, n, i, r, c in zip(
            acc["account_id"], acc["name"], acc["industry"], acc["region"], acc["city"], strict=True
        )
    }


def _rep_infos(tables: CrmTables) -> dict[str, RepInfo]:
    reps = tables.reps
    active = reps["active"] if "active" in reps else pd.Series(True, index=reps.index)
    level = reps["level"] if "level" in reps else pd.Series(None, index=reps.index)
    return {
        str(r): RepInfo(
            str(r), str(n) if pd.notna(n) else str(r), _text(lv), bool(a) if pd.notna(a) else True
        )
        for r, n, lv, a in zip(reps["rep_id"], reps["name"], level, active, strict=True)
    }


def _books(current: dict[str, str], table: ScoreTable) -> dict[str, list[str]]:
    """Each rep's accounts today, highest precomputed potential first (unscored last)."""
    book: dict[str, list[str]] = {}
    for account, rep in current.items():
        book.setdefault(rep, []).append(account)
    for owned in book.values():
        owned.sort(key=lambda a: -(table.potential[table.row[a]] if a in table.row else -1.0))
    return book


def _text(value: object) -> str | None:
    return (
        None
        if value is None or (isinstance(value, float) and np.isnan(value)) or pd.isna(value)
        else str(value)
    )
