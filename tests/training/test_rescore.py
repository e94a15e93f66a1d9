"""Scheduled rescoring: unchanged accounts are skipped, changed ones rescored, the file atomic."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.loaders import load_crm
from tests.serving.fixtures.world import write_tiny_world
from tests.training.small_model import register_small_model
from training.batch import FINGERPRINT, read_previous_scores
from training.cli import app

pytestmark = [pytest.mark.model]
SCORE_COLUMNS = ["account_id", "potential", "percentile", "tier", "top_reasons", "narrative"]


@pytest.fixture
def world(tmp_path, monkeypatch):
    crm = write_tiny_world(tmp_path / "crm", n_accounts=200, n_reps=6)
    home = tmp_path / "state"
    home.mkdir()
    monkeypatch.setenv("TERRITORY_DATA_DIR", str(home))
    monkeypatch.delenv("TERRITORY_MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    register_small_model(load_crm(str(crm)).tables, home)
    return crm


def score(crm, out, *extra):
    result = CliRunner().invoke(app, ["score", "--data", str(crm), "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return result.output


def test_unchanged_accounts_are_skipped_and_changed_ones_rescored(world, tmp_path):
    out = tmp_path / "scores.csv"
    first = score(world, out)
    n = len(pd.read_csv(out))
    assert f"rescored {n}, skipped 0" in first
    before = read_previous_scores(out)
    assert before[FINGERPRINT].str.fullmatch(r"[0-9a-f]{16}").all()
    assert before["model_version"].eq("account-potential v1").all()

    second = score(world, out)  # no data change: the default previous file is --out itself
    assert f"rescored 0, skipped {n}" in second
    again = read_previous_scores(out)
    pd.testing.assert_frame_equal(before[SCORE_COLUMNS], again[SCORE_COLUMNS])
    assert (before[FINGERPRINT] == again[FINGERPRINT]).all()

    accounts = pd.read_csv(world / "accounts.csv", dtype=str)
    changed = again.sort_values("potential")["account_id"].iloc[len(again) // 2]
    accounts.loc[accounts["account_id"] == changed, "employees"] = "250000"
    accounts.to_csv(world / "accounts.csv", index=False)
    third = score(world, out)
    assert f"rescored 1, skipped {n - 1}" in third
    after = read_previous_scores(out).set_index("account_id")
    old_print = again.set_index("account_id").loc[changed, FINGERPRINT]
    assert after.loc[changed, FINGERPRINT] != old_print
    assert not list(tmp_path.glob(".scores.csv.*.tmp"))  # the temp file was renamed away

    forced = score(world, out, "--all")
    assert f"rescored {n}, skipped 0" in forced
    pd.testing.assert_frame_equal(
        after.reset_index()[SCORE_COLUMNS], read_previous_scores(out)[SCORE_COLUMNS]
    )


def test_a_new_model_version_rescores_every_account(world, tmp_path):
    out = tmp_path / "scores.parquet"
    score(world, out)
    n = len(pd.read_parquet(out))
    register_small_model(load_crm(str(world)).tables, tmp_path / "state", n_estimators=30)
    output = score(world, out)
    assert f"rescored {n}, skipped 0" in output
    assert pd.read_parquet(out)["model_version"].eq("account-potential v2").all()
