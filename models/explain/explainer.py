"""Per-account explanations of the potential score: reasons up and down in words and units.

Pipeline per chunk of accounts: LightGBM's own TreeSHAP (`pred_contrib`, on every row or once
per tree and decision pattern, models/explain/pattern_shap.py) -> contributions summed
into business concepts (models/explain/attribution.py) -> the strongest concepts up and down, each
shown with its leading feature's value and catalogue phrase (models/explain/phrases.py) -> a
one-paragraph
narrative (models/explain/narrative.py). Returns data (records and text), never pictures.

Accounts whose inputs fall on the same side of every split as in `previous` reuse its drivers
(exactly what a recomputation would give; see models/explain/row_hash.py); values and phrases are
always written from today's row, so "last activity 12 days ago" stays current.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from features.feature_sets import FEATURE_SETS
from models.explain import attribution, pattern_shap, row_hash
from models.explain.catalogue import Catalogue, load_catalogue
from models.explain.narrative import headline, narrative, rebase_narrative
from models.explain.prepared import PreparedModel, model_fingerprint, prepare
from models.explain.wording import (
    REASON_KEYS,
    Driver,
    RowView,
    drivers_from_records,
    reasons_as,
    value_columns,
    word_drivers,
)
from models.potential import PotentialModel, check_columns, percentile_rank, tier_of, to_matrix

__all__ = [
    "OUTPUT_COLUMNS",
    "REASON_KEYS",
    "contributions",
    "drivers_from_contributions",
    "explain_frame",
    "explainer_version",
    "model_fingerprint",
]
OUTPUT_COLUMNS = (
    "account_id",
    "reasons",
    "narrative",
    "as_of",
    "input_hash",
    "split_hash",
    "explainer_version",
    "reused",
)


@dataclass(frozen=True)
class _Setup:
    """Everything one explanation run needs, shared read-only by the worker threads."""

    model: PotentialModel
    catalogue: Catalogue
    layout: attribution.ConceptLayout
    top_k: int
    top_down: int
    prepared: PreparedModel
    patterns: bool  # pattern_shap (else plain pred_contrib on every row)


def explainer_version(
    model: PotentialModel, catalogue: Catalogue, top_k: int, top_down: int
) -> str:
    """Model fingerprint plus the settings that decide which drivers are chosen."""
    concepts = json.dumps({f: e.concept for f, e in sorted(catalogue.entries.items())})
    grouping = hashlib.sha256(concepts.encode()).hexdigest()[:6]
    return f"{prepare(model).fingerprint}-k{top_k}d{top_down}-c{grouping}"


def contributions(
    model: PotentialModel,
    matrix: np.ndarray,
    *,
    patterns: bool = True,
    num_threads: int | None = None,
) -> np.ndarray:
    """LightGBM pred_contrib rows (last column = base value).

    patterns: computed once per tree and decision pattern (models/explain/pattern_shap.py), same
    values. Otherwise PotentialModel.contributions, with `num_threads` pinning LightGBM's threads.
    """
    prepared = prepare(model)
    if prepared.booster is None or (not patterns and num_threads is None):
        return model.contributions(matrix)
    if patterns:
        return pattern_shap.contributions(prepared.booster, matrix, prepared.trees)
    return model.booster_.predict(
        matrix, num_iteration=model.best_iteration_, pred_contrib=True, num_threads=num_threads
    )


def _effects(
    setup: _Setup, contrib: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    phi = contrib[:, :-1]
    multipliers = np.exp(attribution.by_concept(phi, setup.layout))
    if setup.model.objective == "conversion":
        points = attribution.probability_allocation(contrib, setup.model.calibrator_)
        return multipliers, None, attribution.by_concept(points, setup.layout)
    return (
        multipliers,
        attribution.by_concept(attribution.revenue_allocation(contrib), setup.layout),
        None,
    )


def drivers_from_contributions(setup: _Setup, contrib: np.ndarray) -> list[list[Driver]]:
    """Per row: the top_k concepts up then the top_down concepts down, as unworded drivers."""
    sums = attribution.by_concept(contrib[:, :-1], setup.layout)
    lead = attribution.leading_features(contrib[:, :-1], sums, setup.layout)
    multipliers, shares, points = _effects(setup, contrib)
    names, concepts = setup.model.feature_names_, setup.layout.concepts
    rows: list[list[Driver]] = [[] for _ in range(len(contrib))]
    for k, upward, direction in ((setup.top_k, True, "up"), (setup.top_down, False, "down")):
        order, shown = attribution.rank_concepts(sums, lead, setup.layout, k, upward=upward)
        for slot in range(order.shape[1]):
            c = order[:, slot]
            picked = np.arange(len(contrib))
            m = np.round(multipliers[picked, c], 4).tolist()
            s = np.round(shares[picked, c], 2).tolist() if shares is not None else [None] * len(c)
            p = np.round(points[picked, c], 3).tolist() if points is not None else [None] * len(c)
            lead_c, c_list = lead[picked, c].tolist(), c.tolist()
            for i in np.flatnonzero(shown[:, slot]).tolist():
                rows[i].append((concepts[c_list[i]], names[lead_c[i]], direction, m[i], s[i], p[i]))
    return rows


@dataclass(frozen=True)
class _Stored:
    """A previous explanation of a row whose split hash and explainer version still match."""

    reasons: object  # records or JSON text
    narrative: object
    same_input: bool  # the exact input hash matches too: reuse verbatim


@dataclass(frozen=True)
class _Chunk:
    features: pd.DataFrame
    matrix: np.ndarray
    stored: list[_Stored | None]  # per row: what `previous` lets us reuse, else None
    heads: list[str]


def _explain_chunk(
    setup: _Setup, chunk: _Chunk, as_of: str, num_threads: int | None, as_json: bool
):
    done: dict[int, tuple[object, str]] = {}
    for i, stored in enumerate(chunk.stored):
        story = rebase_narrative(stored.narrative, chunk.heads[i], as_of) if stored else None
        if stored is not None and stored.same_input and story is not None:
            done[i] = (reasons_as(stored.reasons, as_json), story)  # verbatim: nothing changed
    drivers = [
        None if i in done or s is None else drivers_from_records(s.reasons)
        for i, s in enumerate(chunk.stored)
    ]
    fresh = [i for i, d in enumerate(drivers) if d is None and i not in done]
    if fresh:
        contrib = contributions(
            setup.model, chunk.matrix[fresh], patterns=setup.patterns, num_threads=num_threads
        )
        for i, found in zip(fresh, drivers_from_contributions(setup, contrib), strict=True):
            drivers[i] = found
    columns = value_columns(setup.model, chunk.features, chunk.matrix)
    reasons, stories = [], []
    for i in range(len(chunk.matrix)):
        if i in done:
            reasons.append(done[i][0])
            stories.append(done[i][1])
            continue
        records = word_drivers(drivers[i], RowView(columns, i), setup.catalogue)
        stories.append(narrative(chunk.heads[i], records, as_of, setup.model.objective))
        reasons.append(json.dumps(records) if as_json else records)
    return reasons, stories


def _headlines(
    model: PotentialModel, matrix: np.ndarray, ids: pd.Index, scores, catalogue, horizon_days
):
    if scores is None:
        potential = model.predict_matrix(matrix)
        percentile = percentile_rank(potential)
        tier = tier_of(percentile)
    else:
        indexed = scores.set_index(scores["account_id"].astype(str)).reindex(ids)
        potential, percentile, tier = (
            indexed[c].to_numpy() for c in ("potential", "percentile", "tier")
        )
    return [
        headline(
            t,
            pc,
            pot,
            model.objective,
            currency_symbol=catalogue.currency_symbol,
            horizon_days=horizon_days,
        )
        for t, pc, pot in zip(
            tier.tolist(),
            np.asarray(percentile, float).tolist(),
            np.asarray(potential, float).tolist(),
            strict=True,
        )
    ]


def _reusable(
    previous: pd.DataFrame | None, ids: pd.Index, version: str, exact: list[str], split: list[str]
) -> list[_Stored | None]:
    """Per row: what `previous` (explain_frame or `territory score` output) lets us reuse."""
    if previous is None or len(previous) == 0:
        return [None] * len(ids)
    prev = previous[previous["explainer_version"] == version]
    prev = prev.assign(account_id=prev["account_id"].astype(str)).drop_duplicates(
        "account_id", keep="last"
    )
    prev = prev.set_index("account_id").reindex(ids)
    column = "reasons" if "reasons" in prev.columns else "top_reasons"  # batch output names it so
    old_exact = prev["input_hash"].tolist() if "input_hash" in prev.columns else [None] * len(ids)
    stories = prev["narrative"].tolist() if "narrative" in prev.columns else [None] * len(ids)
    return [
        _Stored(reasons, story, old_e == new_e) if old_s == new_s else None
        for old_s, new_s, old_e, new_e, reasons, story in zip(
            prev["split_hash"].tolist(),
            split,
            old_exact,
            exact,
            prev[column].tolist(),
            stories,
            strict=True,
        )
    ]


METHODS = ("auto", "patterns", "pred_contrib")
# Beyond this many splits per tree, trees have about as many decision patterns as rows and the
# pattern method stops paying (measured: bench/results/explain.md, 31-leaf candidate).
AUTO_PATTERN_MAX_SPLITS = pattern_shap.DIRECT_INDEX_MAX_SPLITS


def explain_frame(
    model: PotentialModel,
    features: pd.DataFrame,
    as_of: pd.Timestamp | date | str,
    *,
    top_k: int = 3,
    top_down: int = 1,
    previous: pd.DataFrame | None = None,
    scores: pd.DataFrame | None = None,
    catalogue: Catalogue | None = None,
    horizon_days: int = 365,
    method: str = "auto",
    n_jobs: int = 1,
    chunk_rows: int = 50_000,
    reasons_as_json: bool = False,
) -> pd.DataFrame:
    """One explanation per account (row of `features`, account_id index); see OUTPUT_COLUMNS.

    Args:
        as_of: the date the features describe; every narrative states it.
        previous: an earlier result of this function (or `territory score` output); rows with
            the same split hash and explainer version reuse its drivers instead of recomputing.
        scores: score_frame output (account_id, potential, percentile, tier) for the headline;
            by default the frame is ranked against itself.
        method: "patterns" (LightGBM pred_contrib once per tree and decision pattern, see
            models/explain/pattern_shap.py), "pred_contrib" (on every row; the same values), or
            "auto": patterns when every tree has <= AUTO_PATTERN_MAX_SPLITS splits.
        n_jobs: >1 explains chunks in that many threads (single-threaded LightGBM in each).
        reasons_as_json: reasons as JSON text (what files store) instead of lists of records.
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r}; choose one of {METHODS}")
    catalogue = _catalogue_for(model, catalogue or load_catalogue())
    check_columns(features, model.feature_names_, model.feature_set)
    prepared = prepare(model)
    layout = attribution.ConceptLayout.build(model.feature_names_, catalogue)
    patterns = method == "patterns" or (
        method == "auto" and all(len(t.splits) <= AUTO_PATTERN_MAX_SPLITS for t in prepared.trees)
    )
    setup = _Setup(model, catalogue, layout, top_k, top_down, prepared, patterns)
    as_of_text = pd.Timestamp(as_of).date().isoformat()
    ids = features.index.astype(str)
    matrix = to_matrix(features, model.feature_names_, model.categories_)
    input_hash, split_hash = _hashes(model, matrix, prepared)
    version = explainer_version(model, catalogue, top_k, top_down)
    reused = _reusable(previous, ids, version, input_hash, split_hash)
    heads = _headlines(model, matrix, ids, scores, catalogue, horizon_days)
    starts = range(0, len(features), chunk_rows)
    chunks = [
        _Chunk(
            features.iloc[s : s + chunk_rows],
            matrix[s : s + chunk_rows],
            reused[s : s + chunk_rows],
            heads[s : s + chunk_rows],
        )
        for s in starts
    ]
    parts = _run_chunks(setup, chunks, as_of_text, n_jobs, reasons_as_json)
    return pd.DataFrame(
        {
            "account_id": ids.to_numpy(dtype=object),
            "reasons": [r for part in parts for r in part[0]],
            "narrative": [n for part in parts for n in part[1]],
            "as_of": as_of_text,
            "input_hash": input_hash,
            "split_hash": split_hash,
            "explainer_version": version,
            "reused": [d is not None for d in reused],
        }
    )


def _run_chunks(setup: _Setup, chunks: list[_Chunk], as_of: str, n_jobs: int, as_json: bool):
    if n_jobs <= 1:
        return [_explain_chunk(setup, c, as_of, None, as_json) for c in chunks]
    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        return list(pool.map(lambda c: _explain_chunk(setup, c, as_of, 1, as_json), chunks))


def _hashes(
    model: PotentialModel, matrix: np.ndarray, prepared: PreparedModel
) -> tuple[list[str], list[str]]:
    """(exact input hash, split hash) per row; see models/explain/row_hash.py."""
    names = model.feature_names_
    if prepared.booster is None:
        bins = np.zeros_like(matrix)
    else:
        bins = row_hash.split_bins(matrix, prepared.thresholds, prepared.categorical)
    exact = row_hash.hex_digests(row_hash.hash_rows(matrix, names))
    return exact, row_hash.hex_digests(row_hash.hash_rows(bins, names))


def _catalogue_for(model: PotentialModel, catalogue: Catalogue) -> Catalogue:
    """The catalogue must cover the model's feature set; extra columns get a plain entry."""
    declared = set(FEATURE_SETS.get(model.feature_set, ()))
    catalogue.require(
        [f for f in model.feature_names_ if f in declared], feature_set=model.feature_set
    )
    return catalogue.with_generic_entries(model.feature_names_, categorical=model.categories_)
