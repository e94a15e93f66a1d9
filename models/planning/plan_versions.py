"""Plan folders as immutable versions: ``territory plan --out ROOT`` writes ``ROOT/v0001``,
``ROOT/v0002``, ... and points ``ROOT/current`` at the newest feasible one.

A version is written whole in ``ROOT/.partial/``, made read-only, then renamed into place (an
atomic rename), so a reader never sees half a version and no version is ever rewritten; the
``current`` link is switched with an atomic replace. Readers handed ROOT read ``current``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.planning.plan import Plan
from models.planning.plan_files import (
    ASSIGNMENTS,
    CURRENT,
    METRICS,
    PlanFolderError,
    write_plan_folder,
)

PARTIAL = ".partial"
VERSION = re.compile(r"v(\d{4,})")


@dataclass(frozen=True)
class PlanVersion:
    """One written version: its folder, number and plan_id, whether ``current`` now points at it
    (only a feasible plan becomes current), and the files written."""

    folder: Path
    version: int
    plan_id: str
    current: bool
    written: list[Path]


def plan_versions(root: Path) -> list[Path]:
    """The version folders under ``root``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and VERSION.fullmatch(p.name)]
    return sorted(found, key=lambda p: int(p.name[1:]))


def write_plan_version(
    plan: Plan,
    root: Path,
    document: Mapping[str, Any],
    report_md: str,
    extra: Callable[[Path], list[Path]] | None = None,
) -> PlanVersion:
    """Write the plan as the next version under ``root`` (never touching an existing one) and,
    when it is feasible, point ``root/current`` at it. ``extra(folder)`` adds files (the map)."""
    root = Path(root)
    _refuse_unversioned(root)
    staging = root / PARTIAL
    staging.mkdir(parents=True, exist_ok=True)
    number = _next_number(root)
    tmp = staging / f"v{number:04d}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    stamped = {**document, "plan_version": number, "created_at": _now()}
    write_plan_folder(plan, tmp, stamped, report_md)
    plan_id = _plan_id(root, tmp, number)
    (tmp / METRICS).write_text(json.dumps({**stamped, "plan_id": plan_id}, indent=2))
    if extra is not None:
        extra(tmp)
    for path in tmp.iterdir():
        path.chmod(0o444)  # an approved plan is immutable: its files are read-only too
    folder = _publish(tmp, root, number)
    feasible = (folder / ASSIGNMENTS).is_file()
    if feasible:
        point_current(root, folder)
    written = sorted(folder.iterdir())
    return PlanVersion(folder, int(folder.name[1:]), plan_id, feasible, written)


def point_current(root: Path, folder: Path) -> None:
    """Point ``root/current`` at the version ``folder`` (one atomic replace)."""
    link = Path(root) / f".{CURRENT}-{os.getpid()}"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(Path(folder).name, target_is_directory=True)
    os.replace(link, Path(root) / CURRENT)


def make_current(folder: Path) -> bool:
    """Point its root's ``current`` at a version ``folder`` (a rollback restoring it), so a
    restart serves the same plan; False (nothing done) for a folder that is not a version."""
    folder = Path(folder)
    if not VERSION.fullmatch(folder.name) or not (folder.parent / CURRENT).is_symlink():
        return False
    point_current(folder.parent, folder)
    return True


def _refuse_unversioned(root: Path) -> None:
    if (root / ASSIGNMENTS).is_file() or (root / METRICS).is_file():
        raise PlanFolderError(
            f"{root} holds a plan written before plan versions existed; it is never rewritten "
            f"in place (it may be approved). Pass another --out directory, or move its files "
            f"into {root / 'v0001'} and rerun to write v0002 beside it."
        )


def _next_number(root: Path) -> int:
    versions = plan_versions(root)
    return int(versions[-1].name[1:]) + 1 if versions else 1


def _publish(tmp: Path, root: Path, number: int) -> Path:
    """Rename the finished version into place: atomic, and never onto an existing version."""
    target = root / f"v{number:04d}"
    try:
        if target.exists():
            raise FileExistsError(target)
        tmp.rename(target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise PlanFolderError(
            f"{target} appeared while this plan was written (another `territory plan` into "
            f"{root}?); nothing was changed. Rerun to write the next version."
        ) from exc
    return target


def _plan_id(root: Path, folder: Path, number: int) -> str:
    """``<root name>-v0003-<hash of the assignments>``: unique per version, at most 64 chars."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", root.resolve().name)[:40] or "plan"
    source = folder / ASSIGNMENTS if (folder / ASSIGNMENTS).is_file() else folder / METRICS
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:8]
    return f"{name}-v{number:04d}-{digest}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
