"""The scenario tables (saved scenarios, solve jobs) in the decisions database, SQLite or
PostgreSQL, and every read and write of them.

State changes are conditional updates (``WHERE status IN ...``), so a cancel racing a worker's
last write, or two replicas reporting the same stale job, leave exactly one outcome.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from serving.decisions.db import _sqlite_begin, _sqlite_connect
from serving.decisions.tables import record_of, table_of, upgrade
from serving.errors import NotFound
from serving.scenarios.records import OPEN_STATUSES, SavedScenario, ScenarioJob

STALE_AFTER_S = 60
"""A running job whose worker has not written a heartbeat for this long is reported lost."""


def _now() -> datetime:
    return datetime.now(UTC)


class JobStore:
    """Saved scenarios and solve jobs; the service and the worker processes each open one.

    Args:
        url: SQLAlchemy URL of the decisions database (TERRITORY_DECISIONS_URL).
        schema: PostgreSQL schema holding the tables (None: the default one).
    """

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        self.url, self.schema = url, schema
        sqlite = url.startswith("sqlite")
        args = {"timeout": 30} if sqlite else {}
        self.engine = sa.create_engine(url, connect_args=args, pool_pre_ping=True)
        if sqlite:
            sa.event.listen(self.engine, "connect", _sqlite_connect)
            sa.event.listen(self.engine, "begin", _sqlite_begin)
        metadata = sa.MetaData(schema=schema)
        self.scenarios = table_of(
            SavedScenario, "territory_scenarios", metadata, "ix_territory_scenarios_name:name"
        )
        self.jobs = table_of(
            ScenarioJob, "territory_scenario_jobs", metadata, "ix_territory_jobs_hash:input_hash"
        )
        upgrade(self.engine, metadata)

    def close(self) -> None:
        self.engine.dispose()

    def _write(self, statement) -> sa.CursorResult:
        with self.engine.connect() as conn:
            conn.execution_options(territory_write=True)
            with conn.begin():
                return conn.execute(statement)

    # -- saved scenarios ----------------------------------------------------------------------
    def save_scenario(self, name: str, author: str, document: dict) -> SavedScenario:
        values = {
            "name": name,
            "author": author,
            "document": json.dumps(document),
            "created_at": _now(),
        }
        result = self._write(sa.insert(self.scenarios).values(**values))
        return self.scenario(int(result.inserted_primary_key[0]))

    def scenario(self, scenario_id: int) -> SavedScenario:
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    sa.select(self.scenarios).where(self.scenarios.c.scenario_id == scenario_id)
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(
                f"scenario {scenario_id} is not saved; list saved ones with POST /scenario_list."
            )
        return record_of(SavedScenario, row)

    def list_scenarios(self) -> list[SavedScenario]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(self.scenarios).order_by(self.scenarios.c.scenario_id.desc())
            ).mappings()
            return [record_of(SavedScenario, r) for r in rows]

    # -- jobs ---------------------------------------------------------------------------------
    def reusable(self, input_hash: str) -> ScenarioJob | None:
        """The newest queued, running or done job with these inputs (the result cache)."""
        t = self.jobs.c
        query = (
            sa.select(self.jobs)
            .where(t.input_hash == input_hash, t.status.in_(["queued", "running", "done"]))
            .order_by(t.created_at.desc())
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        job = record_of(ScenarioJob, row) if row is not None else None
        return None if job is None else self.checked(job)

    def create_job(self, **values: Any) -> ScenarioJob:
        job_id = uuid.uuid4().hex[:16]
        row = {
            "job_id": job_id,
            "status": "queued",
            "progress": "queued: the worker process is starting",
            "permille": 0,
            "pid": 0,
            "host": "",
            "created_at": _now(),
            **values,
        }
        for key in ("document", "inputs"):
            row[key] = json.dumps(row[key])
        self._write(sa.insert(self.jobs).values(**row))
        return self.job(job_id)

    def job(self, job_id: str) -> ScenarioJob:
        with self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(self.jobs).where(self.jobs.c.job_id == job_id))
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(
                f"scenario job {job_id!r} does not exist; list jobs with POST /scenario_list."
            )
        return self.checked(record_of(ScenarioJob, row))

    def list_jobs(self, limit: int = 50) -> list[ScenarioJob]:
        query = sa.select(self.jobs).order_by(self.jobs.c.created_at.desc()).limit(limit)
        with self.engine.connect() as conn:
            rows = list(conn.execute(query).mappings())
        return [self.checked(record_of(ScenarioJob, r)) for r in rows]

    def update(self, job_id: str, only_if: tuple[str, ...], **values: Any) -> bool:
        """Set ``values`` when the job's status is one of ``only_if``; whether it changed."""
        if "summary" in values and values["summary"] is not None:
            values["summary"] = json.dumps(values["summary"])
        t = self.jobs.c
        result = self._write(
            sa.update(self.jobs).where(t.job_id == job_id, t.status.in_(only_if)).values(**values)
        )
        return result.rowcount == 1

    def heartbeat(self, job_id: str, progress: str | None, permille: int | None) -> str:
        """The worker's beat (and progress); returns the status it finds (a cancel shows here)."""
        values: dict[str, Any] = {"heartbeat_at": _now()}
        if progress is not None:
            values["progress"] = progress[:500]
        if permille is not None:
            values["permille"] = max(0, min(1000, int(permille)))
        self.update(job_id, ("running",), **values)
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(self.jobs.c.status).where(self.jobs.c.job_id == job_id)
            ).scalar_one()

    def checked(self, job: ScenarioJob) -> ScenarioJob:
        """The job, marked failed when its worker stopped beating (killed, machine lost)."""
        if job.status not in OPEN_STATUSES:
            return job
        beat = job.heartbeat_at or job.created_at
        last = datetime.fromisoformat(beat)
        if _now() - last < timedelta(seconds=STALE_AFTER_S):
            return job
        self.update(
            job.job_id,
            OPEN_STATUSES,
            status="failed",
            finished_at=_now(),
            error=f"the worker process stopped answering (last sign of life {beat}); "
            "solve the scenario again.",
        )
        with self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(self.jobs).where(self.jobs.c.job_id == job.job_id))
                .mappings()
                .first()
            )
        return record_of(ScenarioJob, row)
