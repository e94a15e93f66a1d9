"""Training within a row budget: the holdout cost of sampling, and train time vs bare LightGBM.

    python -m bench.bench_train_scale [--world data/bench_world] [--budgets none,100000,40000]

On the default 20k world (~330k account-snapshots, under the default budget of 400k) the run is
repeated with smaller budgets, which make it thin snapshots and sample accounts the way 100k and
1M worlds do at the default budget, so the holdout metrics show what sampling costs. Each run is
timed as a whole (`train_potential`: snapshots, four candidates, baselines, refit) and set
against a bare `lightgbm.train` on the same final training matrix with the same parameters and
tree count, in the same process (`bare_refit_seconds`, also used by bench_e2e). Writes
bench/results/train_scale.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import lightgbm as lgb
import pandas as pd

from bench.common import ensure_default_world
from features.loaders import load_crm
from features.pipeline import build_snapshots
from features.sample_world import window_oracle
from features.sample_world.writer import load_truth
from features.tables import CrmTables
from models.potential import PotentialModel
from training.train import (
    TrainConfig,
    label_as_of,
    plan_at_scale,
    refit_rows,
    snapshot_sampling,
    train_potential,
)

RESULTS = Path(__file__).parent / "results" / "train_scale.md"


def bare_refit_seconds(
    tables: CrmTables, model: PotentialModel, config: TrainConfig
) -> tuple[float, int]:
    """Seconds of a bare ``lightgbm.train`` on the served model's final training matrix (same
    rows, parameters and trees; the matrix is built first and not timed), and its row count."""
    as_of = pd.Timestamp(config.as_of) if config.as_of is not None else label_as_of(tables)
    plan, sample = plan_at_scale(tables, config, as_of)
    frames = build_snapshots(
        tables,
        plan.refit,
        config.horizon_days,
        extra_columns=config.extra_columns,
        **snapshot_sampling(plan, sample, config.seed),
    )
    refit = refit_rows(frames, plan)
    matrix = model._matrix(refit[model.feature_names_])
    label = refit["label"].to_numpy(float)
    target = (label > 0).astype(float) if model.objective == "conversion" else label
    cats = [i for i, n in enumerate(model.feature_names_) if n in model.categories_]
    started = time.perf_counter()
    data = lgb.Dataset(
        matrix, target, feature_name=model.feature_names_, categorical_feature=cats,
        params={"verbosity": -1},
    )  # fmt: skip
    lgb.train(model._lgb_params(), data, model.n_estimators)
    return time.perf_counter() - started, len(refit)


def _row(tables, oracle, budget: int | None) -> dict[str, object]:
    config = TrainConfig(max_train_rows=budget)
    started = time.perf_counter()
    result = train_potential(tables, config, oracle=oracle)
    seconds = time.perf_counter() - started
    bare, rows = bare_refit_seconds(tables, result.model, result.config)
    metrics = result.comparison.set_index("model")
    model, oracle_row = metrics.loc["potential_model"], metrics.loc["oracle_true_potential"]
    sample = result.sample
    return {
        "max_train_rows": f"{budget:,}" if budget else "none",
        "snapshots": len(result.plan.refit),
        "step_months": sample.step_months,
        "share_of_accounts": round(sample.fraction, 3),
        "refit_rows": rows,
        "chosen": f"{result.chosen} ({result.model.n_estimators} trees)",
        "holdout_gini": round(float(model["normalized_gini"]), 3),
        "holdout_top20": round(float(model["capture_top20"]), 3),
        "top20_share_of_oracle": round(
            float(model["capture_top20"] / oracle_row["capture_top20"]), 3
        ),
        "train_s": round(seconds, 1),
        "bare_refit_s": round(bare, 1),
        "ratio": round(seconds / bare, 1),
        "load": round(os.getloadavg()[0], 1),
    }


def render(rows: list[dict], world: Path, accounts: int) -> str:
    cols = list(rows[0])
    lines = [
        "### Training within a row budget",
        "",
        f"Measured by `python -m bench.bench_train_scale` on {os.cpu_count()} CPU(s), "
        f"{platform.machine()}, Python {platform.python_version()}, world `{world}` "
        f"({accounts:,} accounts), objective revenue. A smaller `--max-train-rows` makes the run "
        "thin snapshots and sample accounts as a 100k or 1M world does at the default 400,000; "
        "the holdout scores every account either way. *ratio* = the whole `train_potential` "
        "(snapshots, four candidates, baselines, refit) / a bare `lightgbm.train` on the same "
        "final training matrix with the same parameters and trees, in the same process. *load*: "
        "1-minute load average at the end (2 cores; above 2 other work shared the machine).",
        "",
        "| " + " | ".join(cols) + " |",
        "|" + "---|" * len(cols),
    ]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, default=Path("data/bench_world"))
    parser.add_argument("--budgets", default="none,100000,40000")
    opts = parser.parse_args()
    ensure_default_world(opts.world)
    tables = load_crm(opts.world).tables
    oracle = window_oracle(load_truth(opts.world), tables)
    rows = []
    for text in opts.budgets.split(","):
        budget = None if text == "none" else int(text)
        rows.append(_row(tables, oracle, budget))
        print(rows[-1], flush=True)
        RESULTS.write_text(render(rows, opts.world, len(tables.accounts)))
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
