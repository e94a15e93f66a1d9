"""Writes a sample world to a directory (CRM export + truth/) and loads the truth back."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Literal

import pandas as pd

from features.contract import TABLES
from features.sample_world.config import SampleConfig, WorldParams
from features.sample_world.readme import truth_readme
from features.sample_world.truth import Truth
from features.sample_world.world import SampleWorld

FileFormat = Literal["csv", "parquet"]
TRUTH_DATE_COLUMNS = {"accounts": ("created_at",), "reps": ("hired_at", "left_at")}


def _write_frame(frame: pd.DataFrame, path: Path, fmt: FileFormat) -> None:
    """One table file: CSV (ISO dates, empty = missing) or Parquet."""
    if fmt == "csv":
        frame.to_csv(path, index=False, lineterminator="\n")
    else:
        frame.to_parquet(path, index=False)


def params_document(world: SampleWorld, calibration: dict[str, float] | None) -> dict:
    """truth/params.json: config, every model constant, the V formula, calibration figures."""
    p = world.params
    return {
        "config": {
            **dataclasses.asdict(world.config),
            "end_date": world.config.end_date.isoformat(),
        },
        "params": p.to_dict(),
        "pair_value": {
            "formula": "V = true_potential * exp(b_skill * true_skill"
            " + b_match * (match - ref_match)"
            " - b_dist_per_100km * (min(dist_km, dist_cap_km) - ref_dist_km) / 100)",
            **{
                k: getattr(p, k)
                for k in (
                    "b_skill",
                    "b_match",
                    "ref_match",
                    "b_dist_per_100km",
                    "dist_cap_km",
                    "ref_dist_km",
                )
            },
        },
        "calibration": calibration or {},
    }


WriteAction = Callable[[], None]


def world_files(
    world: SampleWorld, out_dir: Path, fmt: FileFormat, calibration: dict[str, float] | None = None
) -> Iterator[tuple[Path, WriteAction]]:
    """(path, write action) for every file of the world, in writing order (for progress bars)."""
    truth_dir = out_dir / "truth"
    for name in TABLES:
        frame = getattr(world.tables, name)
        yield (
            out_dir / f"{name}.{fmt}",
            lambda f=frame, n=name: _write_frame(f, out_dir / f"{n}.{fmt}", fmt),
        )
    for name in ("accounts", "reps"):
        frame = getattr(world.truth, name)
        yield (
            truth_dir / f"{name}.{fmt}",
            lambda f=frame, n=name: _write_frame(f, truth_dir / f"{n}.{fmt}", fmt),
        )
    document = json.dumps(params_document(world, calibration), indent=2, sort_keys=True) + "\n"
    yield truth_dir / "params.json", lambda: (truth_dir / "params.json").write_text(document)
    readme = truth_readme(world, calibration or {}, fmt)
    yield truth_dir / "README.md", lambda: (truth_dir / "README.md").write_text(readme)


def write_world(
    world: SampleWorld,
    out_dir: Path | str,
    fmt: FileFormat = "csv",
    calibration: dict[str, float] | None = None,
) -> list[Path]:
    """Write DIR/<table>.<fmt> for the five contract tables and DIR/truth/; return the paths."""
    out_dir = Path(out_dir)
    (out_dir / "truth").mkdir(parents=True, exist_ok=True)
    written = []
    for path, write in world_files(world, out_dir, fmt, calibration):
        write()
        written.append(path)
    return written


def _read_truth_frame(truth_dir: Path, name: str) -> pd.DataFrame:
    """truth/<name>.parquet or .csv with ids as strings and dates parsed."""
    csv, parquet = truth_dir / f"{name}.csv", truth_dir / f"{name}.parquet"
    if parquet.exists():
        return pd.read_parquet(parquet)
    if not csv.exists():
        raise FileNotFoundError(
            f"{csv} not found: point load_truth at the directory `territory sample --out DIR` "
            "wrote (it holds truth/accounts.csv or .parquet)."
        )
    frame = pd.read_csv(
        csv,
        dtype={"account_id": "str", "rep_id": "str", "current_owner": "str", "industries": "str"},
        parse_dates=list(TRUTH_DATE_COLUMNS[name]),
    )
    if "industries" in frame:
        frame["industries"] = frame["industries"].fillna("")
    return frame


def load_truth(directory: Path | str) -> Truth:
    """The truth of a written world; `directory` is the world's DIR or its DIR/truth."""
    directory = Path(directory)
    truth_dir = directory if (directory / "params.json").exists() else directory / "truth"
    params_path = truth_dir / "params.json"
    if not params_path.exists():
        raise FileNotFoundError(
            f"{params_path} not found: point load_truth at the directory `territory sample "
            "--out DIR` wrote."
        )
    document = json.loads(params_path.read_text())
    config = dict(document["config"])
    config["end_date"] = date.fromisoformat(config["end_date"])
    return Truth(
        accounts=_read_truth_frame(truth_dir, "accounts"),
        reps=_read_truth_frame(truth_dir, "reps"),
        params=WorldParams.from_dict(document["params"]),
        config=SampleConfig(**config),
    )
