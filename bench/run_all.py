"""`make bench`: run every benchmark (each writes bench/results/NAME.md), then update README.md.

Runs sequentially: they all want both cores. Expect well over an hour in total on 2 cores;
run one with `python -m bench.bench_NAME` to refresh a single table.
"""

from __future__ import annotations

import subprocess
import sys

BENCHES = [
    ["bench.bench_sample"],
    ["bench.bench_train"],
    ["bench.bench_retrain"],
    ["bench.bench_explain", "--large", "1000000"],
    ["bench.bench_gap"],
    ["bench.bench_matcher"],
    ["bench.bench_serving", "--requests", "2000"],
]


def main() -> None:
    for args in BENCHES:
        print(f"== python -m {' '.join(args)}", flush=True)
        subprocess.run([sys.executable, "-m", *args], check=True)
    subprocess.run([sys.executable, "-m", "bench.update_readme"], check=True)


if __name__ == "__main__":
    main()
