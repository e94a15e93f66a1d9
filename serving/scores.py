"""Potential scores the service serves: the batch job's file indexed by account, and the
on-request scorer for accounts the batch job has not scored.

Everything here is built once at start or reload; the request path only does dict and numpy
lookups (a one-row DataFrame costs ~14 ms here, a numpy row prediction ~0.1 ms).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from models.potential import PotentialModel, tier_of, to_matrix
from serving.errors import NotReady
from serving.reasons import explain_rows, parse_reasons_cell

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


def file_stamp(path: Path | None) -> tuple[str, int, int] | None:
    """(path, mtime in ns, size) of a file: what the reload watcher compares; None if absent."""
    if path is None:
        return None
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return (str(path), st.st_mtime_ns, st.st_size)


def _first(frame: pd.DataFrame, column: str) -> str | None:
    if column not in frame or not len(frame) or pd.isna(frame[column].iloc[0]):
        return None
    return str(frame[column].iloc[0])


class ScoreTable:
    """Precomputed scores: dict index into numpy arrays and lists, built once per load."""

    def __init__(
        self, frame: pd.DataFrame, *, path: Path | None = None, stamp: tuple | None = None
    ) -> None:
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
        # taken before the file was read (load_everything): a file replaced while it was being
        # read then differs from the stamp, and the watcher reads it again
        self.stamp = stamp if stamp is not None else file_stamp(path)
        # when `territory score` wrote it (its own column), else the file's modification time
        self.scored_at = _first(frame, "scored_at") or (
            datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")
            if path
            else None
        )
        self.model_version = _first(frame, "model_version")
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
        potential = self.model.predict_matrix(self.matrix[rows], num_threads=self.threads)
        frame = self.features.iloc[rows]
        ids = frame.index.astype(str).tolist()
        percentile = [scores.percentile_of(float(p)) for p in potential]
        tiers = tier_of(np.asarray(percentile)).tolist()
        ranked = pd.DataFrame(
            {"account_id": ids, "potential": potential, "percentile": percentile, "tier": tiers}
        )
        explained = explain_rows(self.model, frame, as_of=self.as_of, scores=ranked, top_k=top_k)
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
