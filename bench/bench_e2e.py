"""The README's commands end to end on one world: wall time and peak memory per step.

    python -m bench.bench_e2e --accounts 100000 --reps 500            # writes bench/results/e2e.md
    python -m bench.bench_e2e --accounts 1000000 --reps 2000 --steps sample,validate,score,plan

Each step is the `territory` command a new user types (sample, validate, train --promote, score,
plan with docs/scenarios/default.yaml), run as its own process under GNU time, so the figures are
the ones users meet: wall seconds and the process's maximum RSS. MLflow runs in a store inside the
work folder. Results accumulate in bench/results/e2e.json (one entry per world size) and are
rendered to bench/results/e2e.md; `python -m bench.update_readme` splices that into README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
STEPS = ("sample", "validate", "train", "score", "plan")


def commands(world: Path, accounts: int, reps: int, seed: int) -> dict[str, list[str]]:
    """The README's command per step, for this world."""
    return {
        "sample": ["sample", "--accounts", str(accounts), "--reps", str(reps), "--years", "3",
                   "--seed", str(seed), "--out", str(world)],
        "validate": ["validate", "--data", str(world)],
        "train": ["train", "--data", str(world), "--promote"],
        "score": ["score", "--data", str(world), "--out", str(world / "scores.parquet")],
        "plan": ["plan", "--data", str(world), "--scores", str(world / "scores.parquet"),
                 "--scenario", str(ROOT / "docs" / "scenarios" / "default.yaml"),
                 "--out", str(world / "plan")],
    }  # fmt: skip


def timed(args: list[str], env: dict[str, str], log: Path) -> dict[str, object]:
    """Run ``territory ARGS`` under GNU time: wall seconds, peak RSS (GB), exit code, last line."""
    exe = Path(sys.executable).parent / "territory"
    started = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(
            ["/usr/bin/time", "-v", str(exe), *args], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    text = log.read_text()
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("\t")]
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "peak_gb": round(int(rss.group(1)) / 1024**2, 2) if rss else None,
        "exit": done.returncode,
        "last": lines[-1][:160] if lines else "",
        "load": round(os.getloadavg()[0], 1),
    }


def render(results: dict[str, dict]) -> str:
    """The markdown table of every world measured."""
    lines = [
        "# End to end: the README's commands",
        "",
        "Measured by `python -m bench.bench_e2e` on "
        f"{os.cpu_count()} CPU(s), {platform.machine()}, Python {platform.python_version()}; "
        "each step is its own `territory` process (wall time, peak RSS from GNU time, the "
        "1-minute load average at its end: on 2 cores anything above 2 means other work shared "
        "the machine, so those times are upper figures). Plan: "
        "`docs/scenarios/default.yaml` with the scores from `territory score`.",
        "",
        "| world | " + " | ".join(STEPS) + " |",
        "|---|" + "---|" * len(STEPS),
    ]
    for name, entry in sorted(results.items(), key=lambda kv: kv[1]["accounts"]):
        cells = []
        for step in STEPS:
            got = entry["steps"].get(step)
            if got is None:
                cells.append("not run")
            elif got.get("unfinished"):  # stopped by hand while still running (see the note)
                cells.append(f"unfinished ({got['seconds']:.0f} s)")
            elif got["exit"] != 0:
                cells.append(f"failed ({got['seconds']:.0f} s)")
            else:
                load = f", load {got['load']}" if "load" in got else ""
                cells.append(f"{got['seconds']:,.0f} s, {got['peak_gb']:.1f} GB{load}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    notes = [f"- {name}: {entry['note']}" for name, entry in results.items() if entry.get("note")]
    for name, entry in results.items():
        bare = entry.get("bare")
        if bare and entry["steps"].get("train", {}).get("exit") == 0:
            train_s = entry["steps"]["train"]["seconds"]
            ratio = train_s / bare["seconds"]
            notes.append(
                f"- {name}: `territory train` {train_s:,.0f} s = **{ratio:.1f}x** "
                f"a bare `lightgbm.train` on its final training matrix ({bare['seconds']:.1f} s, "
                f"{bare['rows']:,} rows, {bare['trees']} trees, same parameters, same machine)"
            )
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def bare_train(world: Path, env: dict[str, str]) -> dict[str, object]:
    """The served model's refit as a bare `lightgbm.train` (bench.bench_train_scale), timed here."""
    os.environ.update({k: env[k] for k in ("TERRITORY_DATA_DIR", "TERRITORY_MLFLOW_TRACKING_URI")})
    from bench.bench_train_scale import bare_refit_seconds
    from features.loaders import load_crm
    from models.potential import PotentialModel
    from training.register import configure
    from training.settings import TrainingSettings
    from training.train import TrainConfig

    settings = TrainingSettings()
    configure(settings)
    model = PotentialModel.from_model_uri(f"models:/{settings.model_name}@champion")
    seconds, rows = bare_refit_seconds(load_crm(world).tables, model, TrainConfig())
    return {"seconds": round(seconds, 1), "rows": rows, "trees": model.n_estimators}


def bare_train_alone(world: Path, env: dict[str, str]) -> dict[str, object]:
    """bare_train in its own process: at 1M accounts it loads the export and builds the refit
    matrix (~8 GB), which this process would otherwise keep while `score` and `plan` run."""
    code = "import json, sys; from bench.bench_e2e import bare_train; from pathlib import Path; "
    code += "print(json.dumps(bare_train(Path(sys.argv[1]), dict(__import__('os').environ))))"
    done = subprocess.run(
        [sys.executable, "-c", code, str(world)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=500)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("data/bench_e2e"))
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument("--score-model", default=None, help="model URI for `score` (no train)")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare LightGBM refit")
    args = parser.parse_args()
    name = f"{args.accounts:,} x {args.reps:,}"
    world = args.work / f"world-{args.accounts}"
    world.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "TERRITORY_DATA_DIR": str(args.work.resolve()),
        "TERRITORY_MLFLOW_TRACKING_URI": f"sqlite:///{(args.work / 'mlflow.db').resolve()}",
    }
    store = RESULTS / "e2e.json"
    results = json.loads(store.read_text()) if store.exists() else {}
    entry = results.setdefault(name, {"accounts": args.accounts, "reps": args.reps, "steps": {}})
    cmds = commands(world, args.accounts, args.reps, args.seed)
    if args.score_model:
        cmds["score"] += ["--model", args.score_model]
    for step in args.steps.split(","):
        got = timed(cmds[step], env, args.work / f"{step}-{args.accounts}.log")
        entry["steps"][step] = got
        print(f"{name} {step}: {got}", flush=True)
        if step == "train" and got["exit"] == 0 and not args.no_bare:
            entry["bare"] = bare_train_alone(world, env)
            print(f"{name} bare lightgbm.train: {entry['bare']}", flush=True)
        store.write_text(json.dumps(results, indent=2) + "\n")
        (RESULTS / "e2e.md").write_text(render(results))


if __name__ == "__main__":
    main()
