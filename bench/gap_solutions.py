"""GAP solution files: write the agent of every job, and check a file against its instance.

One CSV per instance, ``bench/results/gap_solutions/<dataset>/<instance>.csv``, with the header
``job,agent`` and one row per job. Both are 1-based as in the OR-Library file: job j is the j-th
column of the cost matrix, agent i its i-th row (cost row i, weight row i, capacity i). The check
re-reads the instance, recomputes the cost and every agent's load, and compares the cost with the
value recorded in the results table (bench/results/matcher.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "bench" / "results" / "gap_solutions"
HEADER = "job,agent"


def read_gap(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cost m x n, weight m x n, capacity m) of one OR-Library GAP file."""
    numbers = np.array(path.read_text().split(), dtype=np.int64)
    m, n = int(numbers[0]), int(numbers[1])
    cost = numbers[2 : 2 + m * n].reshape(m, n)
    weight = numbers[2 + m * n : 2 + 2 * m * n].reshape(m, n)
    capacity = numbers[2 + 2 * m * n : 2 + 2 * m * n + m]
    return cost, weight, capacity


def solution_path(instance: str, root: Path = SOLUTIONS) -> Path:
    """Where the solution of ``instance`` (``dataset/name`` as in best_known.csv) lives."""
    return root / f"{instance}.csv"


def write_solution(path: Path, agent_of_job: np.ndarray) -> None:
    """Write 0-based agents (one per job, in file order) as the 1-based ``job,agent`` CSV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [f"{j + 1},{int(a) + 1}" for j, a in enumerate(agent_of_job)]
    path.write_text("\n".join([HEADER, *rows]) + "\n")


@dataclass(frozen=True)
class SolutionCheck:
    """What one solution file gives when recomputed from its instance file."""

    instance: str
    recorded: float | None
    cost: int | None
    max_load_share: float | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_solution(
    cost: np.ndarray, weight: np.ndarray, capacity: np.ndarray, solution: pd.DataFrame
) -> tuple[int | None, float | None, list[str]]:
    """Recomputed cost, the highest load / capacity, and every problem found (none: valid)."""
    m, n = cost.shape
    problems: list[str] = []
    if list(solution.columns) != HEADER.split(","):
        return None, None, [f"header {list(solution.columns)}, expected {HEADER!r}"]
    jobs = solution["job"].to_numpy()
    agents = solution["agent"].to_numpy()
    if sorted(jobs.tolist()) != list(range(1, n + 1)):
        missing = sorted(set(range(1, n + 1)) - set(jobs.tolist()))[:5]
        return None, None, [f"jobs must be 1..{n} once each ({len(jobs)} rows; missing {missing})"]
    bad = np.flatnonzero((agents < 1) | (agents > m))
    if bad.size:
        return None, None, [f"job {jobs[bad[0]]}: agent {agents[bad[0]]} not in 1..{m}"]
    agent = np.empty(n, dtype=np.int64)
    agent[jobs - 1] = agents - 1
    columns = np.arange(n)
    total = int(cost[agent, columns].sum())
    load = np.bincount(agent, weights=weight[agent, columns], minlength=m)
    for i in np.flatnonzero(load > capacity):
        problems.append(f"agent {i + 1}: load {load[i]:.0f} > capacity {capacity[i]}")
    share = float((load / np.maximum(capacity, 1)).max())
    return total, share, problems


def recorded_values(results_md: Path) -> dict[str, float]:
    """Instance -> value from the GAP table between the markers of the results file."""
    text = results_md.read_text()
    block = text.split("<!-- gap:start -->", 1)[-1].split("<!-- gap:end -->", 1)[0]
    values = {}
    for match in re.finditer(r"^\| ([\w-]+/[\w-]+) \| [^|]+ \| ([^|]+) \|", block, flags=re.M):
        raw = match.group(2).strip().replace(",", "")
        values[match.group(1)] = float(raw) if raw not in {"", "nan"} else float("nan")
    return values


def check_instance(
    instance: str, gap_dir: Path, recorded: float | None, root: Path = SOLUTIONS
) -> SolutionCheck:
    """Check one instance's solution file against its instance file and recorded value."""
    path = solution_path(instance, root)
    if not path.exists():
        return SolutionCheck(instance, recorded, None, None, (f"no solution file {path}",))
    cost, share, problems = check_solution(*read_gap(gap_dir / instance), pd.read_csv(path))
    if recorded is None:
        problems.append("no value recorded in the results table")
    elif cost is not None and cost != recorded:
        problems.append(f"cost {cost} != recorded value {recorded:g}")
    return SolutionCheck(instance, recorded, cost, share, tuple(problems))


def check_all(gap_dir: Path, results_md: Path, root: Path = SOLUTIONS) -> list[SolutionCheck]:
    """Check every instance of best_known.csv."""
    recorded = recorded_values(results_md)
    instances = pd.read_csv(gap_dir / "best_known.csv")["Path"]
    return [check_instance(name, gap_dir, recorded.get(name), root) for name in instances]


def checks_to_text(checks: list[SolutionCheck]) -> str:
    """A table of the checks and a last line that says whether all passed."""
    lines = [
        f"{'instance':<24} {'recorded':>9} {'recomputed':>10} {'max load':>9}  result",
    ]
    for c in checks:
        recorded = "-" if c.recorded is None else f"{c.recorded:,.0f}"
        cost = "-" if c.cost is None else f"{c.cost:,}"
        share = "-" if c.max_load_share is None else f"{100 * c.max_load_share:.1f}%"
        verdict = "ok" if c.ok else "FAIL: " + "; ".join(c.problems)
        lines.append(f"{c.instance:<24} {recorded:>9} {cost:>10} {share:>9}  {verdict}")
    failed = sum(not c.ok for c in checks)
    lines.append(
        f"{len(checks) - failed} of {len(checks)} solutions match their recorded value and fit "
        "every capacity" + ("" if not failed else f"; {failed} FAILED")
    )
    return "\n".join(lines)
