"""Saved scenarios and their solve jobs, declared once as records (the decisions store's
convention: serving/decisions/records.py); jobs.py derives their tables with ``table_of``."""

from __future__ import annotations

from typing import Annotated

from serving.decisions.records import (
    EntityId,
    Json,
    Record,
    RowId,
    RowRef,
    Stored,
    Text,
    Time,
    Word,
)

JobKey = Annotated[str, Stored("str", 32, primary_key=True)]
Hash = Annotated[str, Stored("str", 64)]
Seconds = Annotated[int, Stored("int")]  # also a count, e.g. permille of progress

JOB_STATUSES = ("queued", "running", "cancelling", "done", "failed", "cancelled", "timed_out")
"""queued: row written, worker starting; running: the worker process is solving; cancelling: a
cancel was asked (the worker stops within a second); done: a plan folder was written (feasible or
not); failed, cancelled, timed_out: ended without a plan."""
OPEN_STATUSES = ("queued", "running", "cancelling")


class SavedScenario(Record):
    """A scenario a manager saved: its name, author and the document `territory plan` reads."""

    scenario_id: RowId
    name: EntityId
    author: Text
    document: Json
    created_at: Time


class ScenarioJob(Record):
    """One solve of a scenario document in a worker process; the row is the job's whole state,
    so any service replica on the same database can report or cancel it."""

    job_id: JobKey
    scenario_id: RowRef
    name: EntityId
    author: Text
    input_hash: Hash
    document: Json
    inputs: Json
    status: Word
    progress: Text
    permille: Seconds
    pid: RowRef
    host: Text
    timeout_s: Seconds
    created_at: Time
    heartbeat_at: Time | None
    finished_at: Time | None
    result_path: Text | None
    summary: Json | None
    error: Text | None
    adopted_plan_id: Text | None
