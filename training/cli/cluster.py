"""`territory partition` and the Dask side of `territory score --cluster` (training/distributed.py).

Without a cluster nothing here runs: pandas stays the default path.
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from training.cli.console import console

ClusterOpt = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        help="run on Dask: `local` (a LocalCluster here) or a scheduler address "
        "(tcp://HOST:8786); default: TERRITORY_DASK_ADDRESS, else pandas",
    ),
]


def partition(
    data: Annotated[Path, typer.Option("--data", help="CRM export directory (csv or parquet)")],
    out: Annotated[Path, typer.Option("--out", help="folder to write the partitions to")],
    partitions: Annotated[int, typer.Option("--partitions", help="number of partitions")] = 8,
) -> None:
    """Split an export into Parquet partitions by account, for `--cluster` runs."""
    from features.partitions import partition_export

    written = partition_export(data, out, partitions, progress=lambda m: console.print(m))
    console.print(
        f"{written.rows.get('accounts', 0):,} accounts in {written.partitions} partitions -> {out}"
    )


def partitioned_for(data: str, workers: int):
    """The partitioned export to run on: `data` itself when it is one; otherwise a temporary
    split of it (4 partitions per worker), said out loud."""
    from features.partitions import is_partitioned, partition_export, read_partitioned

    if is_partitioned(data):
        return read_partitioned(data), None
    if "://" in data:
        raise typer.BadParameter(
            f"--cluster needs a directory export, got {data!r}. Export the tables to files "
            "(`territory import`), then `territory partition`.",
            param_hint="--data",
        )
    scratch = tempfile.TemporaryDirectory(prefix="territory-partitions-")
    n = max(2, 4 * workers)
    console.print(
        f"{data} is not partitioned: splitting it into {n} partitions in {scratch.name} "
        f"(do it once with `territory partition --data {data} --out DIR` and pass --data DIR)"
    )
    return partition_export(data, Path(scratch.name) / "parts", n), scratch


def score_on_cluster(
    address: str,
    data: str,
    out: Path,
    as_of: str | None,
    model_uri: str | None,
    ignore_lineage: bool,
) -> None:
    """`territory score --cluster`: scores with explanations computed partition by partition."""
    from datetime import UTC, datetime

    from training.batch import FINGERPRINT, load_model, registry_version, write_score_parts
    from training.cluster import dask_client
    from training.distributed import scored_parts_on_cluster as run
    from training.lineage import data_source_id
    from training.settings import TrainingSettings

    settings = TrainingSettings()
    with dask_client(address) as client:
        workers = len(client.scheduler_info()["workers"])
        export, scratch = partitioned_for(data, workers)
        source = export.source if scratch is None else data_source_id(data)
        try:
            model, used = load_model(settings, model_uri, None if ignore_lineage else source)
            extra = [c for c in model.feature_names_ if c not in _contract_features()]
            console.print(f"scoring on {workers} Dask workers, {export.partitions} partitions")
            version = registry_version(used)
            stamp = {
                "model_uri": used,
                "model_version": version,
                "scored_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            parts = run(
                client,
                export,
                model,
                pd.Timestamp(as_of) if as_of else None,
                extra=extra,
                model_version=version,
                progress=lambda m: console.print(f"  {m}"),
            )
            rows, cut = write_score_parts((p.assign(**stamp) for p in parts), out, last=FINGERPRINT)
        finally:
            if scratch is not None:
                scratch.cleanup()
    console.print(f"scored {rows:,} accounts as of {cut} with {used} -> {out}")


def _contract_features() -> set[str]:
    from features.feature_sets import ACCOUNT_POTENTIAL_V1

    return set(ACCOUNT_POTENTIAL_V1)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command()(partition)


@contextmanager
def training_hooks(address: str | None, data: str, horizon_days: int, extra: tuple[str, ...]):
    """train_potential's `build` and `refit` on the cluster at `address`, `facts`: the whole
    export's ExportFacts, read on the cluster (the export is never loaded here), and `features`:
    (as_of, extra columns) -> every account's features, gathered (retrain's drift check); {}
    without a cluster."""
    if address is None:
        yield {}
        return
    from models.potential import learn_categories
    from training.cluster import dask_client
    from training.distributed import (
        facts_on_cluster,
        features_on_cluster,
        fit_on_cluster,
        gathered,
        refit_sample,
        snapshots_on_cluster,
    )

    with dask_client(address) as client:
        workers = len(client.scheduler_info()["workers"])
        export, scratch = partitioned_for(data, workers)
        held: list = []
        console.print(f"reading {export.partitions} partitions on {workers} Dask workers")
        say = lambda m: console.print(f"  {m}")  # noqa: E731 - one line, used four times
        facts = facts_on_cluster(client, export, say)

        def build(dates, sampling):
            built = snapshots_on_cluster(
                client, export, dates, horizon_days, extra=extra, sampling=sampling, progress=say
            )
            frames = pd.concat(gathered(client, built, "snapshots", say), ignore_index=True)
            # The workers keep only the rows the final fit needs (the holdout of every
            # account, now here, would otherwise stay there too).
            from distributed import wait

            held[:] = client.map(refit_sample, built)
            wait(held)  # computed before the full snapshots are let go
            return frames

        def features(as_of, columns):
            return features_on_cluster(client, export, as_of, extra=columns, progress=say)

        def refit(template, frame):
            columns = [str(c) for c in frame.columns]
            return fit_on_cluster(client, held, template, columns, learn_categories(frame))

        console.print(f"training on {workers} Dask workers, {export.partitions} partitions")
        try:
            yield {"build": build, "refit": refit, "facts": facts, "features": features}
        finally:
            if scratch is not None:
                scratch.cleanup()


def needs_cluster(data: str, source: str) -> None:
    """A partitioned export runs on a cluster; without one, train reads the single export it
    was split from, if there is one (`territory sample --partitions` writes none): say so
    rather than fail to read the partitions as one export."""
    from features.partitions import is_partitioned

    if not is_partitioned(data) or source != data:
        return
    raise typer.BadParameter(
        f"{data} is a partitioned export: run on Dask with --cluster local (or a scheduler "
        "address, or TERRITORY_DASK_ADDRESS), or pass the single export it was split from.",
        param_hint="--data",
    )


@contextmanager
def training_data(data: str, cluster: str | None, horizon_days: int, extra: tuple[str, ...]):
    """(tables, source, hooks) for train and retrain: without a cluster, the export's tables
    (a partitioned export trains on the export it was split from) and no hooks; on a cluster,
    the export's ExportFacts (it stays on the workers) and train_potential's build / refit /
    features hooks. `source` is what lineage names."""
    from features.partitions import original_source
    from training.cluster import cluster_address

    address = cluster_address(cluster)
    source = original_source(data)
    if address is None:
        from features.loaders import load_crm

        needs_cluster(data, source)
        yield load_crm(source).tables, source, {}
        return
    with training_hooks(address, data, horizon_days, extra) as hooks:
        yield hooks.pop("facts"), source, hooks


@contextmanager
def region_solver_for(address: str | None):
    """The matcher's `solve_regions` on the cluster at `address` (regions in parallel); None
    (one region after another, here) without one."""
    if address is None:
        yield None
        return
    from training.cluster import dask_client
    from training.distributed import region_solver

    with dask_client(address) as client:
        workers = len(client.scheduler_info()["workers"])
        console.print(f"solving regions on {workers} Dask workers")
        yield region_solver(client)
