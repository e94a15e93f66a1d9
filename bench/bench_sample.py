"""Benchmark `territory sample`: time and peak memory, against pandas writing the same frames.

Each world runs in its own process so its peak RSS (``resource.getrusage``) is its own. The raw
baseline, measured in the same process right after, is the time pandas alone takes to write the
five contract frames in the same format (``DataFrame.to_csv`` / ``to_parquet``): the floor any
generator that produces those files has to pay. Results go to bench/results/sample.md.

    .venv/bin/python -m bench.bench_sample                 # 20k x 60 (csv) and 1M x 2000 (parquet)
    .venv/bin/python -m bench.bench_sample --quick         # 20k x 60 and 200k x 400 only
    .venv/bin/python -m bench.bench_sample --one --accounts 20000 --reps 60 --format csv
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "sample.md"
TABLE_NAMES = ("accounts", "reps", "opportunities", "activities", "assignments")
FULL = [(20_000, 60, "csv"), (1_000_000, 2_000, "parquet")]
QUICK = [(20_000, 60, "csv"), (200_000, 400, "parquet")]


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _raw_write(tables, out: Path, fmt: str) -> float:  # noqa: ANN001
    """Seconds pandas alone takes to write the five contract frames."""
    started = time.perf_counter()
    for name in TABLE_NAMES:
        frame = getattr(tables, name)
        if fmt == "csv":
            frame.to_csv(out / f"{name}.csv", index=False)
        else:
            frame.to_parquet(out / f"{name}.parquet", index=False)
    return time.perf_counter() - started


def run_one(accounts: int, reps: int, years: int, seed: int, fmt: str) -> dict:
    """Generate, calibrate and write one world; time each step, then the raw pandas write."""
    from features.sample_world import SampleConfig, calibration_report, generate_world, write_world

    config = SampleConfig(n_accounts=accounts, n_reps=reps, years=years, seed=seed)
    scratch = Path(tempfile.mkdtemp(prefix="bench_sample_"))
    try:
        t0 = time.perf_counter()
        world = generate_world(config)
        t1 = time.perf_counter()
        calibration = calibration_report(world.tables, config.end_date)
        t2 = time.perf_counter()
        write_world(world, scratch / "world", fmt, calibration)
        t3 = time.perf_counter()
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        (scratch / "raw").mkdir()
        raw = _raw_write(world.tables, scratch / "raw", fmt)
        frames_mb = (
            sum(getattr(world.tables, n).memory_usage(deep=True).sum() for n in TABLE_NAMES) / 2**20
        )
        return {
            "accounts": accounts,
            "reps": reps,
            "years": years,
            "seed": seed,
            "format": fmt,
            "rows": {n: len(getattr(world.tables, n)) for n in TABLE_NAMES},
            "generate_s": t1 - t0,
            "calibration_s": t2 - t1,
            "write_s": t3 - t2,
            "total_s": t3 - t0,
            "raw_write_s": raw,
            "peak_rss_mb": peak_mb,
            "frames_mb": frames_mb,
            "disk_mb": _dir_bytes(scratch / "world") / 2**20,
            "calibration": calibration,
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _child(accounts: int, reps: int, years: int, seed: int, fmt: str) -> dict:
    command = [
        sys.executable,
        "-m",
        "bench.bench_sample",
        "--one",
        "--accounts",
        str(accounts),
        "--reps",
        str(reps),
        "--years",
        str(years),
        "--seed",
        str(seed),
        "--format",
        fmt,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _markdown(results: list[dict]) -> str:
    load = os.getloadavg()
    lines = [
        "# `territory sample` benchmark",
        "",
        f"Measured {datetime.now():%Y-%m-%d} by `python -m bench.bench_sample` on {os.cpu_count()}"
        f" CPU(s), {platform.machine()}, Python {platform.python_version()}; load average at the"
        f" end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (other work shared the machine).",
        "Each world runs in its own process (3 years of history, seed 7). *Raw write* is pandas"
        " alone writing the same five contract frames in the same format, in the same process;"
        " *ratio* = (generate + calibrate + write incl. truth) / raw write. Peak memory is the"
        " process's maximum RSS; *frames* is the in-memory size of the five contract tables.",
        "",
        "| world | format | opportunities | activities | generate s | calibrate s | write s "
        "| total s | raw write s | ratio | peak RSS GiB | frames GiB | on disk MiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['accounts']:,} accounts x {r['reps']:,} reps | {r['format']} "
            f"| {r['rows']['opportunities']:,} | {r['rows']['activities']:,} "
            f"| {r['generate_s']:.1f} | {r['calibration_s']:.1f} | {r['write_s']:.1f} "
            f"| {r['total_s']:.1f} | {r['raw_write_s']:.1f} "
            f"| {r['total_s'] / r['raw_write_s']:.2f} | {r['peak_rss_mb'] / 1024:.2f} "
            f"| {r['frames_mb'] / 1024:.2f} | {r['disk_mb']:,.0f} |"
        )
    lines += [
        "",
        "Calibration figures of the same worlds:",
        "",
        "| world | " + " | ".join(results[0]["calibration"]) + " |",
        "|---|" + "---:|" * len(results[0]["calibration"]),
    ]
    for r in results:
        values = " | ".join(f"{v:.3f}" for v in r["calibration"].values())
        lines.append(f"| {r['accounts']:,} x {r['reps']:,} | {values} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run the benchmark worlds (or one, with --one) and write bench/results/sample.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", action="store_true", help="run one world, print JSON")
    parser.add_argument("--quick", action="store_true", help="200k instead of 1M accounts")
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=60)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.accounts, args.reps, args.years, args.seed, args.format)))
        return
    results = []
    for accounts, reps, fmt in QUICK if args.quick else FULL:
        print(f"running {accounts:,} x {reps:,} ({fmt}) ...", file=sys.stderr, flush=True)
        results.append(_child(accounts, reps, args.years, args.seed, fmt))
        print(
            json.dumps({k: v for k, v in results[-1].items() if k != "calibration"}),
            file=sys.stderr,
            flush=True,
        )
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(_markdown(results))
    print(_markdown(results))


if __name__ == "__main__":
    main()
