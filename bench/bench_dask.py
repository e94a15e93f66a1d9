"""pandas against Dask (a LocalCluster on this machine) on the same world, same run.

    python -m bench.bench_dask --accounts 100000 --reps 500    # writes bench/results/dask.md
    python -m bench.bench_dask --accounts 1000000 --reps 2000 --steps partition,score,score_dask
    python -m bench.bench_dask --accounts 1000000 --reps 2000 \
        --steps partition,score,score_dask,contrib --world data/w1m/world-1000000 --store data/w1m

    python -m bench.bench_dask --accounts 5000000 --reps 10000 \
        --steps sample_blocks,train_dask,score_dask

sample_blocks writes the world straight into partitions, block by block
(`territory sample --partitions`): the way past one process's memory, so the only way to a 5M
world here; the pandas steps cannot read it (there is no single export). --parts reuses such a
world. --world reuses a world already sampled (a 1M world takes ~3 minutes and 10 GB to sample) and
--store the folder whose mlflow.db holds a champion trained on it (bench_e2e's --work), so the
scoring steps run without sampling or training again. A size's "_note" in dask.json (what was not
run and why, projections) is printed under the table.

Each step is the `territory` command a user types, run as its own process. Memory is the peak of
the summed RSS of the command's whole process tree (sampled every 0.25 s with psutil), because a
LocalCluster's work happens in its worker processes, which GNU time's maximum RSS would not add
up. Steps: sample, partition (`territory partition`), train / train_dask, score / score_dask
(`--cluster local`). The baseline for batch scoring with explanations is raw LightGBM on the
same model and features in this process: `predict(pred_contrib=True)` rows per second.

On this 2-core machine the two single-threaded workers use both cores where the pandas
commands mostly use one, and no process holds the whole export: at 1M accounts the Dask path is
the faster and takes a quarter of the memory; at 20k its start-up dominates. docs/dask.md says
what was measured and what is projected.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
STEPS = ("sample", "partition", "train", "train_dask", "score", "score_dask", "contrib")
# A world too large for one process: `territory sample --partitions` writes the partitions
# block by block (features/sample_world/blocks.py); only the Dask steps can read it.
BLOCK_STEPS = ("sample_blocks", "train_dask", "score_dask")


def commands(
    world: Path, parts: Path, accounts: int, reps: int, scores: Path
) -> dict[str, list[str]]:
    size = ["--accounts", str(accounts), "--reps", str(reps), "--seed", "3"]
    partitions = str(max(4, accounts // 50_000))
    return {
        "sample": ["sample", *size, "--out", str(world)],
        "sample_blocks": ["sample", *size, "--partitions", partitions, "--out", str(parts)],
        "partition": ["partition", "--data", str(world), "--out", str(parts),
                      "--partitions", partitions],
        "train": ["train", "--data", str(world), "--promote", "--force"],
        "train_dask": ["train", "--data", str(parts), "--cluster", "local", "--promote",
                       "--force"],
        "score": ["score", "--data", str(world), "--out", str(scores / "pandas.parquet")],
        "score_dask": ["score", "--data", str(parts), "--cluster", "local",
                       "--out", str(scores / "dask.parquet")],
    }  # fmt: skip


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        family = [proc, *proc.children(recursive=True)]
    except psutil.Error:  # the command has just exited
        return 0
    for p in family:
        with contextlib.suppress(psutil.Error):  # a worker that has just exited
            total += p.memory_info().rss
    return total


def timed(args: list[str], env: dict[str, str], log: Path) -> dict[str, object]:
    """Wall seconds and the peak summed RSS (GB) of ``territory ARGS`` and its children."""
    exe = Path(sys.executable).parent / "territory"
    started = time.perf_counter()
    peak = 0
    with log.open("w") as out:
        child = subprocess.Popen([str(exe), *args], stdout=out, stderr=subprocess.STDOUT, env=env)
        proc = psutil.Process(child.pid)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, tree_rss(proc))
                time.sleep(0.25)

        watcher = threading.Thread(target=sample, daemon=True)
        watcher.start()
        code = child.wait()
        done.set()
        watcher.join()
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "peak_gb": round(peak / 1024**3, 2),
        "exit": code,
        "load": round(os.getloadavg()[0], 1),
    }


def contrib_baseline(world: Path, env: dict[str, str]) -> dict[str, object]:
    """Raw LightGBM pred_contrib rows/s on the champion and the world's current features (of
    its first partition, for a partitioned world: the rate is per row)."""
    os.environ.update(env)
    from features.loaders import load_crm
    from features.partitions import is_partitioned, read_partitioned
    from features.pipeline import build_account_features
    from training.batch import load_model
    from training.settings import TrainingSettings

    if is_partitioned(world):
        world = read_partitioned(world).paths()[0]
    tables = load_crm(world).tables
    model, _ = load_model(TrainingSettings(), None)
    features = build_account_features(tables, tables.default_as_of())
    matrix = model._matrix(features)
    started = time.perf_counter()
    model.booster_.predict(matrix, pred_contrib=True, num_threads=1)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 1), "rows_per_s": round(len(matrix) / seconds)}


def render(results: dict[str, dict]) -> str:
    lines = [
        "### pandas and Dask (LocalCluster, 2 workers x 1 thread) on the same world",
        "",
        "`python -m bench.bench_dask --accounts N --reps R` (the commands users type, each as "
        "its own process; memory = peak summed RSS of the process tree). Load = 1-minute load "
        "average when the step ended (other work on the machine slows every step alike).",
        "",
        "| accounts | step | seconds | peak GB | rows/s | load |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    order = ("sample", "sample_blocks", *STEPS[1:])
    for size, steps in sorted(results.items(), key=lambda kv: int(kv[0])):
        for step in sorted((s for s in steps if s in order), key=order.index):
            got = steps[step]
            rate, load = got.get("rows_per_s"), got.get("load")
            lines.append(
                f"| {int(size):,} | {step} | {got['seconds']} | {got.get('peak_gb', '')} | "
                f"{f'{rate:,}' if rate else ''} | {'' if load is None else load} |"
            )
    lines += ["", *_ratios(results)]
    notes = [
        f"- {int(size):,} accounts: {steps['_note']}"
        for size, steps in sorted(results.items(), key=lambda kv: int(kv[0]))
        if steps.get("_note")
    ]
    lines += notes
    return "\n".join(lines) + "\n"


def _ratios(results: dict[str, dict]) -> list[str]:
    out = []
    for size, steps in sorted(results.items(), key=lambda kv: int(kv[0])):
        n = int(size)
        for plain, dask in (("score", "score_dask"), ("train", "train_dask")):
            if plain in steps and dask in steps:
                a, b = steps[plain], steps[dask]
                out.append(
                    f"- {n:,} accounts, {plain}: Dask {b['seconds'] / a['seconds']:.2f}x the "
                    f"pandas wall time, {b['peak_gb'] / max(a['peak_gb'], 1e-9):.2f}x its peak "
                    "memory."
                )
        for scored, how in (("score", ""), ("score_dask", " --cluster local")):
            if scored in steps and "contrib" in steps:
                rate = n / steps[scored]["seconds"]
                out.append(
                    f"- {n:,} accounts: `territory score{how}` (features, scores and worded "
                    f"explanations) {rate:,.0f} rows/s end to end = "
                    f"{rate / steps['contrib']['rows_per_s']:.2f}x raw pred_contrib alone."
                )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=500)
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "bench_dask")
    parser.add_argument("--world", type=Path, help="an existing world of --accounts (no sample)")
    parser.add_argument("--store", type=Path, help="folder with the mlflow.db of its champion")
    parser.add_argument(
        "--parts", type=Path, help="an existing partitioned world of --accounts (no sample_blocks)"
    )
    args = parser.parse_args()
    world = args.world or args.work / f"world-{args.accounts}"
    if args.world is not None and not (world / "accounts.csv").exists():
        raise SystemExit(f"--world {world}: no accounts.csv there; pass a `territory sample` out")
    if "sample" in args.steps.split(",") and args.world is not None:
        raise SystemExit("--world is an existing world: drop `sample` from --steps")
    parts = args.parts or args.work / f"parts-{args.accounts}"
    (args.work / "scores").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TERRITORY_DATA_DIR": str(args.work / "state")}
    if args.store is not None:
        store_dir = args.store.resolve()
        env.update(
            TERRITORY_DATA_DIR=str(store_dir),
            TERRITORY_MLFLOW_TRACKING_URI=f"sqlite:///{store_dir / 'mlflow.db'}",
        )
    store = RESULTS / "dask.json"
    results = json.loads(store.read_text()) if store.exists() else {}
    entry = results.setdefault(str(args.accounts), {})
    cmds = commands(world, parts, args.accounts, args.reps, args.work / "scores")
    for step in args.steps.split(","):
        if step == "contrib":
            got = contrib_baseline(world if (world / "accounts.csv").exists() else parts, env)
        else:
            got = timed(cmds[step], env, args.work / f"{step}-{args.accounts}.log")
        print(step, got, flush=True)
        entry[step] = got
        store.write_text(json.dumps(results, indent=2) + "\n")
        (RESULTS / "dask.md").write_text(render(results))
        if got.get("exit", 0) != 0:
            raise SystemExit(f"{step} failed; see {args.work / f'{step}-{args.accounts}.log'}")


if __name__ == "__main__":
    main()
