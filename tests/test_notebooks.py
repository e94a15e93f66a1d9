"""Every notebook executes top to bottom on a small sample world (so none of them rots)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from features.sample_world import SampleConfig, generate_world
from features.sample_world.writer import write_world

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))

N_ACCOUNTS, N_REPS = 2500, 20


@pytest.fixture(scope="module")
def notebook_world(tmp_path_factory):
    out = tmp_path_factory.mktemp("nbworld")
    write_world(
        generate_world(SampleConfig(n_accounts=N_ACCOUNTS, n_reps=N_REPS, years=3, seed=5)), out
    )
    return out


# A cell appended to each notebook: what it computed, as one JSON line the test then checks.
SUMMARY = {
    "01-explore-crm-data.ipynb": """{
    "accounts": len(tables.accounts),
    "active_reps": int(tables.reps["active"].sum()),
    "share_top20": float(share_top20),
    "years_with_wins": len(won_by_year),
}""",
    "02-potential-model.ipynb": """{
    "feature_rows": len(features),
    "capture_top20": {k: float(v) for k, v in cmp.items()},
    "chosen": result.chosen,
    "candidates": list(result.selection["candidate"]),
}""",
    "04-retraining-report.ipynb": """{
    "first": first.decision,
    "gates": len(first.gates),
    "failed_gates": [g.name for g in first.gates if not g.passed],
    "again": again.decision,
    "drift_columns": len(drift),
    "planted_status": report["status"],
}""",
    "03-plan.ipynb": """{
    "scored": len(scores),
    "unique_scored": int(scores["account_id"].nunique()),
    "status": metrics["status"],
    "metrics_moves": metrics["moves"],
    "moves_rows": len(moves),
}""",
    "05-kpis.ipynb": """{
    "company_won": float(company["won_revenue"]),
    "direct_won": float(direct_won),
    "rep_won": float(by_rep["won_revenue"].sum()),
    "lift_ratio": float(lift.lift_ratio),
    "lift_low": float(lift.lift_ratio_low),
    "lift_high": float(lift.lift_ratio_high),
    "true_ratio": float(true_ratio),
    "coverage_rate": coverage_rate,
    "fair_spread": view["spread_p90_p10"],
}""",
}


def check_summary(name: str, got: dict) -> None:
    """What each notebook must have computed on the notebook world."""
    if name.startswith("01-"):
        # the world also holds reps who left during its history (inactive)
        assert (got["accounts"], got["active_reps"]) == (N_ACCOUNTS, N_REPS)
        assert 0 < got["share_top20"] <= 1
        assert got["years_with_wins"] >= 3
    elif name.startswith("02-"):
        assert 0 < got["feature_rows"] <= N_ACCOUNTS
        capture = got["capture_top20"]
        assert capture["potential_model"] > capture["firmographic_rule"]
        assert got["chosen"] in got["candidates"]
    elif name.startswith("04-"):
        assert got["first"] == "promoted", got["failed_gates"]
        assert got["gates"] >= 6 and got["failed_gates"] == []
        assert got["again"] == "kept"
        assert got["drift_columns"] > 10
        assert got["planted_status"] == "alert"
    elif name.startswith("05-"):
        assert got["company_won"] == pytest.approx(got["direct_won"]) == got["rep_won"]
        assert got["true_ratio"] > 0
        assert got["lift_low"] <= got["lift_ratio"] <= got["lift_high"]
        assert abs(got["lift_ratio"] - got["true_ratio"]) < 0.3  # 2,500 accounts: a noisy lift
        assert 0.65 <= got["coverage_rate"] <= 0.95
        assert got["fair_spread"] > 0
    else:
        assert got["scored"] == got["unique_scored"] > 0
        assert got["status"] in {"optimal", "feasible"}
        assert got["metrics_moves"] == got["moves_rows"] > 0


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 2


def test_every_notebook_has_a_summary_check():
    assert sorted(SUMMARY) == [p.name for p in NOTEBOOKS]


@pytest.mark.slow
@pytest.mark.model  # 02 and 03 train on a 2,500-account world
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, notebook_world, monkeypatch, tmp_path):
    monkeypatch.setenv("TERRITORY_NOTEBOOK_DATA", str(notebook_world))
    monkeypatch.setenv("TERRITORY_DATA_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "strip outputs before committing"
    )
    summary = f"import json as _json\nprint(_json.dumps({SUMMARY[path.name]}))"
    nb.cells.append(nbformat.v4.new_code_cell(summary))
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert not errors
    printed = [o.text for o in nb.cells[-1].outputs if o.output_type == "stream"]
    check_summary(path.name, json.loads(printed[-1]))
