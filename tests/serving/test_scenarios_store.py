"""The scenario job store on SQLite and a real PostgreSQL (throwaway schema): saved scenarios,
conditional state changes, heartbeats, lost workers; and a worker process on PostgreSQL cancelled
through another store instance, as a second service replica would."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from serving.errors import NotFound
from serving.scenarios import runner
from serving.scenarios.jobs import STALE_AFTER_S, JobStore


def new_job(store: JobStore, **inputs):
    return store.create_job(
        scenario_id=0,
        name="test",
        author="Maria",
        input_hash="h" * 64,
        document={"name": "test"},
        inputs={"out_dir": "/nonexistent", **inputs},
        timeout_s=60,
    )


def exercise(store: JobStore) -> None:
    saved = store.save_scenario("hire two", "Maria", {"add_reps": [{"rep_id": "N1"}]})
    assert store.scenario(saved.scenario_id).document == {"add_reps": [{"rep_id": "N1"}]}
    assert [s.name for s in store.list_scenarios()] == ["hire two"]
    with pytest.raises(NotFound, match="scenario 999 is not saved"):
        store.scenario(999)
    job = new_job(store)
    assert job.status == "queued" and store.reusable("h" * 64).job_id == job.job_id
    assert store.update(job.job_id, ("queued",), status="running", heartbeat_at=datetime.now(UTC))
    assert not store.update(job.job_id, ("queued",), status="cancelled")  # lost the race
    assert store.heartbeat(job.job_id, "solving: phase 1", 400) == "running"
    assert store.job(job.job_id).permille == 400
    stale = datetime.now(UTC) - timedelta(seconds=STALE_AFTER_S + 5)
    store.update(job.job_id, ("running",), heartbeat_at=stale)
    lost = store.job(job.job_id)
    assert lost.status == "failed" and "stopped answering" in lost.error
    assert store.reusable("h" * 64) is None  # a failed job is not a cached result
    with pytest.raises(NotFound, match="does not exist"):
        store.job("nope")


def test_sqlite_job_store(tmp_path):
    store = JobStore(f"sqlite:///{tmp_path / 'decisions.db'}")
    exercise(store)
    store.close()


@pytest.mark.integration
def test_postgres_job_store(postgres_url, pg_schema):
    store = JobStore(postgres_url, schema=pg_schema)
    exercise(store)
    store.close()


@pytest.mark.integration
@pytest.mark.slow
def test_worker_on_postgres_is_cancelled_through_another_replica(
    postgres_url, pg_schema, crm_dir, scores_path, tmp_path
):
    replica_a = JobStore(postgres_url, schema=pg_schema)
    replica_b = JobStore(postgres_url, schema=pg_schema)
    inputs = {
        "crm_source": str(crm_dir),
        "scores_path": str(scores_path),
        "out_dir": str(tmp_path / "job"),
        "time_limit_s": 120,
    }
    document = {"name": "long", "solver": {"time_limit_s": 120}}
    job, cached = runner.submit(
        replica_a,
        document=document,
        name="long",
        author="Maria",
        scenario_id=0,
        inputs=inputs,
        key="k" * 64,
        timeout_s=600,
    )
    assert not cached
    deadline = time.monotonic() + 120
    while replica_b.job(job.job_id).status != "running" or replica_b.job(job.job_id).pid == 0:
        assert time.monotonic() < deadline, (tmp_path / "job" / "worker.log").read_text()
        time.sleep(0.3)
    # replica B on another machine can only ask through the row; the worker ends itself
    assert replica_b.update(job.job_id, ("running",), status="cancelling")
    deadline = time.monotonic() + 30
    while replica_a.job(job.job_id).status == "cancelling":
        assert time.monotonic() < deadline, "the worker did not see the cancel"
        time.sleep(0.3)
    final = replica_a.job(job.job_id)
    assert final.status == "cancelled" and final.finished_at
    pid = final.pid
    time.sleep(1.5)
    with pytest.raises(ProcessLookupError):
        import os

        os.kill(pid, 0)  # the worker process is gone (reaped by the runner's thread)
    replica_a.close()
    replica_b.close()
