"""A small sample world written to disk, and an isolated MLflow store per test module."""

from __future__ import annotations

import pytest

from features.sample_world import SampleConfig, generate_world
from features.sample_world.writer import write_world


@pytest.fixture(scope="session")
def small_world_dir(tmp_path_factory):
    """800 accounts x 15 reps x 3 years, seed 11, as `territory sample` would write it."""
    out = tmp_path_factory.mktemp("world")
    write_world(generate_world(SampleConfig(n_accounts=800, n_reps=15, years=3, seed=11)), out)
    return out


@pytest.fixture
def territory_home(tmp_path, monkeypatch):
    """TERRITORY_DATA_DIR in a temp dir, so MLflow's SQLite store and artifacts are private."""
    monkeypatch.setenv("TERRITORY_DATA_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("TERRITORY_MLFLOW_TRACKING_URI", raising=False)
    return tmp_path
