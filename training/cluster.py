"""Connecting to Dask: `--cluster local|ADDRESS` or TERRITORY_DASK_ADDRESS picks the Dask path.

`local` starts a `distributed.LocalCluster` on this machine (one single-threaded worker process
per core by default: LightGBM and pandas each get a core of their own, see
models/potential/estimator.py on threads); an address (`tcp://scheduler:8786`) joins a running
cluster. No dashboard is started: nothing listens on a port it was not asked to.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

ENV_ADDRESS = "TERRITORY_DASK_ADDRESS"
ENV_WORKERS = "TERRITORY_DASK_WORKERS"
ENV_MEMORY = "TERRITORY_DASK_WORKER_MEMORY"
LOCAL = "local"


def cluster_address(option: str | None) -> str | None:
    """The cluster to use: the option, else TERRITORY_DASK_ADDRESS, else None (pandas)."""
    chosen = option or os.environ.get(ENV_ADDRESS) or None
    if chosen is None:
        return None
    chosen = chosen.strip()
    if chosen != LOCAL and "://" not in chosen:
        raise ValueError(
            f"cluster {chosen!r}: use `local` (a LocalCluster on this machine) or a scheduler "
            "address such as tcp://10.0.0.5:8786."
        )
    return chosen


@contextmanager
def dask_client(address: str, *, workers: int | None = None) -> Iterator[object]:
    """A distributed.Client for `address` (`local` starts and later closes a LocalCluster)."""
    from distributed import Client, LocalCluster

    if address != LOCAL:
        client = Client(address, timeout="30s")
        try:
            yield client
        finally:
            client.close()
        return
    n = workers or int(os.environ.get(ENV_WORKERS, 0)) or max(1, os.cpu_count() or 1)
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        memory_limit=os.environ.get(ENV_MEMORY, "auto"),
        dashboard_address=None,
        silence_logs=logging.ERROR,  # no "worker still alive, killing" chatter on close
    )
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
