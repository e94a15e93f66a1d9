"""A sample world too large for one process, generated block by block straight into a
partitioned export (features/partitions.py), in memory bounded by the block size.

Each block is a world of its own (`generate_world` with its share of the accounts and reps and a
seed drawn from the run's seed and the block number): its reps own only its accounts, like a
division of a larger sales organisation. Ids run on from block to block (A0000001 ..
A5000000, R00001 .., O.., E..; CRM record ids and rep identities too), so the whole is one valid
export. Its rows are hashed to partitions as `territory partition` would hash them, so the result
reads exactly like a partitioned `territory sample` export; reps are copied into every partition.

The truth lands beside it (ROOT/truth/accounts.parquet, reps.parquet, params.json) for the
quality benches; the calibration figures of `territory sample` are not computed (they need the
whole world in one frame).

Memory follows the block, not the world: 5M accounts in blocks of 250,000 peaked at 6.3 GB
(a 1M world in one piece: ~10 GB); time is linear in accounts (533 s for 5M on 2 cores).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.partitions import (
    BY_ACCOUNT,
    PartitionedExport,
    PartitionWriters,
    staged,
    write_manifest,
)
from features.sample_world.config import SampleConfig, SampleConfigError, WorldParams, check_config
from features.sample_world.frames import IdStart
from features.sample_world.world import generate_world
from features.sample_world.writer import params_document

BLOCK_ACCOUNTS = 250_000
Progress = Callable[[str], None]


def block_sizes(config: SampleConfig, block_accounts: int) -> list[tuple[int, int]]:
    """(accounts, reps) per block: accounts split as evenly as whole blocks allow, reps in the
    same proportion (at least one per block)."""
    if block_accounts < 1:
        raise SampleConfigError(
            "--block-accounts", block_accounts, f"--block-accounts {block_accounts}: use >= 1."
        )
    blocks = -(-config.n_accounts // block_accounts)
    accounts = np.diff(np.linspace(0, config.n_accounts, blocks + 1).round().astype(int))
    reps = np.diff(np.linspace(0, config.n_reps, blocks + 1).round().astype(int))
    if (reps < 1).any():
        raise SampleConfigError(
            "--reps",
            config.n_reps,
            f"--reps {config.n_reps} is fewer than the {blocks} blocks of {block_accounts:,} "
            "accounts: each block needs at least one rep. Use more reps or larger "
            "--block-accounts.",
        )
    return [(int(a), int(r)) for a, r in zip(accounts, reps, strict=True)]


def block_seed(seed: int, block: int) -> int:
    """Block `block`'s seed: independent streams per block, the same for the same run seed."""
    return int(np.random.SeedSequence([seed, block]).generate_state(1)[0])


def _blocks(
    config: SampleConfig, params: WorldParams, sizes: list[tuple[int, int]], progress: Progress
) -> Iterator[tuple[int, object]]:
    # One width per kind of id for the whole world, from the count it is likely to reach (reps
    # who left: up to as many again; ~30 opportunities and ~45 activities per account), so ids
    # sort as numbers across blocks: a 5M world has A0000001.., R00001.., O and E of 9 digits.
    # A count past its guess only widens the later ids (still unique).
    digits = tuple(
        len(str(n))
        for n in (config.n_accounts, 2 * config.n_reps, 100 * config.n_accounts,
                  100 * config.n_accounts)
    )  # fmt: skip
    start = IdStart(digits=digits)
    for k, (accounts, reps) in enumerate(sizes):
        progress(f"block {k + 1}/{len(sizes)}: generating {accounts:,} accounts, {reps:,} reps")
        block = dataclasses.replace(
            config, n_accounts=accounts, n_reps=reps, seed=block_seed(config.seed, k)
        )
        world = generate_world(block, params, start=start)
        yield k, world
        t = world.tables
        start = IdStart(
            start.accounts + len(t.accounts),
            start.reps + len(t.reps),
            start.opportunities + len(t.opportunities),
            start.activities + len(t.activities),
            digits,
        )


def write_partitioned_world(
    config: SampleConfig,
    out: str | Path,
    partitions: int,
    *,
    block_accounts: int = BLOCK_ACCOUNTS,
    params: WorldParams | None = None,
    progress: Progress = lambda _: None,
) -> PartitionedExport:
    """Sample `config`'s world block by block into a partitioned export at `out` (written into
    a sibling folder and renamed into place: a failure leaves nothing at `out`)."""
    check_config(config)
    if partitions < 1:
        raise SampleConfigError("--partitions", partitions, f"--partitions {partitions}: use >= 1.")
    params = params or WorldParams()
    out = Path(out)
    sizes = block_sizes(config, block_accounts)
    reps: list[pd.DataFrame] = []
    with staged(out, ".sampling") as staging:
        (staging / "truth").mkdir()
        writers = PartitionWriters(staging, partitions)
        truth: dict[str, pq.ParquetWriter] = {}
        try:
            for k, world in _blocks(config, params, sizes, progress):
                progress(f"block {k + 1}/{len(sizes)}: writing")
                for table in BY_ACCOUNT:
                    writers.write(table, getattr(world.tables, table))
                reps.append(world.tables.reps)
                _append_truth(truth, staging / "truth", "accounts", world.truth.accounts)
                _append_truth(truth, staging / "truth", "reps", world.truth.reps)
                if k == 0:
                    document = params_document(world, None)
                del world
        finally:
            writers.close()
            for writer in truth.values():
                writer.close()
        everyone = pd.concat(reps, ignore_index=True)
        for part in range(partitions):
            everyone.to_parquet(staging / f"part-{part:05d}" / "reps.parquet", index=False)
        rows = {**writers.rows, "reps": len(everyone)}
        how = {
            "accounts": config.n_accounts,
            "reps": config.n_reps,
            "seed": config.seed,
            "years": config.years,
            "end_date": config.end_date.isoformat(),
            "blocks": [{"accounts": a, "reps": r, "seed": block_seed(config.seed, k)}
                       for k, (a, r) in enumerate(sizes)],
        }  # fmt: skip
        document["config"] = {**document["config"], "n_accounts": config.n_accounts,
                              "n_reps": config.n_reps, "seed": config.seed}  # fmt: skip
        document["blocks"] = how["blocks"]
        (staging / "truth" / "params.json").write_text(
            json.dumps(document, indent=2, sort_keys=True) + "\n"
        )
        source = str(out.resolve())  # the partitions are the export: lineage names them
        write_manifest(staging, partitions, rows, source, sampled=how)
    return PartitionedExport(out, partitions, rows, source)


def _append_truth(
    writers: dict[str, pq.ParquetWriter], folder: Path, name: str, frame: pd.DataFrame
) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if name not in writers:
        writers[name] = pq.ParquetWriter(folder / f"{name}.parquet", table.schema)
    writers[name].write_table(table.cast(writers[name].schema))
