"""GAP benchmark: the matcher's solver core on OR-Library Generalized Assignment instances.

    python -m bench.bench_gap [--time-limit 60] [--only gap1-0,d20200]
    python -m bench.bench_gap --check      # recompute every written solution from its instance

Reads ../shared/data/gap (Chu & Beasley 1997, Yagiura et al. 2004; minimisation, per-agent
weights), solves each instance with ``models.solver.engine.solve`` (Lagrangian bounds -> repair
heuristic -> reduced-cost fixing -> Lagrangian branch and bound) and writes the table between
the GAP markers of bench/results/matcher.md (value, best known, gap to best known, proven bound,
seconds) and each instance's solution to bench/results/gap_solutions/ (see bench/gap_solutions.py
for the format). ``--check`` exits non-zero when a solution breaks a capacity or its recomputed
cost differs from the table.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.gap_solutions import (
    SOLUTIONS,
    check_all,
    checks_to_text,
    read_gap,
    solution_path,
    write_solution,
)
from models.capacity_exact import CAPACITY_ONLY, warm_up
from models.solver import AgentRows, AssignmentProblem, SolverOptions, is_feasible, solve

REPO = Path(__file__).resolve().parents[1]
GAP_DIR = REPO.parent / "shared" / "data" / "gap"
RESULTS = REPO / "bench" / "results" / "matcher.md"
MARKERS = ("<!-- gap:start -->", "<!-- gap:end -->")


def gap_problem(cost: np.ndarray, weight: np.ndarray, capacity: np.ndarray) -> AssignmentProblem:
    """GAP as the matcher's problem: every job may go to every agent; costs negated (maximise)."""
    m, n = cost.shape
    agent = np.tile(np.arange(m), (n, 1))
    rows = AgentRows(
        "capacity", weight.T.astype(float), np.full(m, -np.inf), capacity.astype(float)
    )
    return AssignmentProblem(agent, -cost.T.astype(float), m, (rows,))


def run(time_limit: float, only: set[str] | None) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Solve every listed instance: one row per instance, and each one's agent per job (0-based)."""
    best = pd.read_csv(GAP_DIR / "best_known.csv")
    rows, solutions = [], {}
    warm_up()  # numba compiles the search once (14 s cold, 0.4 s from its cache), off the clock
    for _, entry in best.iterrows():
        name = entry["Path"].split("/")[-1]
        if only and name not in only:
            continue
        problem = gap_problem(*read_gap(GAP_DIR / entry["Path"]))
        options = SolverOptions(
            time_limit_s=time_limit,
            exact_max_pairs=10**9,
            lns_steps=10**9,
            deterministic=False,
            exact_engine=CAPACITY_ONLY,
        )
        start = time.perf_counter()
        solution = solve(problem, options)
        seconds = time.perf_counter() - start
        value = -solution.objective if is_feasible(problem, solution.choice) else np.nan
        if np.isfinite(value):
            solutions[entry["Path"]] = solution.choice  # one candidate per agent: slot == agent
        known = float(entry["Best known solution value"])
        proven = pd.notna(entry["Optimum"])
        rows.append(
            {
                "instance": entry["Path"],
                "jobs": int(entry["Item number"]),
                "agents": int(entry["Agent number"]),
                "value": value,
                "best_known": known,
                "gap_pct": 100.0 * (value - known) / known,
                "lower_bound": -solution.bound,
                "proven_optimum_known": bool(proven),
                "status": solution.status,
                "seconds": round(seconds, 1),
            }
        )
    return pd.DataFrame(rows), solutions


def to_markdown(table: pd.DataFrame, time_limit: float, load: tuple[float, float]) -> str:
    """The results table plus a one-line summary and how it was produced."""
    lines = [
        f"Time limit {time_limit:g} s per instance (Lagrangian branch and bound: a finder "
        "thread asks for a plan one unit better than the best, a prover thread refutes targets "
        "from the bound down; status `optimal` means the two met; compiled once before the "
        "first instance), "
        f"{os.cpu_count()} CPU core(s) visible; 1-minute load average {load[0]:.1f} at the start "
        f"and {load[1]:.1f} at the end (other engineers' jobs shared the machine).",
        "",
        "| instance | jobs x agents | value | best known | gap % | our lower bound | status | s |",
        "|---|---|---:|---:|---:|---:|---|---:|",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.instance} | {r.jobs} x {r.agents} | {r.value:,.0f} | {r.best_known:,.0f} | "
            f"{r.gap_pct:.3f} | {r.lower_bound:,.0f} | {r.status} | {r.seconds:.1f} |"
        )
    worst = table["gap_pct"].max()
    at_best = int((table["gap_pct"] <= 1e-9).sum())
    lines += [
        "",
        f"{at_best} of {len(table)} instances at the best-known value; worst gap "
        f"{worst:.3f}%; total {table['seconds'].sum():.0f} s.",
        "",
        f"Each plan is in `{SOLUTIONS.relative_to(REPO)}/<dataset>/<instance>.csv` (`job,agent`, "
        "both 1-based as in the OR-Library file); `python -m bench.bench_gap --check` recomputes "
        "every cost and capacity from the instance files.",
    ]
    return "\n".join(lines)


def write_section(text: str, markers: tuple[str, str] = MARKERS) -> None:
    """Replace the text between the markers in bench/results/matcher.md (append if absent)."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    body = RESULTS.read_text() if RESULTS.exists() else "# Matcher benchmarks\n"
    block = f"{markers[0]}\n{text}\n{markers[1]}"
    if markers[0] in body and markers[1] in body:
        head, rest = body.split(markers[0], 1)
        body = head + block + rest.split(markers[1], 1)[1]
    else:
        body = body.rstrip("\n") + "\n\n" + block + "\n"
    RESULTS.write_text(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--only", default="", help="comma-separated instance names")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--check", action="store_true", help="check the written solutions; solve nothing"
    )
    args = parser.parse_args()
    if args.check:
        checks = check_all(GAP_DIR, RESULTS)
        print(checks_to_text(checks))  # noqa: T201 - a benchmark script reports on stdout
        sys.exit(0 if all(c.ok for c in checks) else 1)
    only = {s.strip() for s in args.only.split(",") if s.strip()} or None
    load_start = os.getloadavg()[0]
    table, solutions = run(args.time_limit, only)
    text = to_markdown(table, args.time_limit, (load_start, os.getloadavg()[0]))
    print(text)  # noqa: T201 - a benchmark script reports on stdout
    if not args.no_write and only is None:  # table and solution files always change together
        write_section(text)
        for instance, agent_of_job in solutions.items():
            write_solution(solution_path(instance), agent_of_job)


if __name__ == "__main__":
    main()
