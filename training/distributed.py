"""The Dask path: features, scoring with explanations, training snapshots and the model fit, run
partition by partition on a `distributed` cluster.

Each partition of a partitioned export (features/partitions.py) is a complete small export:
read, validated, featurised and scored on a worker, which lets its tables go when the task ends.
Only small things travel: each partition's facts (ExportFacts: counts, dates, digest), the
market context (features/context.py: per-partition tallies combined on the client, then
broadcast), the model (scattered once to every worker), the potentials (one float per account,
gathered to rank percentiles across all accounts) and the finished rows, one partition at a
time. The same functions as the pandas path do the work, so the results are the same
(tests/training/test_distributed.py states the tolerances).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from features.context import MarketContext, market_context, market_tally
from features.history import visible_opportunities
from features.loaders import load_crm
from features.ownership import owners_at
from features.partitions import PartitionedExport
from features.pipeline import accounts_at, build_account_features, build_snapshots
from features.tables import CrmTables
from models.explain import explain_frame
from models.potential import PotentialModel, percentile_rank, tier_of, to_matrix
from training.train import ExportFacts, combine_facts

Progress = Callable[[str], None]


# -- on the workers -----------------------------------------------------------------------------
# Each task reads its partition from disk, does its work and lets the raw tables go: a worker
# holds one partition's tables at a time whatever the export's size, and only the results
# (tallies, features, snapshots) stay on it. A partition is read once per pass (facts, market
# tallies, features); reading is a small share of the work and keeps memory bounded.
def load_partition(path: str) -> CrmTables:
    """One partition, read and validated like any export (a fatal problem names the partition)."""
    return load_crm(path).tables


def partition_facts(path: str, digest: bool = True) -> ExportFacts:
    """What the client needs to know about one partition without holding it."""
    return ExportFacts.of(load_partition(path), digest=digest)


def tally_partition(tables: CrmTables, as_of: pd.Timestamp):
    accounts = accounts_at(tables, as_of)
    visible = visible_opportunities(tables.opportunities, as_of)
    return market_tally(accounts, visible, owners_at(tables.assignments, as_of), as_of)


def tallies_of(path: str, dates: Sequence[pd.Timestamp]) -> list:
    """One partition's market tallies at each date, from one read."""
    tables = load_partition(path)
    return [tally_partition(tables, pd.Timestamp(d)) for d in dates]


def partition_features(
    tables: CrmTables, as_of: pd.Timestamp, market: MarketContext, extra: Sequence[str]
) -> pd.DataFrame:
    return build_account_features(tables, as_of, extra_columns=extra, market=market)


def features_of(
    path: str, as_of: pd.Timestamp, market: MarketContext, extra: Sequence[str]
) -> pd.DataFrame:
    return partition_features(load_partition(path), as_of, market, extra)


def predict_partition(
    features: pd.DataFrame, model: PotentialModel
) -> tuple[np.ndarray, np.ndarray]:
    """(account ids, potentials) of one partition."""
    return features.index.astype(str).to_numpy(), model.predict(features)


def explain_partition(
    features: pd.DataFrame,
    scores: pd.DataFrame,
    model: PotentialModel,
    as_of: pd.Timestamp,
    model_version: str,
) -> pd.DataFrame:
    from training.batch import FINGERPRINT, fingerprints

    explained = explain_frame(model, features, as_of, scores=scores, reasons_as_json=True)
    kept = ("narrative", "input_hash", "split_hash", "explainer_version")
    prints = fingerprints(features, list(model.feature_names_), model_version)
    return scores.assign(
        top_reasons=explained["reasons"].to_numpy(),
        **{c: explained[c].to_numpy() for c in kept},
        **{FINGERPRINT: prints},
    )


def partition_snapshots(
    tables: CrmTables,
    markets: dict[pd.Timestamp, MarketContext],
    horizon_days: int,
    extra: Sequence[str],
    sampling: Mapping[str, object] | None = None,
) -> pd.DataFrame:
    """Stacked snapshots (features, as_of, label) of one partition, as build_snapshots makes
    (`sampling`: its keep / whole / also)."""
    dates = sorted(markets)
    return build_snapshots(
        tables, dates, horizon_days, extra_columns=extra, markets=markets, **(sampling or {})
    )


def snapshots_of(path: str, markets, horizon_days, extra, sampling=None) -> pd.DataFrame:
    return partition_snapshots(load_partition(path), markets, horizon_days, extra, sampling)


def refit_sample(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of a partition's snapshots the final model fits on: the sample where the run
    samples (the `in_sample` column), else every row."""
    return frame[frame["in_sample"].to_numpy(bool)] if "in_sample" in frame else frame


def matrix_partition(
    frame: pd.DataFrame, columns: Sequence[str], categories: dict[str, list[str]]
) -> np.ndarray:
    return to_matrix(frame, columns, categories)


# -- on the client ------------------------------------------------------------------------------
def _paths(export: PartitionedExport) -> list[str]:
    return [str(p) for p in export.paths()]


def gathered(client, futures: list, what: str, progress: Progress = lambda _: None) -> list:
    """The results of `futures`, in order, saying as they finish (about every tenth) how many
    partitions of `what` are done: a pass over a large export takes minutes."""
    from distributed import as_completed

    n = len(futures)
    every = max(1, n // 10)
    for done, _ in enumerate(as_completed(futures), 1):
        if done % every == 0 or done == n:
            progress(f"{what}: {done}/{n} partitions")
    return client.gather(futures)


def facts_on_cluster(
    client, export: PartitionedExport, progress: Progress = lambda _: None, *, digest: bool = True
) -> ExportFacts:
    """The whole export's ExportFacts, combined from one small record per partition
    (`digest`: False when only counts and dates are needed; the digest is then empty)."""
    futures = client.map(partition_facts, _paths(export), digest=digest, pure=False)
    parts = gathered(client, futures, "reading facts", progress)
    return combine_facts(parts)


def markets_on_cluster(
    client,
    export: PartitionedExport,
    dates: Sequence[pd.Timestamp],
    progress: Progress = lambda _: None,
) -> dict[pd.Timestamp, MarketContext]:
    """The whole export's market context at each date, from one small tally per partition and
    date (each partition read once)."""
    dates = [pd.Timestamp(d) for d in dates]
    futures = client.map(tallies_of, _paths(export), dates=dates, pure=False)
    tallies = gathered(client, futures, "market tallies", progress)
    return {d: market_context([t[i] for t in tallies]) for i, d in enumerate(dates)}


def _features_held(
    client,
    export: PartitionedExport,
    as_of: pd.Timestamp,
    extra: Sequence[str],
    progress: Progress = lambda _: None,
) -> list:
    """Futures of each partition's features as of `as_of`, held on the workers."""
    markets = markets_on_cluster(client, export, [as_of], progress)
    market = client.scatter(markets[as_of], broadcast=True)
    return client.map(
        features_of, _paths(export), as_of=as_of, market=market, extra=extra, pure=False
    )


def features_on_cluster(
    client,
    export: PartitionedExport,
    as_of: pd.Timestamp,
    *,
    extra: Sequence[str] = (),
    progress: Progress = lambda _: None,
) -> pd.DataFrame:
    """Every account's features as of `as_of`, built on the cluster and gathered here."""
    held = _features_held(client, export, as_of, extra, progress)
    return pd.concat(gathered(client, held, "features", progress))


def scored_parts_on_cluster(
    client,
    export: PartitionedExport,
    model: PotentialModel,
    as_of: pd.Timestamp | None,
    *,
    extra: Sequence[str] = (),
    model_version: str = "",
    progress: Progress = lambda _: None,
) -> Iterator[pd.DataFrame]:
    """Scores with explanations for every account of a partitioned export, one partition's
    frame at a time in partition order, as score_accounts makes them (account_id, potential,
    percentile, tier, top_reasons, narrative, hashes, as_of and the fingerprint a later pandas
    run uses to skip unchanged accounts). The caller writes each as it comes, so the client
    holds one partition's rows, not the export's.

    Args:
        as_of: None: the day after the latest date in any partition (CrmTables.default_as_of of
            the whole export).
    """
    paths = _paths(export)
    if as_of is None:
        progress(f"reading the latest date of {len(paths)} partitions")
        as_of = facts_on_cluster(client, export, progress, digest=False).default_as_of()
    progress(f"market context as of {as_of.date()}, then features and scores per partition")
    features = _features_held(client, export, as_of, extra, progress)
    shipped = client.scatter(model, broadcast=True)
    ids, potentials = zip(
        *gathered(
            client,
            client.map(predict_partition, features, model=shipped),
            "features and scores",
            progress,
        ),
        strict=True,
    )
    everything = np.concatenate(potentials) if potentials else np.array([])
    percentile = percentile_rank(everything)
    bounds = np.cumsum([0, *(len(p) for p in potentials)])
    progress("explaining")
    explained = []
    for i, part_ids in enumerate(ids):
        pct = percentile[bounds[i] : bounds[i + 1]]
        scores = pd.DataFrame(
            {
                "account_id": part_ids,
                "potential": potentials[i],
                "percentile": np.round(pct, 2),
                "tier": tier_of(pct),
            }
        )
        explained.append(
            client.submit(
                explain_partition,
                features[i],
                scores,
                model=shipped,
                as_of=as_of,
                model_version=model_version,
                pure=False,
            )
        )
    features[:] = []  # each partition's features go once its explanations are done
    for i, future in enumerate(explained):
        frame = future.result()
        explained[i] = None
        if (i + 1) % max(1, len(paths) // 10) == 0 or i + 1 == len(paths):
            progress(f"explained and written: {i + 1}/{len(paths)} partitions")
        yield frame.assign(as_of=as_of.date().isoformat())


def score_on_cluster(client, export: PartitionedExport, model: PotentialModel, as_of, **kw):
    """scored_parts_on_cluster's frames as one frame (for tests and small exports)."""
    parts = scored_parts_on_cluster(client, export, model, as_of, **kw)
    return pd.concat(list(parts), ignore_index=True)


def snapshots_on_cluster(
    client,
    export: PartitionedExport,
    dates: Sequence[pd.Timestamp],
    horizon_days: int,
    *,
    extra: Sequence[str] = (),
    sampling: Mapping[str, object] | None = None,
    progress: Progress = lambda _: None,
) -> list:
    """Futures of each partition's stacked training snapshots, held on the workers
    (`sampling`: build_snapshots' keep / whole / also, applied in each partition)."""
    progress(f"market context at {len(dates)} dates")
    shared = client.scatter(markets_on_cluster(client, export, dates, progress), broadcast=True)
    progress(f"building snapshots on {export.partitions} partitions")
    return client.map(
        snapshots_of,
        _paths(export),
        markets=shared,
        horizon_days=horizon_days,
        extra=extra,
        sampling=sampling,
        pure=False,
    )


def fit_on_cluster(
    client,
    snapshots: list,
    template: PotentialModel,
    columns: Sequence[str],
    categories: dict[str, list[str]],
    *,
    rows: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> PotentialModel:
    """`template` (an unfitted PotentialModel) fitted with lightgbm.dask on the snapshots where
    they lie; the result is an ordinary PotentialModel (same parameters, categories, predict).

    Args:
        rows: which snapshot rows to fit on (e.g. the refit dates); default all.
    """
    import dask.array as da
    from lightgbm.dask import DaskLGBMRegressor

    chosen = client.map(rows, snapshots) if rows is not None else snapshots
    lengths = client.gather(client.map(len, chosen))
    keep = [(f, n) for f, n in zip(chosen, lengths, strict=True) if n > 0]
    matrices = client.map(
        matrix_partition, [f for f, _ in keep], columns=list(columns), categories=categories
    )
    labels = client.map(
        _labels, [f for f, _ in keep], conversion=template.objective == "conversion"
    )
    X = da.concatenate(
        [
            da.from_delayed(m, shape=(n, len(columns)), dtype=float)
            for m, (_, n) in zip(matrices, keep, strict=True)
        ]
    )
    y = da.concatenate(
        [
            da.from_delayed(v, shape=(n,), dtype=float)
            for v, (_, n) in zip(labels, keep, strict=True)
        ]
    )
    model = template
    model.feature_names_ = list(columns)
    model.n_features_in_ = len(columns)
    model.categories_ = {k: list(v) for k, v in categories.items()}
    model.calibrator_ = None
    model.constant_ = None
    params = model._lgb_params()
    params.pop("num_threads", None)
    params.pop("verbosity", None)
    params.pop("deterministic", None)
    cat_idx = [i for i, n in enumerate(columns) if n in categories]
    estimator = DaskLGBMRegressor(
        client=client, n_estimators=model.n_estimators, verbose=-1, **params
    )
    estimator.fit(X, y, categorical_feature=cat_idx, feature_name=list(columns))
    model.booster_ = estimator.to_local().booster_
    model.best_iteration_ = model.booster_.current_iteration()
    return model


def _labels(frame: pd.DataFrame, conversion: bool) -> np.ndarray:
    target = frame["label"].to_numpy(dtype=float)
    return (target > 0).astype(float) if conversion else target


def _solve_region(job):
    from models.solver import solve

    problem, options = job
    return solve(problem, options, None)


def region_solver(client):
    """A matcher RegionSolver that solves the regions in parallel on the cluster's workers."""

    def solve_regions(jobs):
        return client.gather(client.map(_solve_region, jobs, pure=False))

    return solve_regions
