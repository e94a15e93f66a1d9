"""Every notebook executes top to bottom on a small sample world (so none of them rots)."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from features.sample_world import SampleConfig, generate_world
from features.sample_world.writer import write_world

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def notebook_world(tmp_path_factory):
    out = tmp_path_factory.mktemp("nbworld")
    write_world(generate_world(SampleConfig(n_accounts=2500, n_reps=20, years=3, seed=5)), out)
    return out


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, notebook_world, monkeypatch, tmp_path):
    monkeypatch.setenv("TERRITORY_NOTEBOOK_DATA", str(notebook_world))
    monkeypatch.setenv("TERRITORY_DATA_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "strip outputs before committing"
    )
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert not errors
    assert os.environ["TERRITORY_NOTEBOOK_DATA"] == str(notebook_world)
