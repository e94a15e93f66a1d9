"""map.png of `territory plan`: a legend naming every rep, moves ringed and drawn, and a clear
message instead of empty axes when the accounts have no coordinates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.planning import Plan
from training.plan_map import NO_COORDINATES, map_figure, write_map


@pytest.fixture
def world():
    rng = np.random.default_rng(3)
    n = 40
    accounts = pd.DataFrame(
        {
            "account_id": [f"A{i}" for i in range(n)],
            "latitude": rng.uniform(30, 45, n),
            "longitude": rng.uniform(-120, -75, n),
        }
    )
    reps = pd.DataFrame(
        {
            "rep_id": ["R1", "R2", "R3"],
            "latitude": [35.0, 40.0, 33.0],
            "longitude": [-100.0, -80.0, -115.0],
            "active": [True, True, True],
        }
    )
    current = np.array(["R1", "R2", "R3"] * 14)[:n]
    planned = current.copy()
    planned[:5] = "R3"
    table = pd.DataFrame(
        {"account_id": accounts["account_id"], "rep_id": planned, "current_rep": current}
    )
    plan = Plan("optimal", dict(zip(table.account_id, planned, strict=True)), 1.0, 1.0, 0.0)
    return accounts, reps, table, plan


def test_map_has_a_legend_of_reps_and_rings_the_moves(world, tmp_path):
    import matplotlib.pyplot as plt

    accounts, reps, table, plan = world
    plan = Plan(plan.status, plan.rep_by_account, 1.0, 1.0, 0.0, assignments=table)
    fig = map_figure(plan, accounts, reps)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:2] == ["rep base", "moved account"] and labels[2:] == ["R1", "R2", "R3"]
    moved = int((table["rep_id"] != table["current_rep"]).sum())
    assert f"({moved} moves ringed)" in fig.axes[1].get_title()  # fewer than MOVE_LINES
    lines = [ln for ln in fig.axes[1].get_lines() if len(ln.get_xdata()) == 2]
    assert len(lines) == moved  # each move joined to its new owner's base
    plt.close(fig)
    path = write_map(plan, accounts, reps, tmp_path / "map.png")
    assert path.stat().st_size > 10_000


def test_map_without_coordinates_says_so(world):
    import matplotlib.pyplot as plt

    accounts, reps, table, plan = world
    plan = Plan(plan.status, plan.rep_by_account, 1.0, 1.0, 0.0, assignments=table)
    blank = accounts.assign(latitude=np.nan, longitude=np.nan)
    fig = map_figure(plan, blank, reps)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == [NO_COORDINATES] and fig.legends == []
    plt.close(fig)
