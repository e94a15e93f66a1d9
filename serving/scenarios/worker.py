"""One scenario solve, as its own process: ``python -m serving.scenarios.worker JOB_ID``.

Reads the job row (scenario document and where the data, scores and result live), loads the CRM
tables and scores itself, runs the one plan recipe (models.planning.run_plan) and writes the plan
as version v0001 under the job's folder. A watcher thread beats every second: it writes the
solver's progress, and ends the process when the row says ``cancelling`` or the job's timeout
has passed. Exit codes: 0 done, 1 failed, 2 cancelled, 3 timed out.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
import traceback

from serving.scenarios.jobs import JobStore, _now
from serving.scenarios.runner import DB_ENV, SCHEMA_ENV

BEAT_S = 1.0


class Progress:
    """What the worker is doing, as text and permille; the watcher thread writes it."""

    def __init__(self, time_limit_s: float) -> None:
        self.text, self.permille = "loading the CRM data and scores", 20
        self.time_limit_s = max(time_limit_s, 1.0)
        self.solve_started: float | None = None

    def phase(self, text: str, permille: int) -> None:
        self.text, self.permille = text, permille

    def solver(self, text: str) -> None:
        if self.solve_started is None:
            self.solve_started = time.monotonic()
        self.text = f"solving: {text}"

    def estimate(self) -> int:
        if self.solve_started is None:
            return self.permille
        share = (time.monotonic() - self.solve_started) / self.time_limit_s
        return max(self.permille, 200 + int(750 * min(share, 1.0)))


def _watch(store: JobStore, job_id: str, progress: Progress, deadline: float) -> None:
    while True:
        time.sleep(BEAT_S)
        try:
            status = store.heartbeat(job_id, progress.text, progress.estimate())
        except Exception:  # noqa: BLE001 - a database blip: beat again next second
            continue
        if status == "cancelling":
            store.update(
                job_id,
                ("cancelling",),
                status="cancelled",
                finished_at=_now(),
                progress="cancelled",
                error="cancelled by a manager",
            )
            os._exit(2)
        if status in ("done", "failed"):
            return  # the main thread finished and wrote the outcome
        if status != "running":
            os._exit(2)
        if time.monotonic() > deadline:
            store.update(
                job_id,
                ("running",),
                status="timed_out",
                finished_at=_now(),
                progress="timed out",
                error="the solve ran past the job's timeout; give the solver a shorter "
                "time_limit_s or widen the limits.",
            )
            os._exit(3)


NICENESS = 10
"""The worker runs below the service's priority: on a shared machine cards come first."""


def solve(store: JobStore, job_id: str) -> int:
    os.nice(NICENESS)
    job = store.job(job_id)
    started = store.update(
        job_id,
        ("queued",),
        status="running",
        pid=os.getpid(),
        host=socket.gethostname(),
        heartbeat_at=_now(),
        progress="loading the CRM data and scores",
        permille=20,
    )
    if not started:
        return 2  # cancelled before the worker got going
    inputs = job.inputs
    progress = Progress(float(inputs.get("time_limit_s") or 60.0))
    deadline = time.monotonic() + job.timeout_s
    threading.Thread(
        target=_watch, args=(store, job_id, progress, deadline), name="beat", daemon=True
    ).start()
    from serving.scenarios.solve import solve_job

    try:
        summary, folder = solve_job(job.document, inputs, progress)
    except Exception as exc:  # noqa: BLE001 - every failure is written to the row
        traceback.print_exc()
        store.update(
            job_id,
            ("running",),
            status="failed",
            finished_at=_now(),
            progress="failed",
            error=f"{type(exc).__name__}: {exc}"[:2000],
        )
        return 1
    done = store.update(
        job_id,
        ("running",),
        status="done",
        finished_at=_now(),
        progress=f"done: {summary['status']}",
        permille=1000,
        result_path=str(folder),
        summary=summary,
    )
    return 0 if done else 2


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m serving.scenarios.worker JOB_ID", file=sys.stderr)
        return 64
    url = os.environ.get(DB_ENV)
    if not url:
        print(f"{DB_ENV} is not set: the service starts workers with it", file=sys.stderr)
        return 64
    store = JobStore(url, schema=os.environ.get(SCHEMA_ENV) or None)
    try:
        return solve(store, argv[0])
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
