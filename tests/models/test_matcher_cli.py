"""`territory plan` and `territory compare` on the shipped CRM sample."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from models.errors import InfeasiblePlanError
from training.cli import app

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "crm_sample"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "scenarios"


@pytest.fixture
def scores(tmp_path: Path) -> Path:
    accounts = pd.read_csv(SAMPLE / "accounts.csv", dtype={"account_id": "str"})
    path = tmp_path / "scores.csv"
    potential = [1000.0 * (i + 1) for i in range(len(accounts))]
    pd.DataFrame({"account_id": accounts["account_id"], "potential": potential}).to_csv(
        path, index=False
    )
    return path


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_plan_writes_every_file_and_compare_shows_both(tmp_path: Path, scores: Path):
    first = run(
        "plan",
        "--data",
        str(SAMPLE),
        "--scores",
        str(scores),
        "--out",
        str(tmp_path / "a"),
        "--fit",
        "fallback",
    )
    assert first.exit_code == 0, first.output
    for name in ("assignments.csv", "moves.csv", "metrics.json", "report.md", "map.png"):
        assert (tmp_path / "a" / "current" / name).is_file(), name
    metrics = json.loads((tmp_path / "a" / "current" / "metrics.json").read_text())
    assert metrics["status"] in {"optimal", "feasible"}
    assert metrics["fit_method"] == "fallback"
    assignments = pd.read_csv(tmp_path / "a" / "current" / "assignments.csv")
    assert len(assignments) == 12 and assignments["rep_id"].notna().all()
    scenario = tmp_path / "tight.yaml"
    scenario.write_text("name: tight\nlimits:\n  balance_band: 0.5\n  max_moved_share: 0.2\n")
    second = run(
        "plan",
        "--data",
        str(SAMPLE),
        "--scores",
        str(scores),
        "--out",
        str(tmp_path / "b"),
        "--scenario",
        str(scenario),
        "--fit",
        "fallback",
    )
    assert second.exit_code == 0, second.output
    table = run("compare", str(tmp_path / "a"), str(tmp_path / "b"))
    assert table.exit_code == 0, table.output
    assert "accounts moved" in table.output and "default vs tight" in table.output


def test_plan_without_scores_or_model_says_where_to_get_them(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("TERRITORY_DATA_DIR", str(tmp_path / "state"))  # an empty MLflow store
    monkeypatch.delenv("TERRITORY_MLFLOW_TRACKING_URI", raising=False)
    result = run("plan", "--data", str(SAMPLE), "--out", str(tmp_path / "plan"))
    assert result.exit_code != 0
    message = str(result.exception) + result.output
    assert "territory train" in message and "--scores" in message
    assert not (tmp_path / "plan" / "assignments.csv").exists()


def test_infeasible_scenario_is_explained_not_a_traceback(tmp_path: Path, scores: Path):
    scenario = tmp_path / "far.yaml"
    scenario.write_text("limits:\n  max_travel_km: 1\n")
    result = run(
        "plan",
        "--data",
        str(SAMPLE),
        "--scores",
        str(scores),
        "--out",
        str(tmp_path),
        "--scenario",
        str(scenario),
        "--fit",
        "fallback",
    )
    assert isinstance(result.exception, InfeasiblePlanError)
    assert "max_travel_km=1" in str(result.exception)
    assert "Why no plan" in (tmp_path / "v0001" / "report.md").read_text()
    assert not (tmp_path / "current").exists()  # an infeasible run never becomes current
    # the reason is printed before the (long) search for looser limits starts, not only after
    why, search = result.output.find("max_travel_km=1"), result.output.find("re-solving")
    assert 0 <= why < search


def test_stopping_the_search_for_looser_limits_still_writes_the_plan_folder(
    tmp_path: Path, scores: Path, monkeypatch
):
    import models.planning

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(models.planning, "relax_until_feasible", interrupted)
    scenario = tmp_path / "far.yaml"
    scenario.write_text("limits:\n  max_travel_km: 1\n")
    args = ["--scores", str(scores), "--out", str(tmp_path), "--scenario", str(scenario)]
    result = run("plan", "--data", str(SAMPLE), *args, "--fit", "fallback")
    assert isinstance(result.exception, InfeasiblePlanError)
    assert "stopped (Ctrl-C)" in str(result.exception)
    metrics = json.loads((tmp_path / "v0001" / "metrics.json").read_text())
    assert any("stopped (Ctrl-C)" in line for line in metrics["feasible_with"])


@pytest.mark.parametrize("name", sorted(p.name for p in DOCS.glob("*.yaml")))
def test_shipped_scenarios_parse(name: str):
    import yaml

    from models.planning import scenario_from_dict

    raw = yaml.safe_load((DOCS / name).read_text())
    scenario = scenario_from_dict(raw)
    assert scenario.name == raw["name"] and scenario.description == raw.get("description", "")
    # every setting the file writes reaches the scenario as written (no key silently dropped)
    for section in ("limits", "weights", "solver"):
        for key, value in (raw.get(section) or {}).items():
            if not isinstance(value, dict) and key != "balance_band":
                assert getattr(getattr(scenario, section), key) == value, (section, key)
    assert len(scenario.locks) == len(raw.get("locks") or [])
    assert len(scenario.add_reps) == len(raw.get("add_reps") or [])
    assert list(scenario.remove_reps) == [str(r) for r in raw.get("remove_reps") or []]


def test_compare_reads_plan_folders_through_the_strict_reader(tmp_path: Path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "metrics.json").write_text(json.dumps({"status": "optimal"}))
    result = run("compare", str(tmp_path / "old"), str(tmp_path / "none"))
    assert result.exit_code != 0
    assert "schema_version is None" in result.output and "rerun `territory plan" in result.output
