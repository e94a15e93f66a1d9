"""Split a CRM export into partitions by account, the layout the Dask path reads.

Every account's rows (the account, its opportunities, assignments and activities) land in the
same partition, chosen by a stable hash of the account id, so each partition is a complete small
export that `load_crm` validates on its own; the reps table is copied into each. The split reads
the files in chunks as text and never parses or holds the whole export, so it runs in bounded
memory whatever the size. Values are copied as they are: validation happens per partition, on the
cluster (training/distributed.py).

Layout::

    ROOT/manifest.json            partitions, rows per table, the source it came from
    ROOT/part-00000/accounts.parquet, reps.parquet, opportunities.parquet, ...
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.loaders import CrmSourceError

MANIFEST = "manifest.json"
BY_ACCOUNT = ("accounts", "opportunities", "assignments", "activities")
CHUNK_ROWS = 250_000


@dataclass(frozen=True)
class PartitionedExport:
    """A partitioned export on disk."""

    root: Path
    partitions: int
    rows: dict[str, int]
    source: str

    def paths(self) -> list[Path]:
        """One folder per partition, in order."""
        return [self.root / f"part-{i:05d}" for i in range(self.partitions)]


def bucket_of(account_ids: pd.Series, partitions: int) -> np.ndarray:
    """Partition number per account id: a stable hash (the same on every machine and run)."""
    hashed = pd.util.hash_array(account_ids.astype(str).to_numpy(dtype=object))
    return (hashed % np.uint64(partitions)).astype(np.int64)


def _source_file(source: Path, table: str) -> Path | None:
    for ext in ("parquet", "csv"):
        path = source / f"{table}.{ext}"
        if path.exists():
            return path
    return None


def _chunks(path: Path) -> Iterator[pd.DataFrame]:
    """The table CHUNK_ROWS rows at a time: CSV cells as text (empty = missing, as `read_csv`
    reads them), Parquet columns as stored."""
    if path.suffix == ".parquet":
        for batch in pq.ParquetFile(path).iter_batches(batch_size=CHUNK_ROWS):
            yield batch.to_pandas()
        return
    yield from pd.read_csv(
        path,
        dtype=str,
        keep_default_na=False,
        na_values=[""],
        chunksize=CHUNK_ROWS,
        encoding="utf-8-sig",
    )


def _schema_of(path: Path, chunk: pd.DataFrame) -> pa.Schema:
    if path.suffix == ".parquet":
        return pq.ParquetFile(path).schema_arrow
    return pa.schema([(c, pa.string()) for c in chunk.columns])


def _split_table(
    path: Path, table: str, out: Path, partitions: int, progress: Callable[[str], None]
) -> int:
    writers: dict[int, pq.ParquetWriter] = {}
    schema = None
    rows = 0
    try:
        for chunk in _chunks(path):
            if "account_id" not in chunk.columns:
                raise CrmSourceError(
                    f"{path}: no account_id column (columns found: {list(chunk.columns)}). "
                    "Partition the export after `territory import` has mapped it to the contract."
                )
            if schema is None:
                schema = _schema_of(path, chunk)
            for part, rows_of in chunk.groupby(bucket_of(chunk["account_id"], partitions)):
                if part not in writers:
                    target = out / f"part-{part:05d}" / f"{table}.parquet"
                    writers[part] = pq.ParquetWriter(target, schema)
                table_rows = pa.Table.from_pandas(rows_of, schema, preserve_index=False)
                writers[part].write_table(table_rows)
            rows += len(chunk)
            progress(f"{table}: {rows:,} rows split")
    finally:
        for writer in writers.values():
            writer.close()
    _fill_empty(out, table, partitions, schema or pa.schema([("account_id", pa.string())]))
    return rows


def _fill_empty(out: Path, table: str, partitions: int, schema: pa.Schema) -> None:
    """Partitions with no rows of `table` still get the file, with its columns."""
    for part in range(partitions):
        path = out / f"part-{part:05d}" / f"{table}.parquet"
        if not path.exists():
            pq.write_table(schema.empty_table(), path)


def partition_export(
    source: str | Path,
    out: str | Path,
    partitions: int,
    *,
    progress: Callable[[str], None] = lambda _: None,
) -> PartitionedExport:
    """Split the contract tables in directory `source` into `partitions` partitions under `out`.

    `out` is written whole into a sibling temporary folder and then renamed into place, so a
    failure part-way leaves no half-written partitions behind.
    """
    source, out = Path(source), Path(out)
    if partitions < 1:
        raise CrmSourceError(f"--partitions {partitions}: use at least 1.")
    reps = _source_file(source, "reps")
    if reps is None or _source_file(source, "accounts") is None:
        raise CrmSourceError(
            f"{source}: no accounts or reps table (accounts.csv/.parquet, reps.csv/.parquet). "
            "Point --data at an export written by `territory sample` or `territory import`."
        )
    staging = out.with_name(out.name + ".partitioning")
    shutil.rmtree(staging, ignore_errors=True)
    for part in range(partitions):
        (staging / f"part-{part:05d}").mkdir(parents=True)
    rows = {}
    for table in BY_ACCOUNT:
        path = _source_file(source, table)
        if path is not None:
            rows[table] = _split_table(path, table, staging, partitions, progress)
    rows["reps"] = 0
    for part in range(partitions):
        target = staging / f"part-{part:05d}" / f"reps{reps.suffix}"
        shutil.copyfile(reps, target)  # small, and copied as is: validated with each partition
    rows["reps"] = sum(len(c) for c in _chunks(reps))
    manifest = {"partitions": partitions, "rows": rows, "source": str(source.resolve())}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return PartitionedExport(out, partitions, rows, manifest["source"])


def read_partitioned(root: str | Path) -> PartitionedExport:
    """The manifest of a partitioned export; a clear error when `root` is not one."""
    root = Path(root)
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except FileNotFoundError:
        raise CrmSourceError(
            f"{root} is not a partitioned export (no {MANIFEST}). Create one with "
            f"`territory partition --data EXPORT --out {root}`."
        ) from None
    return PartitionedExport(
        root, int(manifest["partitions"]), dict(manifest["rows"]), str(manifest["source"])
    )


def is_partitioned(path: str | Path) -> bool:
    """True when `path` is a folder written by partition_export."""
    return (Path(path) / MANIFEST).is_file()


def original_source(data: str) -> str:
    """The export a partitioned folder was split from (what lineage names); `data` otherwise."""
    return read_partitioned(data).source if is_partitioned(data) else data
