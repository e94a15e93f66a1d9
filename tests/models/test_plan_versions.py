"""Plan folders as immutable versions: a re-plan never touches an earlier version; `current`
moves only to a feasible plan; every reader handed the root reads `current`."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from models.planning import (
    Plan,
    PlanFolderError,
    metrics_document,
    plan_id_of,
    plan_versions,
    read_plan_folder,
    read_plan_metrics,
    resolve_plan_folder,
    write_plan_folder,
    write_plan_version,
)


def _plan(owner: str, status: str = "optimal") -> Plan:
    assignments = pd.DataFrame(
        {
            "account_id": ["A1", "A2"],
            "rep_id": [owner, "R1"],
            "current_rep": ["R1", "R1"],
            "change": ["moved" if owner != "R1" else "kept", "kept"],
            "potential": [10.0, 5.0],
            "workload": 1.0,
            "fit": 1.0,
            "expected_value": [10.0, 5.0],
            "distance_km": 0.0,
            "region": "all",
        }
    )
    feasible = status != "infeasible"
    return Plan(
        status,
        {"A1": owner, "A2": "R1"} if feasible else {},
        objective=1.0,
        bound=1.0,
        gap=0.0,
        moves=(),
        assignments=assignments if feasible else None,
        conflicts=() if feasible else ("capacity of R1: 2 accounts, room for 1",),
    )


def _write(root: Path, plan: Plan):
    return write_plan_version(plan, root, metrics_document(plan, "t", {}), "# report\n")


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_each_run_is_a_new_read_only_version_and_current_follows_feasible_ones(tmp_path):
    root = tmp_path / "plans"
    first = _write(root, _plan("R2"))
    before = _digests(first.folder)
    assert first.folder == root / "v0001" and first.current and first.version == 1
    assert resolve_plan_folder(root) == first.folder.resolve()
    assert all(not (p.stat().st_mode & 0o222) for p in first.folder.iterdir())  # read-only
    second = _write(root, _plan("R3"))
    assert second.folder == root / "v0002" and second.plan_id != first.plan_id
    assert _digests(first.folder) == before  # the earlier version is byte-identical
    assert plan_id_of(root) == second.plan_id == read_plan_folder(root).plan_id
    failed = _write(root, _plan("R1", status="infeasible"))
    assert failed.folder == root / "v0003" and failed.current is False
    assert read_plan_metrics(root)["plan_version"] == 2  # current stays on the feasible v0002
    assert [p.name for p in plan_versions(root)] == ["v0001", "v0002", "v0003"]
    assert not list((root / ".partial").iterdir())
    assert read_plan_folder(first.folder).planned_owner["A1"] == "R2"


def test_a_folder_written_before_versions_is_never_rewritten(tmp_path):
    plan = _plan("R2")
    write_plan_folder(plan, tmp_path / "old", metrics_document(plan, "t", {}), "# old\n")
    before = _digests(tmp_path / "old")
    with pytest.raises(PlanFolderError, match="never rewritten in place"):
        _write(tmp_path / "old", _plan("R3"))
    assert _digests(tmp_path / "old") == before
