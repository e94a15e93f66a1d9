"""The value-versus-moves curve: `territory plan --tradeoff` on the shipped CRM sample."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from models.planning import read_plan_folder, read_tradeoff
from training.cli import app

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "crm_sample"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "scenarios"


@pytest.mark.slow  # seven solves of the sample (about a minute under load)
def test_plan_with_tradeoff_writes_the_curve_to_the_folder_and_the_report(tmp_path: Path):
    accounts = pd.read_csv(SAMPLE / "accounts.csv", dtype={"account_id": "str"})
    scores = tmp_path / "scores.csv"
    pd.DataFrame(
        {"account_id": accounts["account_id"], "potential": 1000.0 * (1 + accounts.index)}
    ).to_csv(scores, index=False)
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "name: t\nlimits:\n  workload_band: 0.5\n  potential_band: 0.5\n  max_moved_share: 0.08\n"
        "solver:\n  time_limit_s: 14\n"
    )
    args = ["plan", "--data", str(SAMPLE), "--scores", str(scores), "--scenario", str(scenario)]
    result = CliRunner().invoke(
        app, [*args, "--out", str(tmp_path / "p"), "--fit", "fallback", "--tradeoff"]
    )
    assert result.exit_code == 0, result.output
    folder = tmp_path / "p" / "current"
    points = read_tradeoff(folder)
    assert points is not None
    budgets = [p["max_moved_share"] for p in points]
    assert budgets == sorted(budgets) and {0.01, 0.08, 0.3} <= set(budgets)
    chosen = [p for p in points if p["chosen"]]
    plan = read_plan_folder(folder)
    assert len(chosen) == 1 and chosen[0]["objective"] == pytest.approx(plan.plan.objective)
    n = len(plan.plan.rep_by_account)
    for p in points:
        if p["objective"] is not None:
            assert p["moves_by_choice"] <= math.floor(p["max_moved_share"] * n + 1e-9)
    feasible = [p["objective"] for p in points if p["objective"] is not None]
    # more budget never makes the best plan worse (small solver slack allowed)
    assert all(b >= a - 1e-3 * abs(a) for a, b in zip(feasible, feasible[1:], strict=False))
    assert (folder / "tradeoff.png").stat().st_size > 1000
    assert "## Value versus moves" in (folder / "report.md").read_text()
    assert "(this plan)" in (folder / "report.md").read_text()
