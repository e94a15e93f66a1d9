"""Issue 22, the first hour on your own data: workspace per dataset, keys, compare, unknown lock
ids, infeasibility advice checked by re-solving, and the demo's copy-safe lines."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.workspace import matching_model_uri, no_model_message, workspace_for
from training.cli import app

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "tests" / "data" / "crm_sample"


def run(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def scores(tmp_path: Path) -> Path:
    accounts = pd.read_csv(SAMPLE / "accounts.csv", dtype={"account_id": "str"})
    path = tmp_path / "scores.csv"
    potential = [1000.0 * (i + 1) for i in range(len(accounts))]
    pd.DataFrame({"account_id": accounts["account_id"], "potential": potential}).to_csv(
        path, index=False
    )
    return path


def plan(data: Path, scores: Path, out: Path, scenario: Path | None = None):
    args = ["plan", "--data", str(data), "--scores", str(scores), "--out", str(out)]
    return run(*args, "--fit", "fallback", *(["--scenario", str(scenario)] if scenario else []))


# -- 1. one workspace per dataset ---------------------------------------------------------------
def test_workspace_layout_lives_in_the_data_dir_or_under_data_for_a_database(tmp_path):
    space = workspace_for(str(tmp_path / "maven"), tmp_path / "home")
    assert space.keys_file == tmp_path / "maven" / "api_keys.json"
    assert space.decisions_db == tmp_path / "maven" / "decisions.db"
    assert space.scores == tmp_path / "maven" / "scores.parquet"
    assert space.plans == tmp_path / "maven" / "plan"
    db = workspace_for(f"sqlite:///{tmp_path}/crm.db", tmp_path / "home")
    assert db.root.parent == tmp_path / "home" / "workspaces" and db.root.name.startswith("crm-")


def version(number: int, source: str | None):
    tags = {} if source is None else {"lineage.data_source": source}
    return SimpleNamespace(version=str(number), tags=tags)


class Registry:
    def __init__(self, champion, versions):
        self.champion, self.versions = champion, versions

    def get_model_version_by_alias(self, name, alias):
        if self.champion is None:
            raise LookupError("no alias")
        return self.champion

    def search_model_versions(self, query):
        return self.versions


def test_the_model_is_the_one_trained_on_the_data():
    demo, maven = version(1, "/d/demo"), version(2, "/d/maven")
    assert (
        matching_model_uri(Registry(maven, [demo, maven]), "m", "/d/maven") == "models:/m@champion"
    )
    assert matching_model_uri(Registry(maven, [demo, maven]), "m", "/d/demo") == "models:/m/1"
    assert matching_model_uri(Registry(None, [demo]), "m", "/d/other") is None


def test_serving_a_dataset_without_its_model_says_so_with_the_fix(tmp_path, monkeypatch):
    import mlflow

    from serving.settings import ServingSettings
    from serving.workspace_setup import NoMatchingModel, served_from

    (tmp_path / "mlflow.db").write_bytes(b"")
    monkeypatch.setattr(mlflow, "MlflowClient", lambda: Registry(version(1, "/d/demo"), []))
    monkeypatch.setattr(mlflow, "set_tracking_uri", lambda uri: None)
    settings = ServingSettings(data_dir=tmp_path)
    with pytest.raises(NoMatchingModel) as caught:
        served_from(settings, str(tmp_path / "maven"), None)
    store = f"sqlite:///{(tmp_path / 'mlflow.db').resolve()}"
    assert str(caught.value) == (
        f"no model in {store} was trained on {tmp_path / 'maven'}, so its accounts cannot be "
        f"scored or served with the right model. Train one on this data first: `territory train "
        f"--data {tmp_path / 'maven'} --promote` (or pass --model URI to choose one)."
    )
    assert str(caught.value) == no_model_message(str(tmp_path / "maven"), store)


def test_keys_create_makes_a_new_keys_file_and_finds_the_workspace(tmp_path):
    new = tmp_path / "fresh" / "keys.json"
    python = [sys.executable, "-m", "serving", "keys", "create"]
    done = subprocess.run(
        [*python, "--role", "manager", "--keys-file", str(new)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert list(json.loads(new.read_text())) == [done.stdout.strip()]
    data = Path(shutil.copytree(SAMPLE, tmp_path / "crm"))
    done = subprocess.run(
        [*python, "--role", "rep", "--rep", "R1", "--data", str(data)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    entry = json.loads((data / "api_keys.json").read_text())[done.stdout.strip()]
    assert entry == {"name": "R1", "role": "rep", "rep_id": "R1"}


def test_serve_with_a_new_keys_file_generates_it(tmp_path):
    from serving.__main__ import ensure_keys
    from serving.settings import ServingSettings

    new = tmp_path / "new-keys.json"
    path = ensure_keys(ServingSettings(data_dir=tmp_path), str(SAMPLE), new)
    assert path == new
    roles = sorted(e["role"] for e in json.loads(new.read_text()).values())
    assert roles.count("manager") == 1 and roles.count("rep") >= 1


def test_plan_and_score_default_to_the_workspace(tmp_path, scores):
    data = Path(shutil.copytree(SAMPLE, tmp_path / "crm"))
    pd.read_csv(scores).to_parquet(data / "scores.parquet")
    result = run("plan", "--data", str(data), "--fit", "fallback")
    assert result.exit_code == 0, result.output
    metrics = json.loads((data / "plan" / "current" / "metrics.json").read_text())
    assert metrics["data_source"] == str(data.resolve()) and metrics["accounts_count"] == 12


# -- 3. compare ---------------------------------------------------------------------------------
def test_compare_formats_money_counts_and_shares():
    from training.cli.compare import format_value

    assert format_value(-55355097.4, "money", "$", signed=True) == "-$55,355,097"
    assert format_value(1234567.0, "money", "€") == "€1,234,567"
    assert format_value(0.1234, "share") == "12.3%"
    assert format_value(-0.05, "share", signed=True) == "-5.0 pp"
    assert format_value(12345, "count", signed=True) == "+12,345"


def test_compare_shows_formatted_numbers_and_refuses_other_data(tmp_path, scores):
    assert plan(SAMPLE, scores, tmp_path / "a").exit_code == 0
    assert plan(SAMPLE, scores, tmp_path / "b").exit_code == 0
    table = run("compare", str(tmp_path / "a"), str(tmp_path / "b"))
    assert table.exit_code == 0, table.output
    assert re.search(r"expected value / yr\s*│\s*\$\d{1,3}(,\d{3})+\s*│", table.output)
    assert re.search(r"potential moved\s*│\s*\d+\.\d%", table.output)
    other = Path(shutil.copytree(SAMPLE, tmp_path / "other"))
    for csv in other.glob("*.csv"):
        csv.write_text(csv.read_text().replace("A011", "B011"))
    assert plan(other, scores, tmp_path / "c").exit_code == 0
    refused = run("compare", str(tmp_path / "a"), str(tmp_path / "c"))
    assert refused.exit_code != 0
    message = str(refused.exception)
    assert (
        f"{tmp_path / 'a'} planned {SAMPLE} (12 accounts), but {tmp_path / 'c'} planned "
        f"{other} (12 accounts): plans of different datasets cannot be compared." in message
    )


# -- 5. unknown ids in locks -------------------------------------------------------------------
def test_unknown_lock_ids_are_reported_in_the_console_and_report(tmp_path, scores):
    scenario = tmp_path / "locks.yaml"
    scenario.write_text(
        "limits:\n  workload_band: null\n  potential_band: null\n"
        "locks:\n  - {account_id: NOPE, rep_id: R1}\n"
    )
    result = plan(SAMPLE, scores, tmp_path / "p", scenario)
    assert result.exit_code == 0, result.output
    line = "ignored: lock NOPE->R1: no active account NOPE; fix the id in the scenario YAML"
    assert line in result.output
    report = (tmp_path / "p" / "current" / "report.md").read_text()
    assert "- lock NOPE->R1: no active account NOPE; fix the id in the scenario YAML" in report


# -- 6. infeasibility advice, checked by re-solving ---------------------------------------------
def test_relaxation_names_the_keys_and_restores_what_is_not_needed():
    from models.planning import Scenario, relax_until_feasible
    from models.planning.scenario import Limits

    calls = []

    def solve(scenario):
        calls.append(scenario.limits)
        ok = (scenario.limits.potential_band or 0) >= 0.3
        return SimpleNamespace(feasible=ok, status="optimal" if ok else "infeasible", moves=[1])

    start = Scenario(limits=Limits(workload_band=0.1, potential_band=0.0, max_moved_share=0.2))
    relaxed = relax_until_feasible(start, solve)
    assert relaxed.sentences() == [
        "set limits.potential_band: 0.3 (was 0: no rep may differ from the mean at all; 0.3 is "
        "the smallest tried value that works)",
        "checked by re-solving with exactly these values: optimal, 1 moves (8 solves).",
    ]
    assert calls[-1].workload_band == 0.1 and calls[-1].max_moved_share == 0.2


def test_an_infeasible_band_of_zero_gets_yaml_values_that_were_solved(tmp_path, scores):
    scenario = tmp_path / "zero.yaml"
    scenario.write_text("limits:\n  potential_band: 0\n  workload_band: 0.5\n")
    result = plan(SAMPLE, scores, tmp_path / "p", scenario)
    message = str(result.exception)
    assert result.exit_code != 0 and "what makes it feasible, in the scenario YAML:" in message
    assert "set limits.potential_band: " in message and "(was 0: no rep may differ" in message
    assert "checked by re-solving with exactly these values: " in message
    assert "13382" not in message and "%" not in message.split("what makes it")[1]
    report = (tmp_path / "p" / "v0001" / "report.md").read_text()
    assert "## What makes it feasible" in report


# -- 2. the demo's output -----------------------------------------------------------------------
def test_demo_stops_before_any_long_step_when_the_port_is_taken():
    from training.cli.demo import check_port

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(SystemExit) as caught:
            check_port(port)
    assert caught.value.code == 2


def test_demo_lines_are_whole_and_name_real_accounts(tmp_path):
    from training.cli.demo_output import (
        departed_note,
        port_problem,
        progress_line,
        rep_widget_lines,
        venv_note,
    )

    assert port_problem(3000) == (
        "error: port 3000 on 127.0.0.1 is already in use (another `make demo` or server?). "
        "Stop it, or pick another port: make demo PORT=3001"
    )
    assert venv_note(str(Path.cwd() / ".venv" / "bin" / "territory")) == (
        "commands below run .venv/bin/territory; to type `territory` yourself, first run "
        "`source .venv/bin/activate` (or call .venv/bin/territory directly)"
    )
    lines = rep_widget_lines(SAMPLE, "http://127.0.0.1:3000")
    assert lines[0] == "rep R1's widget: http://127.0.0.1:3000/widget/?account=007"
    assert "ACCOUNT_ID" not in "".join(lines) and len(lines) == 3
    assert progress_line("train", 30, 100) == (
        "  train: 30 s elapsed, estimate ~100 s (about 70 s left)"
    )
    reps = tmp_path / "reps.csv"
    pd.DataFrame({"rep_id": list("abcd"), "active": ["true", "true", "false", "false"]}).to_csv(
        reps, index=False
    )
    assert departed_note(reps, 2) == (
        "note: reps.csv has 4 rows for --reps 2: 2 active reps and 2 who left during the "
        "simulated years (active=false), kept because they owned accounts and closed deals in "
        "the history."
    )


def test_make_help_prints_the_real_port():
    done = subprocess.run(
        ["make", "-s", "help", "PORT=3007"], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert "serve on :3007" in done.stdout and "$(PORT)" not in done.stdout


def test_long_steps_print_elapsed_time_against_an_estimate():
    import time

    from training.cli.progress import ticking

    lines: list[str] = []
    with ticking("plan", 20000, say=lines.append, every_s=0.05):
        time.sleep(0.3)
    assert lines[0] == "plan: 20,000 accounts, estimate ~100 s on 2 cores"
    assert any(
        re.fullmatch(r"  plan: \d+ s elapsed, estimate ~100 s \(about \d+ s left\)", line)
        for line in lines[1:-1]
    )
    assert re.fullmatch(r"plan: done in \d+ s \(estimate ~100 s\)", lines[-1])


def test_estimates_follow_the_measured_sizes_and_grow_with_accounts():
    from training.cli.demo_output import STEP_COST_S, estimate_s

    for step, points in STEP_COST_S.items():
        for accounts, seconds in points:  # at a measured size the estimate is the measurement
            assert estimate_s(step, accounts) == pytest.approx(seconds)
        sizes = [1_000, 10_000, 50_000, 300_000, 1_000_000, 3_000_000]
        estimates = [estimate_s(step, n) for n in sizes]
        assert estimates == sorted(estimates) and min(estimates) > 0
    # training fits a bounded sample beyond ~60k accounts: far from 10x per 10x accounts
    assert estimate_s("train", 1_000_000) < 6 * estimate_s("train", 100_000)
    assert estimate_s("sample", 1_000) is None


def test_an_unknown_departure_stops_the_plan_naming_the_id(tmp_path, scores):
    scenario = tmp_path / "leave.yaml"
    scenario.write_text("remove_reps: [NOPE]\n")
    result = plan(SAMPLE, scores, tmp_path / "p", scenario)
    assert result.exit_code != 0
    assert str(result.exception) == (
        "scenario remove_reps names unknown rep(s) ['NOPE']; use rep_ids from reps.csv."
    )
