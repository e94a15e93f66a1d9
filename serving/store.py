"""What the service holds in memory: precomputed scores and reasons keyed by account_id, CRM
reference data, the plan, and (only when some account has no precomputed score) a feature matrix
to score it on request.

Everything here is built once at start or reload; the request path only does dict and numpy
lookups (a one-row DataFrame costs ~14 ms here, a numpy row prediction ~0.1 ms).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from features.tables import CrmTables
from models.potential import TIER_CUTS, PotentialModel, to_matrix
from serving.balance import BalanceIndex
from serving.errors import NotFound, NotReady
from serving.plans import Plan
from serving.reasons import contributions_rows, explain_rows, parse_reasons_cell, predict_rows

SCORE_COLUMNS = ("account_id", "potential", "percentile", "tier")


@dataclass(frozen=True)
class ScoreEntry:
    """One account's potential, percentile, tier, reasons and narrative."""

    account_id: str
    potential: float
    percentile: float
    tier: str
    reasons: list[dict]
    narrative: str
    computed_on_request: bool = False


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


def read_scores(path: Path) -> pd.DataFrame:
    """A `territory score` output (.parquet or .csv) with at least SCORE_COLUMNS."""
    path = Path(path)
    if not path.is_file():
        raise NotReady(
            f"scores file {path} does not exist: run `territory score --out {path}` first."
        )
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(
            path, dtype={"account_id": str, "tier": str}, keep_default_na=False, na_values=[""]
        )
    missing = [c for c in SCORE_COLUMNS if c not in frame.columns]
    if missing:
        raise NotReady(
            f"scores file {path} lacks column(s) {missing} (has {list(frame.columns)[:10]}); "
            "rerun `territory score` with this version of Territory."
        )
    frame["account_id"] = frame["account_id"].astype(str)
    return frame


def tier_for(percentile: float) -> str:
    """The letter tier of a percentile, with models.potential.scoring's cuts."""
    for cut, letter in TIER_CUTS:
        if percentile > cut:
            return letter
    return TIER_CUTS[-1][1]


class ScoreTable:
    """Precomputed scores: dict index into numpy arrays and lists, built once per load."""

    def __init__(self, frame: pd.DataFrame, *, path: Path | None = None) -> None:
        ids = frame["account_id"].astype(str).tolist()
        self.row = {a: i for i, a in enumerate(ids)}
        self.potential = frame["potential"].to_numpy(dtype=float)
        self.percentile = frame["percentile"].to_numpy(dtype=float)
        self.tier = frame["tier"].astype(str).tolist()
        reasons_col = next((c for c in ("top_reasons", "reasons") if c in frame), None)
        self.reasons = (
            [parse_reasons_cell(c) for c in frame[reasons_col]]
            if reasons_col
            else [[] for _ in ids]
        )
        narrative = (
            frame["narrative"].fillna("").astype(str).tolist() if "narrative" in frame else None
        )
        self.narrative = narrative or [""] * len(ids)
        self.sorted_potential = np.sort(self.potential)
        self.as_of = str(frame["as_of"].iloc[0]) if "as_of" in frame and len(frame) else None
        self.model_uri = (
            str(frame["model_uri"].iloc[0]) if "model_uri" in frame and len(frame) else None
        )
        self.path = path
        self.scored_at = (
            datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")
            if path
            else None
        )
        self.has_reasons = reasons_col is not None

    def __len__(self) -> int:
        return len(self.row)

    def get(self, account_id: str) -> ScoreEntry | None:
        i = self.row.get(account_id)
        if i is None:
            return None
        return ScoreEntry(
            account_id,
            float(self.potential[i]),
            float(self.percentile[i]),
            self.tier[i],
            self.reasons[i],
            self.narrative[i],
        )

    def percentile_of(self, value: float) -> float:
        """Where `value` would rank among the scored accounts (same rule as the batch job)."""
        below_or_equal = int(np.searchsorted(self.sorted_potential, value, side="right"))
        return round(100.0 * (below_or_equal + 1) / (len(self.sorted_potential) + 1), 2)


class OnDemandScorer:
    """Scores and explains accounts the batch job has not: features built once, rows per call."""

    def __init__(
        self,
        model: PotentialModel,
        features: pd.DataFrame,
        as_of: pd.Timestamp,
        *,
        threads: int = 1,
    ) -> None:
        self.model = model
        self.as_of = as_of
        self.features = features
        self.row = {str(a): i for i, a in enumerate(features.index)}
        self.matrix = to_matrix(features, model.feature_names_, model.categories_)
        self.threads = threads
        # Features are fixed until the next reload, so an account's result is too: the first card
        # of a new account pays for TreeSHAP and wording (~0.1 s), later ones are lookups.
        self._done: dict[tuple[str, int], ScoreEntry] = {}

    def score(
        self, account_ids: list[str], scores: ScoreTable, *, top_k: int = 3
    ) -> dict[str, ScoreEntry]:
        """Entries for the ids found in the feature frame (computed once per id and top_k)."""
        known = {a: e for a in account_ids if (e := self._done.get((a, top_k))) is not None}
        fresh = self._compute([a for a in account_ids if a not in known], scores, top_k)
        self._done.update({(a, top_k): e for a, e in fresh.items()})
        return {**known, **fresh}

    def _compute(
        self, account_ids: list[str], scores: ScoreTable, top_k: int
    ) -> dict[str, ScoreEntry]:
        rows = [self.row[a] for a in account_ids if a in self.row]
        if not rows:
            return {}
        matrix = self.matrix[rows]
        potential = predict_rows(self.model, matrix, threads=self.threads)
        contrib = contributions_rows(self.model, matrix, threads=self.threads)
        frame = self.features.iloc[rows]
        ids = frame.index.astype(str).tolist()
        percentile = [scores.percentile_of(float(p)) for p in potential]
        tiers = [tier_for(p) for p in percentile]
        ranked = pd.DataFrame(
            {"account_id": ids, "potential": potential, "percentile": percentile, "tier": tiers}
        )
        explained = explain_rows(
            self.model, frame, contrib, as_of=self.as_of, scores=ranked, top_k=top_k
        )
        return {
            account_id: ScoreEntry(
                account_id,
                float(potential[k]),
                percentile[k],
                tiers[k],
                explained[k][0],
                explained[k][1],
                computed_on_request=True,
            )
            for k, account_id in enumerate(ids)
        }


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
    _on_demand: OnDemandScorer | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

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
) -> ServingState:
    """Index everything for lookups by id; warm the on-request scorer if any account needs it."""
    table = ScoreTable(scores, path=scores_path)
    acc = tables.accounts
    accounts = {
        str(a): AccountInfo(str(n) if pd.notna(n) else str(a), _text(i), _text(r), _text(c))
        for a, n, i, r, c in zip(
            acc["account_id"], acc["name"], acc["industry"], acc["region"], acc["city"], strict=True
        )
    }
    reps_frame = tables.reps
    active = (
        reps_frame["active"] if "active" in reps_frame else pd.Series(True, index=reps_frame.index)
    )
    level = (
        reps_frame["level"] if "level" in reps_frame else pd.Series(None, index=reps_frame.index)
    )
    reps = {
        str(r): RepInfo(
            str(r), str(n) if pd.notna(n) else str(r), _text(lv), bool(a) if pd.notna(a) else True
        )
        for r, n, lv, a in zip(reps_frame["rep_id"], reps_frame["name"], level, active, strict=True)
    }
    current = {str(a): str(r) for a, r in tables.current_owners().items()}
    book: dict[str, list[str]] = {}
    for account, rep in current.items():
        book.setdefault(rep, []).append(account)
    for owned in book.values():
        owned.sort(key=lambda a: -(table.potential[table.row[a]] if a in table.row else -1.0))
    feature_as_of = tables.default_as_of()
    state = ServingState(
        model=model,
        model_uri=model_uri,
        model_version=model_version,
        tables=tables,
        scores=table,
        plan=plan,
        accounts=accounts,
        reps=reps,
        current_owner=current,
        book=book,
        data_latest=tables.latest_date().date().isoformat(),
        loaded_at=datetime.now(UTC).isoformat(timespec="seconds"),
        threads=threads,
        feature_as_of=feature_as_of,
    )
    potential = {a: float(table.potential[i]) for a, i in table.row.items()}
    state.balance = BalanceIndex(tables, potential, plan.workload if plan else {})
    state.balance_before = state.balance.totals(current)
    if plan is not None:
        proposed = {**current, **plan.planned_owner}
        state.balance_proposed = state.balance.totals(proposed)
    if any(a not in table.row for a in accounts):
        try:
            state.on_demand()
        except Exception as exc:  # noqa: BLE001 - precomputed cards still work; say why on request
            state.on_demand_error = f"{type(exc).__name__}: {exc}"
    return state


def _text(value: object) -> str | None:
    return (
        None
        if value is None or (isinstance(value, float) and np.isnan(value)) or pd.isna(value)
        else str(value)
    )
