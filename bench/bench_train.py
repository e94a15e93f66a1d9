"""Training cost: PotentialModel.fit vs a bare lightgbm.train on the same matrix.

Each measurement runs in a fresh process so peak memory (ru_maxrss) is its own. Rows are
account-snapshots resampled from real feature snapshots of a sample world.

    python -m bench.bench_train --world data/bench_world --rows 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from bench.common import ensure_default_world

RESULTS = Path(__file__).parent / "results" / "train.md"
N_TREES = 300


def _matrix_file(world: Path, rows: int) -> Path:
    path = world / f"bench_snapshots_{rows}.parquet"
    if path.exists():
        return path
    from features.loaders import load_crm
    from features.pipeline import build_snapshots, snapshot_dates

    tables = load_crm(world).tables
    end = tables.latest_date() - pd.Timedelta(days=365)
    dates = snapshot_dates(
        tables.accounts["created_at"].min() + pd.Timedelta(days=180), end, months=3
    )
    frame = build_snapshots(tables, dates, 365)
    frame.sample(rows, replace=len(frame) < rows, random_state=0).reset_index(drop=True).to_parquet(
        path
    )
    return path


def _run_case(case: str, path: Path) -> dict:
    """Runs inside the child process: load, fit, report seconds and peak RSS."""
    import lightgbm as lgb

    from features.feature_sets import ACCOUNT_POTENTIAL_V1
    from models.potential import PotentialModel

    frame = pd.read_parquet(path)
    X, y = frame[list(ACCOUNT_POTENTIAL_V1)], frame["label"].to_numpy()
    model = PotentialModel(
        n_estimators=N_TREES, num_leaves=15, max_depth=5, early_stopping_rounds=0
    )
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    if case == "territory":
        model.fit(X, y)
    else:  # the raw baseline: same params, matrix prepared outside the timer
        model.feature_names_, model.categories_ = list(X.columns), {}
        from models.potential import learn_categories, to_matrix

        model.categories_ = learn_categories(X)
        matrix = to_matrix(X, model.feature_names_, model.categories_)
        cats = [i for i, n in enumerate(model.feature_names_) if n in model.categories_]
        start = time.perf_counter()
        lgb.train(model._lgb_params(), lgb.Dataset(matrix, y, categorical_feature=cats), N_TREES)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": seconds,
        "peak_rss_mb": peak / 1024,
        "fit_rss_mb": (peak - rss_before) / 1024,
    }


def measure(case: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_train", "--child", case, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--world", type=Path, default=Path("data/bench_world"))
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.child:
        print(json.dumps(_run_case(opts.child[0], Path(opts.child[1]))))
        return
    ensure_default_world(opts.world)
    lines = [
        "| account-snapshots | bare lightgbm.train (s) | PotentialModel.fit (s) | time ratio "
        "| bare peak RSS (MB) | PotentialModel peak RSS (MB) | memory ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rows in opts.rows:
        path = _matrix_file(opts.world, rows)
        raw, ours = measure("raw", path), measure("territory", path)
        lines.append(
            f"| {rows:,} | {raw['seconds']:.1f} | {ours['seconds']:.1f} "
            f"| {ours['seconds'] / raw['seconds']:.2f} "
            f"| {raw['peak_rss_mb']:.0f} | {ours['peak_rss_mb']:.0f} "
            f"| {ours['peak_rss_mb'] / raw['peak_rss_mb']:.2f} |"
        )
        print(lines[-1], flush=True)
    from features.feature_sets import ACCOUNT_POTENTIAL_V1

    text = (
        f"Training cost, {N_TREES} trees, 15 leaves, {len(ACCOUNT_POTENTIAL_V1)} features, "
        "2 cores, nothing else running by intent (shared machine). PotentialModel.fit includes "
        "category learning and matrix building; the bare baseline gets the matrix for free.\n\n"
        + "\n".join(lines)
        + "\n\nReproduce: `.venv/bin/python -m bench.bench_train`\n"
    )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
