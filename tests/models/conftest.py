"""Helpers for the matcher tests: tiny account/rep frames and a table-driven fit function."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest


def make_accounts(
    potential: Sequence[float],
    *,
    workload: Sequence[float] | None = None,
    positions: Sequence[tuple[float, float]] | None = None,
    industry: Sequence[str] | None = None,
    current: Sequence[str | None] | None = None,
) -> pd.DataFrame:
    n = len(potential)
    positions = positions or [(40.0, -100.0)] * n
    return pd.DataFrame(
        {
            "account_id": [f"a{i}" for i in range(n)],
            "potential": np.asarray(potential, dtype=float),
            "workload": np.asarray(workload if workload is not None else [1.0] * n, dtype=float),
            "latitude": [p[0] for p in positions],
            "longitude": [p[1] for p in positions],
            "industry": list(industry) if industry is not None else ["retail"] * n,
            "current_rep": pd.array(
                list(current) if current is not None else [None] * n, dtype="string"
            ),
        }
    )


def make_reps(
    capacity: Sequence[float],
    *,
    positions: Sequence[tuple[float, float]] | None = None,
    tenure: Sequence[float] | None = None,
    industries: Sequence[str] | None = None,
    active: Sequence[bool] | None = None,
) -> pd.DataFrame:
    m = len(capacity)
    positions = positions or [(40.0, -100.0)] * m
    return pd.DataFrame(
        {
            "rep_id": [f"r{j}" for j in range(m)],
            "name": [f"Rep {j}" for j in range(m)],
            "latitude": [p[0] for p in positions],
            "longitude": [p[1] for p in positions],
            "level": ["AE"] * m,
            "industries": list(industries) if industries is not None else [""] * m,
            "capacity": np.asarray(capacity, dtype=float),
            "tenure_years": np.asarray(tenure if tenure is not None else [5.0] * m, dtype=float),
            "active": list(active) if active is not None else [True] * m,
        }
    )


def table_fit(matrix: Sequence[Sequence[float]]):
    """A fit function reading fit[account_row][rep_row] from a table."""
    table = np.asarray(matrix, dtype=float)

    def fit(accounts, reps, account_rows, rep_rows):
        return table[np.asarray(account_rows), np.asarray(rep_rows)]

    fit.method = "table"
    return fit


def random_instance(n: int, m: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """n accounts and m reps scattered over a 4 x 6 degree box, everyone owned by someone."""
    rng = np.random.default_rng(seed)
    acc_pos = list(zip(rng.uniform(38, 42, n), rng.uniform(-104, -98, n), strict=True))
    rep_pos = list(zip(rng.uniform(38, 42, m), rng.uniform(-104, -98, m), strict=True))
    industries = ["retail", "energy", "health"]
    accounts = make_accounts(
        rng.lognormal(10, 1, n),
        workload=rng.uniform(0.6, 1.6, n),
        positions=acc_pos,
        industry=rng.choice(industries, n).tolist(),
        current=[f"r{j}" for j in rng.integers(0, m, n)],
    )
    total = accounts["workload"].sum()
    reps = make_reps(
        np.full(m, 1.3 * total / m),
        positions=rep_pos,
        tenure=rng.uniform(0, 10, m).tolist(),
        industries=rng.choice(industries, m).tolist(),
    )
    return accounts, reps


@pytest.fixture
def no_bands():
    from models.planning import scenario_from_dict

    return scenario_from_dict(
        {
            "limits": {"workload_band": None, "potential_band": None},
            "weights": {"travel_cost_per_km": 0.0},
        }
    )


@pytest.fixture
def mk():
    """The builders above, for tests (conftest is not importable under importlib mode)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        accounts=make_accounts, reps=make_reps, fit=table_fit, random=random_instance
    )


def _d_type_gap(seed: int, n: int, m: int):
    """A GAP instance by OR-Library type D's recipe (weights 1-100, cost 111 - weight +- 10,
    capacities at 80% of the average load): tightly packed, so no bound alone closes it."""
    from models.solver import AgentRows, AssignmentProblem

    rng = np.random.default_rng(seed)
    weight = rng.integers(1, 101, (n, m)).astype(float)
    cost = 111 - weight + rng.integers(-10, 11, (n, m))
    capacity = np.floor(0.8 * weight.sum(axis=0) / m)
    rows = (AgentRows("capacity", weight, np.full(m, -np.inf), capacity),)
    return AssignmentProblem(np.tile(np.arange(m), (n, 1)), -cost, m, rows)


@pytest.fixture
def d_type_gap():
    """``d_type_gap(seed, n, m)``: a type-D GAP instance with n jobs and m agents."""
    return _d_type_gap
