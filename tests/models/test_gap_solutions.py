"""GAP solution files (bench/results/gap_solutions): committed ones hold, broken ones fail."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.gap_solutions import (
    SOLUTIONS,
    check_all,
    check_instance,
    check_solution,
    checks_to_text,
    read_gap,
    recorded_values,
    solution_path,
    write_solution,
)

RESULTS_MD = Path(__file__).resolve().parents[2] / "bench" / "results" / "matcher.md"

# 2 agents x 3 jobs, OR-Library layout: m n, cost rows, weight rows, capacities
TINY = """2 3
 4 6 9
 5 2 3
 3 4 5
 2 3 4
 7 6
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "t1").write_text(TINY)
    return tmp_path


def frame(agents: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"job": np.arange(1, len(agents) + 1), "agent": agents})


def test_cost_and_loads_are_recomputed_from_the_instance(tiny):
    cost, weight, capacity = read_gap(tiny / "toy" / "t1")
    # jobs 1, 2 to agent 1 (weights 3 + 4 = 7 <= 7), job 3 to agent 2 (weight 4 <= 6)
    total, share, problems = check_solution(cost, weight, capacity, frame([1, 1, 2]))
    assert total == 4 + 6 + 3
    assert share == pytest.approx(1.0)
    assert problems == []


def test_written_file_round_trips_one_based(tiny):
    write_solution(solution_path("toy/t1", tiny), np.array([0, 0, 1]))
    text = solution_path("toy/t1", tiny).read_text().splitlines()
    assert text == ["job,agent", "1,1", "2,1", "3,2"]
    check = check_instance("toy/t1", tiny, 13.0, root=tiny)
    assert check.ok, check.problems
    assert check.cost == 13


def test_capacity_overrun_is_caught(tiny):
    cost, weight, capacity = read_gap(tiny / "toy" / "t1")
    _, _, problems = check_solution(cost, weight, capacity, frame([1, 1, 1]))
    assert problems == ["agent 1: load 12 > capacity 7"]


def test_cost_differing_from_the_recorded_value_is_caught(tiny):
    write_solution(solution_path("toy/t1", tiny), np.array([0, 0, 1]))
    check = check_instance("toy/t1", tiny, 12.0, root=tiny)
    assert not check.ok
    assert check.problems == ("cost 13 != recorded value 12",)
    assert "1 FAILED" in checks_to_text([check])


@pytest.mark.parametrize(
    ("solution", "message"),
    [
        (frame([1, 2]), "jobs must be 1..3"),
        (frame([1, 3, 2]), "agent 3 not in 1..2"),
        (frame([0, 1, 2]), "agent 0 not in 1..2"),
        (pd.DataFrame({"job": [1, 1, 3], "agent": [1, 1, 2]}), "jobs must be 1..3"),
        (pd.DataFrame({"agent": [1, 1, 2]}), "header"),
    ],
)
def test_malformed_solutions_are_caught(tiny, solution, message):
    _, _, problems = check_solution(*read_gap(tiny / "toy" / "t1"), solution)
    assert len(problems) == 1
    assert message in problems[0]


def test_missing_solution_file_is_caught(tiny):
    check = check_instance("toy/t1", tiny, 13.0, root=tiny)
    assert not check.ok
    assert "no solution file" in check.problems[0]


def test_committed_solutions_match_the_results_table(shared_data):
    checks = check_all(shared_data / "gap", RESULTS_MD)
    assert len(checks) == 20
    assert all(c.ok for c in checks), checks_to_text(checks)


def test_corrupted_committed_solution_is_caught(shared_data, tmp_path):
    instance = "chu1997/c10200"
    gap_dir = shared_data / "gap"
    cost, weight, capacity = read_gap(gap_dir / instance)
    agents = pd.read_csv(solution_path(instance))["agent"].to_numpy() - 1
    recorded = recorded_values(RESULTS_MD)[instance]
    # move jobs onto agent 1 until it overflows
    heavy = agents.copy()
    for job in np.argsort(-weight[0]):
        heavy[job] = 0
        if weight[0, heavy == 0].sum() > capacity[0]:
            break
    write_solution(solution_path(instance, tmp_path), heavy)
    check = check_instance(instance, gap_dir, recorded, root=tmp_path)
    assert any(p.startswith("agent 1: load") for p in check.problems)
    # the committed plan against a value it does not have: feasible, but not the recorded cost
    # (a plan at the optimum of a tight instance may have no single move that still fits)
    write_solution(solution_path(instance, tmp_path), agents)
    check = check_instance(instance, gap_dir, recorded + 1, root=tmp_path)
    assert len(check.problems) == 1
    assert check.problems[0].endswith(f"!= recorded value {recorded + 1:g}")
    check = check_instance(instance, gap_dir, recorded, root=tmp_path)
    assert check.problems == ()


def test_solution_directory_is_under_the_results():
    assert SOLUTIONS.relative_to(RESULTS_MD.parent) == Path("gap_solutions")
