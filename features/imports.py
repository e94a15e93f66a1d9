"""Atomic imports: a mapped export is written to a new version folder, validated there, and only
then made current by one symlink swap, so a failed import never touches the previous good data.

Layout of an import destination ``OUT`` (part of the loaders' CRM I/O; `read_raw` reads
``OUT/current`` when it exists)::

    OUT/versions/v0001/          accounts.csv, reps.csv, ... and quarantine/ (read-only history)
    OUT/versions/v0002/
    OUT/current -> versions/v0002
    OUT/failed/v0003/            the last refused import, kept to inspect (never read)

Contract tables written flat into ``OUT`` before versioning existed (``territory sample``) move
to ``OUT/versions/v0000`` on the first successful import, byte-identical. Anything else in OUT
(scores, plan folders) is left alone.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd

from features.contract import TABLES
from features.errors import DataContractError
from features.validation_report import ValidationReport

VERSIONS, CURRENT, FAILED = "versions", "current", "failed"
MAX_QUARANTINED_SHARE = 0.5
FORMATS = ("csv", "parquet")


class ImportRefused(DataContractError):
    """The mapped export is unusable (fatal, empty or mostly quarantined): nothing was switched."""

    def __init__(self, message: str, result: object = None) -> None:
        super().__init__(message)
        self.result = result  # the LoadResult of the refused attempt, for its report


def current_folder(folder: Path) -> Path:
    """The folder holding the export's tables: ``folder/current`` after an import, else itself."""
    current = folder / CURRENT
    return current if current.is_dir() else folder


def import_problems(report: ValidationReport) -> list[str]:
    """Why an import must not become current: fatal issues, a required table that came out
    empty, or more than half of a table's rows quarantined. Empty when the import is usable."""
    problems = [i.message for i in report.issues if i.severity == "fatal"]
    for name, table in TABLES.items():
        rows_in, rows_out = report.rows_in.get(name, 0), report.rows_out.get(name, 0)
        if table.required and rows_out == 0:
            problems.append(
                f"{name}: {rows_in} rows in, none kept: the table came out empty. Check the "
                f"export's {name} file (a header-only or truncated file?) and the mapping."
            )
            continue
        quarantined = rows_in - rows_out
        if rows_in and quarantined / rows_in > MAX_QUARANTINED_SHARE:
            problems.append(
                f"{name}: {quarantined} of {rows_in} rows quarantined "
                f"({quarantined / rows_in:.0%} > {MAX_QUARANTINED_SHARE:.0%}); see the "
                "quarantine report for the reasons and fix the export or the mapping."
            )
    return problems


def _next_version(out: Path) -> str:
    taken = [p.name for p in (out / VERSIONS).glob("v[0-9][0-9][0-9][0-9]")]
    return f"v{max((int(n[1:]) for n in taken), default=0) + 1:04d}"


def _flat_tables(out: Path) -> list[Path]:
    return [out / f"{n}.{ext}" for n in TABLES for ext in FORMATS if (out / f"{n}.{ext}").is_file()]


def _switch(out: Path, version: str) -> None:
    """Point OUT/current at versions/VERSION in one atomic rename of a fresh symlink."""
    staged = out / f".{CURRENT}.{version}"
    staged.unlink(missing_ok=True)
    staged.symlink_to(Path(VERSIONS) / version, target_is_directory=True)
    os.replace(staged, out / CURRENT)


def _keep_flat_tables(out: Path) -> None:
    """Move tables written flat into OUT (before versioning) to versions/v0000, unchanged."""
    flat = _flat_tables(out)
    if not flat:
        return
    legacy = out / VERSIONS / "v0000"
    legacy.mkdir(parents=True, exist_ok=True)
    for path in flat:
        os.replace(path, legacy / path.name)


def import_versioned(
    frames: Callable[[], Mapping[str, pd.DataFrame]],
    out: Path,
    *,
    write: Callable[[Mapping[str, pd.DataFrame], Path], None],
    validate: Callable[[Path, Path], object],
) -> tuple[object, Path]:
    """Write `frames()` to a new version of OUT, validate it there, then make it current.

    Args:
        frames: builds the contract tables (the mapping); any error leaves OUT untouched.
        write: writes tables into a folder.
        validate: loads a folder, writing its quarantine report to the second path; returns the
            LoadResult (with `.report`).

    Returns the LoadResult and the version folder. Raises ImportRefused (after keeping the
    attempt under OUT/failed/) when the import is unusable; OUT/current is unchanged then.
    """
    out.mkdir(parents=True, exist_ok=True)
    version = _next_version(out)
    staging = out / VERSIONS / f".{version}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        write(frames(), staging)
        result = validate(staging, staging / "quarantine")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    problems = import_problems(result.report)  # type: ignore[attr-defined]
    if problems:
        failed = out / FAILED / version
        shutil.rmtree(failed, ignore_errors=True)
        failed.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, failed)
        raise ImportRefused(
            f"import refused, {out} still serves the previous data ({len(problems)} problems; "
            f"the attempt is kept in {failed}):\n- " + "\n- ".join(problems),
            result,
        )
    final = out / VERSIONS / version
    os.replace(staging, final)
    _switch(out, version)
    _keep_flat_tables(out)
    return result, final
