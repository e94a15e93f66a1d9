"""Model quality on the default sample world: the holdout table of `territory train`, written down.

python -m bench.bench_quality [--world data/bench_world]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from bench.common import ensure_default_world
from features.loaders import load_crm
from features.sample_world import window_oracle
from features.sample_world.writer import load_truth
from training.train import TrainConfig, train_potential

RESULTS = Path(__file__).parent / "results" / "quality.md"


def table(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        lines.append(
            "| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row) + " |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, default=Path("data/bench_world"))
    opts = parser.parse_args()
    ensure_default_world(opts.world)
    tables = load_crm(opts.world).tables
    # The ceiling: expected won revenue in the holdout window under the owners of that time.
    oracle = window_oracle(load_truth(opts.world), tables)
    parts = []
    for objective in ("revenue", "conversion"):
        start = time.perf_counter()
        result = train_potential(tables, TrainConfig(objective=objective), oracle=oracle)
        seconds = time.perf_counter() - start
        cmp = result.comparison.copy()
        base = cmp.set_index("model").loc["last_12m_revenue", "capture_top20"]
        cmp["top20_vs_last_12m"] = cmp["capture_top20"] / base
        if "oracle_true_potential" in set(cmp["model"]):
            oracle_top20 = cmp.set_index("model").loc["oracle_true_potential", "capture_top20"]
            cmp["top20_share_of_oracle"] = cmp["capture_top20"] / oracle_top20
        parts.append(
            f"**objective `{objective}`** — chosen candidate `{result.chosen}` "
            f"({result.model.best_iteration_} trees), holdout as of {result.plan.holdout.date()}, "
            f"trained in {seconds:.0f} s; {result.validation}\n\n{table(cmp)}\n"
        )
        if objective == "revenue":
            start_day = result.plan.holdout
            expected = oracle(start_day, start_day + pd.Timedelta(days=result.config.horizon_days))
            actual = result.holdout["label"].sum()
            parts.append(
                f"Oracle check: expected total {expected.sum():,.0f} vs actual {actual:,.0f} "
                f"({expected.sum() / actual:.1%}); model predicted "
                f"{result.holdout['predicted'].sum() / actual:.1%} of actual.\n"
            )
            parts.append(
                "Calibration by decile of predicted potential (holdout):\n\n"
                + table(result.calibration)
                + "\n"
            )
            parts.append(
                "Forward model selection (validation as of "
                f"{result.plan.validation.date()}):\n\n{table(result.selection)}\n"
            )
    RESULTS.write_text(
        "\n".join(parts) + "\nReproduce: `.venv/bin/python -m bench.bench_quality` "
        "(or `territory train --data DIR` on the same world).\n"
    )
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
