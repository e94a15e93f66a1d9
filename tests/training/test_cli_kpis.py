"""`territory kpis`, `territory outcomes` and `territory goals` end to end on sample worlds."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.loaders import load_crm
from features.sample_world import SampleConfig, generate_world
from features.sample_world.after_plan import simulate_year_after
from features.sample_world.writer import write_world
from models.kpis import kpi_table
from tests.serving.fixtures.plans import write_plan
from training.cli import app

CONFIG = SampleConfig(n_accounts=800, n_reps=15, years=2, seed=13)


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_kpis_by_region_writes_the_table(small_world_dir, tmp_path):
    out = tmp_path / "kpis.csv"
    result = invoke(
        "kpis", "--data", small_world_dir, "--by", "region", "--from", "2025-07-01",
        "--to", "2026-07-01", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out)
    tables = load_crm(str(small_world_dir)).tables
    expected = kpi_table(tables, "2025-07-01", "2026-07-01", by="region")
    assert written["region"].tolist() == expected["region"].tolist()
    assert written["won_revenue"].tolist() == pytest.approx(expected["won_revenue"].tolist())


def test_kpis_bad_grouping_is_one_clear_message(small_world_dir):
    result = invoke("kpis", "--data", small_world_dir, "--by", "team")
    assert result.exit_code != 0
    assert "--by 'team'" in str(result.exception or result.output)


@pytest.fixture(scope="module")
def after_plan(tmp_path_factory):
    """A plan on a world, half its moves held back, and the world a year after it."""
    root = tmp_path_factory.mktemp("after")
    world = generate_world(CONFIG)
    won = world.tables.opportunities.query("stage == 'won'").groupby("account_id")["amount"].sum()
    scores = pd.DataFrame({"account_id": world.tables.accounts["account_id"]})
    scores["potential"] = scores["account_id"].map(won).fillna(0.0).to_numpy() + 100.0
    plan = write_plan(root / "plan", world.tables, scores, n_moves=40)
    moves = pd.read_csv(plan / "moves.csv", dtype=str)
    held = moves.iloc[::2]
    held[["account_id"]].to_csv(root / "holdback.csv", index=False)
    made = moves.iloc[1::2]
    after = simulate_year_after(
        CONFIG, dict(zip(made["account_id"], made["to_rep_id"], strict=True))
    )
    write_world(after.world, root / "crm")
    return root, plan, after, scores


def test_outcomes_writes_per_account_and_rep_tables(after_plan):
    root, plan, after, _ = after_plan
    result = invoke(
        "outcomes", "--data", root / "crm", "--plan", plan, "--effective",
        str(after.effective.date()), "--holdback", root / "holdback.csv", "--out", root / "out",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "held back at random" in result.output
    accounts = pd.read_csv(root / "out" / "outcome_accounts.csv")
    assert accounts["group"].value_counts().to_dict() == {"kept": 760, "moved": 20, "held_back": 20}
    assert accounts["plan_applied"].all()
    reps = pd.read_csv(root / "out" / "outcome_reps.csv")
    assert reps["actual"].sum() == pytest.approx(accounts["actual"].sum())


def test_goals_are_written_into_the_plan_folder(after_plan):
    root, plan, _, scores = after_plan
    holdout = scores.rename(columns={"potential": "predicted"})
    holdout["actual"] = holdout["predicted"] * 0.9
    holdout.to_csv(root / "holdout.csv", index=False)
    result = invoke(
        "goals", "--data", root / "crm", "--plan", plan, "--holdout", root / "holdout.csv"
    )
    assert result.exit_code == 0, result.output
    goals = pd.read_csv(plan / "goals.csv")
    assignments = pd.read_csv(plan / "assignments.csv")
    assert goals["accounts"].sum() == len(assignments)
    assert goals["goal"].sum() == pytest.approx(0.9 * assignments["potential"].sum(), rel=1e-6)
    doc = json.loads((plan / "goals.json").read_text())
    assert doc["scale"] == pytest.approx(0.9) and doc["confidence"] == 0.8
