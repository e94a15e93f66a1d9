"""Pick which plan folder the service serves and read it through the plan folder's one reader.

The folder's schema, writer and strict reader are models.planning's (``write_plan_folder``,
``read_plan_folder``); a folder that does not follow it is NotReady with the reader's message,
which names the file, the column and the fix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from models.planning import Move, PlanFolder, PlanFolderError, read_plan_folder
from models.planning import plan_id_of as _plan_id_of
from serving.errors import NotReady

ASSIGNMENTS = "assignments.csv"

Plan = PlanFolder
"""The plan the service holds: a plan folder as read (serving's modules know it as ``Plan``)."""

__all__ = ["Move", "Plan", "choose_plan_dir", "find_plan_dirs", "plan_id_of", "read_plan"]


def plan_id_of(directory: Path) -> str:
    """metrics.json's plan_id if it has one, else a content hash of assignments.csv."""
    try:
        return _plan_id_of(directory)
    except PlanFolderError as exc:
        raise NotReady(str(exc)) from exc


def read_plan(directory: Path, current_owner: Mapping[str, str]) -> PlanFolder:
    """Load a plan folder written by `territory plan`; NotReady says what is wrong and the fix."""
    try:
        return read_plan_folder(Path(directory), current_owner)
    except PlanFolderError as exc:
        raise NotReady(str(exc)) from exc


def find_plan_dirs(roots: Iterable[Path]) -> list[Path]:
    """Every directory holding assignments.csv directly under or at the given roots."""
    found: set[Path] = set()
    for root in roots:
        root = Path(root)
        if (root / ASSIGNMENTS).is_file():
            found.add(root.resolve())
        if root.is_dir():
            found.update(p.parent.resolve() for p in root.glob(f"*/{ASSIGNMENTS}"))
    return sorted(found)


def choose_plan_dir(candidates: list[Path], statuses: Mapping[str, str]) -> Path | None:
    """The newest plan that is approved or proposed (never one marked superseded)."""
    usable = [
        p for p in candidates if statuses.get(plan_id_of(p), "proposed") in {"approved", "proposed"}
    ]
    if not usable:
        return None
    return max(usable, key=lambda p: (p / ASSIGNMENTS).stat().st_mtime)
