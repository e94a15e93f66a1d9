"""Start, cache and cancel scenario solves: one worker PROCESS per job, never a thread.

The service writes the job row, starts ``python -m serving.scenarios.worker JOB_ID`` in its own
session and returns at once; a daemon thread only reaps the child's exit status. The worker loads
the data itself and writes its progress, heartbeat and result to the row (docs/scenarios.md says
why a process per job and not a pool).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from serving.errors import BadRequest
from serving.scenarios.jobs import JobStore, _now
from serving.scenarios.records import OPEN_STATUSES, ScenarioJob

DB_ENV = "TERRITORY_SCENARIO_DB_URL"
SCHEMA_ENV = "TERRITORY_SCENARIO_DB_SCHEMA"
_hashes: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path) -> str:
    """sha256 of a file, remembered per (path, size, mtime)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _hashes:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        _hashes[key] = digest.hexdigest()
    return _hashes[key]


def data_identity(crm_source: str) -> str:
    """What the CRM data is: each top-level file's name, size and mtime (a URL stands for
    itself: a database changes under the same URL, so its jobs are keyed by the scores too)."""
    path = Path(crm_source)
    if not path.is_dir():
        return crm_source
    parts = [
        f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
        for p in sorted(path.iterdir())
        if p.is_file() and p.suffix in {".csv", ".parquet", ".db", ".sqlite"}
    ]
    return "|".join(parts)


def input_hash(document: dict, crm_source: str, scores_path: Path, model_version: str) -> str:
    """The cache key: the scenario document, the CRM data, the scores file and the model."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    text = "\n".join(
        [canonical, data_identity(crm_source), file_digest(scores_path), model_version]
    )
    return hashlib.sha256(text.encode()).hexdigest()


def submit(
    store: JobStore,
    *,
    document: dict,
    name: str,
    author: str,
    scenario_id: int,
    inputs: dict[str, Any],
    key: str,
    timeout_s: int,
) -> tuple[ScenarioJob, bool]:
    """(job, cached): a queued, running or finished job with the same inputs, else a new one
    whose worker process is started now."""
    found = store.reusable(key)
    if found is not None:
        return found, True
    job = store.create_job(
        scenario_id=scenario_id,
        name=name[:128],
        author=author,
        input_hash=key,
        document=document,
        inputs=inputs,
        timeout_s=timeout_s,
    )
    start_worker(store, job.job_id)
    return job, False


def start_worker(store: JobStore, job_id: str) -> subprocess.Popen:
    """``python -m serving.scenarios.worker JOB_ID`` in a new session (so cancel can end it and
    anything it starts); its output goes to the job's log file next to its result."""
    env = {**os.environ, DB_ENV: store.url}
    if store.schema:
        env[SCHEMA_ENV] = store.schema
    log_dir = Path(store.job(job_id).inputs["out_dir"])
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / "worker.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "serving.scenarios.worker", job_id],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    threading.Thread(target=proc.wait, name=f"reap-{job_id}", daemon=True).start()
    return proc


def cancel(store: JobStore, job_id: str) -> ScenarioJob:
    """Ask the job to stop. The worker sees ``cancelling`` within a second (from any replica);
    on the worker's own machine the process group is also sent SIGTERM at once."""
    job = store.job(job_id)
    if job.status not in OPEN_STATUSES:
        raise BadRequest(
            f"job {job_id} is {job.status}; only queued or running jobs can be cancelled."
        )
    ended = {"finished_at": _now(), "progress": "cancelled", "error": "cancelled by a manager"}
    if store.update(job_id, ("queued",), status="cancelled", **ended):
        return store.job(job_id)  # its worker will find it cancelled and stop at once
    store.update(job_id, ("running",), status="cancelling", progress="cancel asked")
    job = store.job(job_id)
    if job.pid and job.host == socket.gethostname():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(job.pid, signal.SIGTERM)
        store.update(job_id, OPEN_STATUSES, status="cancelled", **ended)
    return store.job(job_id)
