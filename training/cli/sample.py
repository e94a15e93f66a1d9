"""CLI: `territory sample`, a seeded sample world (CRM export + hidden truth) in a directory."""

from __future__ import annotations

import math
import time
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.progress import Progress
    from rich.table import Table

    from features.sample_world import SampleConfig, SampleWorld


class FileFormat(StrEnum):
    """Table file format of the export."""

    csv = "csv"
    parquet = "parquet"


def _config(accounts: int, reps: int, years: int, seed: int, end_date: datetime) -> SampleConfig:
    """SampleConfig from the options; a bad value becomes a BadParameter naming the option."""
    from features.sample_world import SampleConfig, SampleConfigError, check_config

    config = SampleConfig(
        n_accounts=accounts, n_reps=reps, years=years, seed=seed, end_date=end_date.date()
    )
    try:
        check_config(config)
    except SampleConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint=f"'{exc.option}'") from exc
    return config


def _progress() -> Progress:
    """One bar per stage: name, bar, done/total, elapsed."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )


def _summary(world: SampleWorld, calibration: dict[str, float], out: Path, seconds: float) -> Table:
    """A rich table: rows per table, then each calibration figure against its target range."""
    from rich.table import Table

    from features.sample_world import CALIBRATION_LABELS, CALIBRATION_TARGETS

    table = Table(title=f"Sample world in {out} ({seconds:.1f} s)")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_column("typical B2B", justify="right")
    for name in ("accounts", "reps", "opportunities", "activities", "assignments"):
        table.add_row(f"{name} rows", f"{len(getattr(world.tables, name)):,}", "")
    for name, label in CALIBRATION_LABELS.items():
        low, high = CALIBRATION_TARGETS[name]
        value = calibration[name]
        if math.isnan(value):  # e.g. year over year needs two years of history
            table.add_row(label, "n/a", f"{low:g}-{high:g}")
            continue
        mark = "[green]ok[/]" if low <= value <= high else "[red]outside[/]"
        table.add_row(label, f"{value:.3f}", f"{low:g}-{high:g} {mark}")
    return table


def sample(
    out: Annotated[Path, typer.Option("--out", help="Directory to write (created if missing).")],
    accounts: Annotated[
        int, typer.Option("--accounts", help="Number of accounts (>= 1).")
    ] = 20_000,
    reps: Annotated[
        int, typer.Option("--reps", help="Active reps at the end (1 to --accounts).")
    ] = 60,
    years: Annotated[int, typer.Option("--years", help="Years of history (1 to 20).")] = 3,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same files.")] = 7,
    file_format: Annotated[
        FileFormat | None,
        typer.Option(
            "--format", help="Table files: csv (default) or parquet (--partitions: parquet)."
        ),
    ] = None,
    end_date: Annotated[
        datetime,
        typer.Option(
            "--end-date",
            formats=["%Y-%m-%d"],
            help="Last day of history (fixed, so the output never depends on today).",
        ),
    ] = datetime(2026, 6, 30),
    partitions: Annotated[
        int,
        typer.Option(
            "--partitions",
            help="Write a partitioned export (Parquet, for --cluster runs) of this many "
            "partitions, generated block by block in bounded memory: how a world of millions "
            "of accounts is sampled (docs/dask.md); 0 = one export in one piece.",
        ),
    ] = 0,
    block_accounts: Annotated[
        int,
        typer.Option(
            "--block-accounts",
            help="With --partitions: accounts per block (each block is a division with its "
            "share of the reps). Memory follows the block: 6.3 GB peak at 250,000, whatever "
            "--accounts.",
        ),
    ] = 250_000,
) -> None:
    """Write a sample CRM export (accounts, reps, opportunities, activities, assignments) to
    OUT, plus OUT/truth/: the hidden true potential, rep skill and pair value behind it."""
    from rich.console import Console

    from features.sample_world import STAGES, calibration_report, generate_world
    from features.sample_world.writer import world_files

    config = _config(accounts, reps, years, seed, end_date)
    if partitions:
        _sample_partitioned(config, out, partitions, block_accounts, file_format)
        return
    file_format = file_format or FileFormat.csv
    started = time.perf_counter()
    with _progress() as progress:
        tasks = {stage: progress.add_task(stage, total=1) for stage in STAGES}

        def report(stage: str, done: int, total: int) -> None:
            progress.update(tasks[stage], completed=done, total=total)

        world = generate_world(config, progress=report)
        task = progress.add_task("calibration", total=1)
        calibration = calibration_report(world.tables, config.end_date)
        progress.update(task, completed=1)
        (out / "truth").mkdir(parents=True, exist_ok=True)
        files = list(world_files(world, out, file_format.value, calibration))
        task = progress.add_task("write files", total=len(files))
        for _, write in files:
            write()
            progress.advance(task)
    Console().print(_summary(world, calibration, out, time.perf_counter() - started))


def _sample_partitioned(
    config: SampleConfig, out: Path, partitions: int, block_accounts: int, fmt: FileFormat | None
) -> None:
    """`territory sample --partitions`: block by block into a partitioned export."""
    from rich.console import Console

    from features.sample_world import SampleConfigError
    from features.sample_world.blocks import block_sizes, write_partitioned_world

    console = Console()
    if fmt == FileFormat.csv:
        raise typer.BadParameter(
            f"--format {fmt.value} with --partitions: a partitioned export is Parquet. Drop "
            "--format, or drop --partitions for one CSV export.",
            param_hint="'--format'",
        )
    try:
        blocks = len(block_sizes(config, block_accounts))
        started = time.perf_counter()
        written = write_partitioned_world(
            config,
            out,
            partitions,
            block_accounts=block_accounts,
            progress=lambda m: console.print(f"  {m} ({time.perf_counter() - started:.0f} s)"),
        )
    except SampleConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint=f"'{exc.option}'") from exc
    rows = ", ".join(f"{n:,} {t}" for t, n in written.rows.items())
    console.print(
        f"Sample world in {out}: {rows}; {blocks} blocks in {partitions} partitions "
        f"({time.perf_counter() - started:.1f} s). Use it with --cluster: "
        f"`territory train --data {out} --cluster local`."
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("sample")(sample)
