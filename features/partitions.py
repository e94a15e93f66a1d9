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
from contextlib import contextmanager
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


class PartitionWriters:
    """Appends each table's rows to the partition their account hashes to (one Parquet file
    per table and partition under `staging`, written as rows arrive: nothing is held)."""

    def __init__(self, staging: Path, partitions: int) -> None:
        self.staging, self.partitions = staging, partitions
        self.schemas: dict[str, pa.Schema] = {}
        self.rows: dict[str, int] = {}
        self._open: dict[tuple[str, int], pq.ParquetWriter] = {}
        for part in range(partitions):
            (staging / f"part-{part:05d}").mkdir(parents=True, exist_ok=True)

    def write(self, table: str, frame: pd.DataFrame, schema: pa.Schema | None = None) -> None:
        """Rows of `table` (with an account_id column); the first call fixes the table's columns
        (`schema`, else read off the frame) and later rows are cast to them."""
        if table not in self.schemas:
            self.schemas[table] = schema or pa.Schema.from_pandas(frame, preserve_index=False)
        schema = self.schemas[table]
        for part, rows_of in frame.groupby(bucket_of(frame["account_id"], self.partitions)):
            key = (table, int(part))
            if key not in self._open:
                target = self.staging / f"part-{part:05d}" / f"{table}.parquet"
                self._open[key] = pq.ParquetWriter(target, schema)
            self._open[key].write_table(pa.Table.from_pandas(rows_of, schema, preserve_index=False))
        self.rows[table] = self.rows.get(table, 0) + len(frame)

    def close(self) -> None:
        """Close every file; partitions with no rows of a table still get it, with its columns."""
        for writer in self._open.values():
            writer.close()
        self._open.clear()
        for table, schema in self.schemas.items():
            _fill_empty(self.staging, table, self.partitions, schema)


def _split_table(
    path: Path,
    table: str,
    writers: PartitionWriters,
    progress: Callable[[str], None],
) -> int:
    rows = 0
    for chunk in _chunks(path):
        if "account_id" not in chunk.columns:
            raise CrmSourceError(
                f"{path}: no account_id column (columns found: {list(chunk.columns)}). "
                "Partition the export after `territory import` has mapped it to the contract."
            )
        writers.write(table, chunk, None if rows else _schema_of(path, chunk))
        rows += len(chunk)
        progress(f"{table}: {rows:,} rows split")
    if table not in writers.schemas:  # an empty file: every partition gets the bare columns
        writers.schemas[table] = pa.schema([("account_id", pa.string())])
    return rows


def _fill_empty(out: Path, table: str, partitions: int, schema: pa.Schema) -> None:
    """Partitions with no rows of `table` still get the file, with its columns."""
    for part in range(partitions):
        path = out / f"part-{part:05d}" / f"{table}.parquet"
        if not path.exists():
            pq.write_table(schema.empty_table(), path)


@contextmanager
def staged(out: Path, suffix: str) -> Iterator[Path]:
    """A sibling temporary folder to write `out` into, renamed into place when the block ends
    without an error and removed when it fails: nothing half-written is left at `out`."""
    staging = out.with_name(out.name + suffix)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)


def write_manifest(staging: Path, partitions: int, rows: dict[str, int], source: str, **more):
    """ROOT/manifest.json: what read_partitioned reads back (`more`: extra keys, e.g. how a
    sampled world was made)."""
    manifest = {"partitions": partitions, "rows": rows, "source": source, **more}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))


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
    rows = {}
    with staged(out, ".partitioning") as staging:
        writers = PartitionWriters(staging, partitions)
        try:
            for table in BY_ACCOUNT:
                path = _source_file(source, table)
                if path is not None:
                    rows[table] = _split_table(path, table, writers, progress)
        finally:
            writers.close()
        for part in range(partitions):
            target = staging / f"part-{part:05d}" / f"reps{reps.suffix}"
            shutil.copyfile(reps, target)  # small, and copied as is: validated with each partition
        rows["reps"] = sum(len(c) for c in _chunks(reps))
        write_manifest(staging, partitions, rows, str(source.resolve()))
    return PartitionedExport(out, partitions, rows, str(source.resolve()))


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


def load_whole(data: str | Path):
    """A partitioned export as one CrmTables, for work that needs every account in one process
    (the plan): the export it was split from when there is one, else every partition read and
    stacked (each validated as usual; reps from the first, as every partition holds them all)."""
    from features.loaders import load_crm
    from features.tables import CrmTables

    export = read_partitioned(data)
    if export.source != str(Path(data).resolve()) and Path(export.source).exists():
        return load_crm(export.source).tables
    parts = [load_crm(p).tables for p in export.paths()]
    return CrmTables(
        accounts=pd.concat([t.accounts for t in parts], ignore_index=True),
        reps=parts[0].reps,
        opportunities=pd.concat([t.opportunities for t in parts], ignore_index=True),
        assignments=pd.concat([t.assignments for t in parts], ignore_index=True),
        activities=pd.concat([t.activities for t in parts], ignore_index=True),
        extra_account_columns=parts[0].extra_account_columns,
    )


def is_partitioned(path: str | Path) -> bool:
    """True when `path` is a folder written by partition_export."""
    return (Path(path) / MANIFEST).is_file()


def original_source(data: str) -> str:
    """The export a partitioned folder was split from (what lineage names); `data` otherwise."""
    return read_partitioned(data).source if is_partitioned(data) else data
