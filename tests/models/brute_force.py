"""Every feasible plan of an assignment problem small enough to list them all (test oracle)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np

from models.solver import AssignmentProblem, is_feasible, objective_value


def feasible_plans(problem: AssignmentProblem) -> Iterator[tuple[np.ndarray, float]]:
    """(slot per item, value) for every feasible plan over the problem's valid slots."""
    slots = [np.flatnonzero(problem.valid[i]) for i in range(problem.n_items)]
    for combo in itertools.product(*slots):
        choice = np.array(combo)
        if is_feasible(problem, choice):
            yield choice, objective_value(problem, choice)
