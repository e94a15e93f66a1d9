"""`territory retrain` end to end against the sum of its parts run alone, on the default world.

    python -m bench.bench_retrain                      # 20k accounts (the Makefile's sample)
    python -m bench.bench_retrain --world data/bench_world_1m --work data/bench_retrain_1m

Every row is its own process under GNU time (wall seconds, maximum RSS), in a fresh MLflow store
under --work:

- **retrain**: `territory retrain --data WORLD` (first run in the store: train a challenger,
  gates against the baselines, drift, register and promote), as cron runs it;
- the parts alone: **features** (load the export, account features as of the latest date),
  **train** (`training.train.train_potential`: snapshots, four candidates, refit, baselines and
  holdout metrics), **evaluate** (the champion scored on the newest holdout: Gini, calibration,
  and the drift report against today's features), **score** (`territory score --all`);
- **rescore, nothing changed**: `territory score` again, every account skipped by fingerprint.

The ratio is retrain / (features + train + evaluate): what the job costs beyond running its
parts by hand. Scoring is not part of retrain (rescoring runs on its own schedule) and is shown
for the scheduled pair's total.

Results accumulate in bench/results/retrain.json, one entry per world size (the 20k default
world and the 1M one issue #16 asks for), rendered to retrain.md. `--rows` runs some rows only
(e.g. `--rows score,rescore` against the champion a previous run left in --work).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.common import DEFAULT_WORLD, ensure_default_world

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "retrain.md"
STORE = ROOT / "bench" / "results" / "retrain.json"  # one entry per world size, kept across runs
PARTS = ("features", "train", "evaluate")
ROWS = ("retrain", *PARTS, "score", "rescore")


def timed(argv: list[str], env: dict[str, str], log: Path) -> dict:
    """Run argv under GNU time: wall seconds, peak RSS (GB), exit code, 1-min load at its end."""
    started = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(
            ["/usr/bin/time", "-v", *argv], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    text = log.read_text()
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "peak_gb": round(int(rss.group(1)) / 1024**2, 2) if rss else float("nan"),
        "exit": done.returncode,
        "load": round(os.getloadavg()[0], 1),
    }


def child(stage: str, world: Path) -> None:
    """One part alone, in this process."""
    from features.loaders import load_crm
    from features.pipeline import build_account_features
    from training.train import TrainConfig, train_potential

    tables = load_crm(str(world)).tables
    config = TrainConfig(as_of=tables.default_as_of())
    if stage == "features":
        build_account_features(tables, config.as_of)
    elif stage == "train":
        train_potential(tables, config)
    elif stage == "evaluate":
        _evaluate(tables, config)
    else:
        raise SystemExit(f"unknown stage {stage!r}; one of {PARTS}")


def _evaluate(tables, config) -> None:
    from features.drift import drift_report
    from features.history import label_won_revenue
    from features.pipeline import build_account_features
    from models.potential import normalized_gini
    from training.gates import champion_scores
    from training.retrain import current_champion
    from training.settings import TrainingSettings
    from training.train import plan_snapshots

    champion = current_champion(TrainingSettings())
    if champion is None:
        raise SystemExit("no champion in the store: run the retrain row first")
    plan = plan_snapshots(tables.history_start(), config, config.as_of)
    holdout = build_account_features(tables, plan.holdout)
    actual = label_won_revenue(tables.opportunities, plan.holdout, config.horizon_days)
    actual = actual.reindex(holdout.index, fill_value=0.0).to_numpy()
    predicted = champion_scores(champion, holdout)
    print(
        f"gini {normalized_gini(actual, predicted):.3f} calibration "
        f"{predicted.sum() / max(actual.sum(), 1e-9):.3f}"
    )
    today = build_account_features(tables, config.as_of)
    columns = list(champion.model.feature_names_)
    report = drift_report(
        holdout,
        today,
        columns,
        reference_score=predicted,
        current_score=champion_scores(champion, today),
    )
    print("drift", report["status"])


NAMES = {
    "retrain": "`territory retrain` end to end",
    "features": "part: features alone",
    "train": "part: train alone (`train_potential`)",
    "evaluate": "part: evaluate alone (champion on the holdout + drift)",
    "score": "`territory score --all` (rescore after a promotion)",
    "rescore": "`territory score` again, nothing changed (all skipped)",
}


def render(results: dict[str, dict]) -> str:
    """Every world measured, smallest first: its table and the ratio to the sum of its parts."""
    lines = [
        f"Measured by `python -m bench.bench_retrain` on {os.cpu_count()} CPU(s), "
        f"{platform.machine()}, Python {platform.python_version()}. Each row is its own process "
        "(GNU time: wall, maximum RSS); load is the 1-minute load average at its end: on 2 cores "
        "anything above 2 means other engineers' work shared the machine, so these are upper "
        "figures and the ratio is the comparable number.",
    ]
    for name, entry in sorted(results.items(), key=lambda kv: kv[1]["accounts"]):
        lines += ["", *_world_section(name, entry)]
    lines += [
        "",
        "Reproduce: `.venv/bin/python -m bench.bench_retrain` (20k), "
        "`.venv/bin/python -m bench.bench_retrain --world data/w1m/world-1000000 "
        "--work data/bench_retrain_1m` (1M, a `territory sample --accounts 1000000 --reps 2000` "
        "world).",
    ]
    return "\n".join(lines) + "\n"


def _world_section(name: str, entry: dict) -> list[str]:
    rows = entry["rows"]
    lines = [
        f"## {name} accounts (world `{entry['world']}`, "
        + (f"measured {entry['date']})" if rows else "not measured)"),
        "",
        "| run | wall s | peak RSS GB | exit | load |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, label in NAMES.items():
        r = rows.get(key)
        if r is None:
            lines.append(f"| {label} | not run | | | |")
            continue
        load = r.get("load", "")
        lines.append(
            f"| {label} | {r['seconds']:.1f} | {r['peak_gb']:.2f} | {r['exit']} | {load} |"
        )
    done = all(p in rows and rows[p]["exit"] == 0 for p in PARTS)
    if done:
        parts = sum(rows[p]["seconds"] for p in PARTS)
        peak_parts = max(rows[p]["peak_gb"] for p in PARTS)
        lines.append(
            f"| sum of the parts (features + train + evaluate) | {parts:.1f} | {peak_parts:.2f} "
            "(largest) | | |"
        )
    retrain = rows.get("retrain")
    if done and retrain is not None and retrain["exit"] == 0:
        both = retrain["seconds"] + rows["score"]["seconds"] if "score" in rows else None
        pair = f" Retrain + rescore (the scheduled pair): {both:.0f} s." if both else ""
        lines += [""]
        lines.append(
            f"retrain / sum of its parts: **{retrain['seconds'] / parts:.2f}x** wall, "
            f"**{retrain['peak_gb'] / peak_parts:.2f}x** peak memory.{pair}"
        )
    if entry.get("note"):
        lines += ["", entry["note"]]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--world", type=Path, default=DEFAULT_WORLD)
    parser.add_argument("--work", type=Path, default=Path("data/bench_retrain"))
    parser.add_argument(
        "--rows",
        default=",".join(ROWS),
        help="rows to run, in this order; without `retrain` the store in --work is kept (the "
        "champion the evaluate and score rows need)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.child:
        child(opts.child, opts.world)
        return
    wanted = opts.rows.split(",")
    unknown = [r for r in wanted if r not in ROWS]
    if unknown:
        raise SystemExit(f"--rows {opts.rows}: unknown {unknown}; use some of {','.join(ROWS)}")
    ensure_default_world(opts.world)
    if "retrain" in wanted:  # a fresh store: the first retrain trains and promotes
        shutil.rmtree(opts.work, ignore_errors=True)
    opts.work.mkdir(parents=True, exist_ok=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TERRITORY_", "MLFLOW_"))},
        "TERRITORY_DATA_DIR": str(opts.work.resolve() / "state"),
    }
    exe = str(Path(sys.executable).parent / "territory")
    me = [sys.executable, "-m", "bench.bench_retrain", "--world", str(opts.world), "--child"]
    scores = str(opts.work / "scores.parquet")
    runs = {
        "retrain": [exe, "retrain", "--data", str(opts.world)],
        **{p: [*me, p] for p in PARTS},
        "score": [exe, "score", "--data", str(opts.world), "--out", scores, "--all"],
        "rescore": [exe, "score", "--data", str(opts.world), "--out", scores],
    }
    accounts = _accounts(opts.world)
    results = json.loads(STORE.read_text()) if STORE.exists() else {}
    entry = results.setdefault(f"{accounts:,}", {"accounts": accounts, "rows": {}})
    entry.update(world=str(opts.world), date=time.strftime("%Y-%m-%d"))
    for name in wanted:
        entry["rows"][name] = timed(runs[name], env, opts.work / f"{name}.log")
        print(name, json.dumps(entry["rows"][name]), flush=True)
        STORE.write_text(json.dumps(results, indent=2) + "\n")
        RESULTS.write_text(render(results))
    print(RESULTS.read_text())


def _accounts(world: Path) -> int:
    """Rows of the world's accounts table (CSV or Parquet)."""
    import pandas as pd

    from features.loaders import read_file

    path = next(p for p in (world / "accounts.csv", world / "accounts.parquet") if p.exists())
    return len(pd.read_parquet(path, columns=["account_id"]) if path.suffix == ".parquet"
               else read_file(path))  # fmt: skip


if __name__ == "__main__":
    main()
