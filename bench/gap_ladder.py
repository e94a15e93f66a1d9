"""Nodes and seconds per decision of the branch and bound on one GAP instance, one thread.

    python -m bench.gap_ladder [--instance chu1997/d10200] [--costs 12426,12427,12428,12430]

Asks each "is there a plan of cost <= C?" in turn from one ``DecisionSearch`` (multipliers start
at each job's second-best cost, then carry over), the way docs/matcher.md measured the ladder;
prints one line per question. Nothing is written.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.bench_gap import GAP_DIR, gap_problem
from bench.gap_solutions import read_gap
from models.capacity_exact.decision_search import FOUND
from models.capacity_exact.lagrangian_bnb import DecisionSearch, warm_up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instance", default="chu1997/d10200")
    parser.add_argument("--costs", default="12426,12427,12428,12430")
    args = parser.parse_args()
    warm_up()
    problem = gap_problem(*read_gap(GAP_DIR / args.instance))
    searcher = DecisionSearch(problem, np.sort(problem.value, axis=1)[:, -2])
    for cost in (int(c) for c in args.costs.split(",")):
        nodes, started = searcher.nodes, time.perf_counter()
        status, _ = searcher.decide(-float(cost), 1.0, lambda: False)
        answer = "found" if status == FOUND else "none"
        seconds = time.perf_counter() - started
        print(f"cost <= {cost:,}: {answer}, {searcher.nodes - nodes:,} nodes, {seconds:.1f} s")  # noqa: T201


if __name__ == "__main__":
    main()
