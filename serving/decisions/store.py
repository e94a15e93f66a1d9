"""Decisions on proposed moves, reps' contests and the audit trail, in SQLite or PostgreSQL.

Every write is one transaction that also appends an audit row: who, when, what, the model
version and plan id it was made under, and the previous value it replaced. Rows are only ever
appended (a new decision supersedes the old one; the old one stays), so nothing is lost on restart
and the history of every account can be replayed.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from serving.decisions.records import Decision, PlanRecord
from serving.decisions.tables import build_tables, iso, now, record_of
from serving.decisions.trail import ContestQueue
from serving.errors import Conflict, NotFound

# What an audit row keeps of a decision it replaced or wrote.
DECISION_AUDIT_KEYS = (
    "decision_id",
    "action",
    "final_rep_id",
    "proposed_rep_id",
    "note",
    "actor",
    "decided_at",
)


class DecisionStore(ContestQueue):
    """Append-only store of plans, decisions, contests and their audit trail.

    Args:
        url: SQLAlchemy URL (sqlite:///path.db, postgresql+psycopg://...).
        schema: PostgreSQL schema to keep the tables in (None: the default schema).
    """

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        self.url = url
        connect_args = {"timeout": 30} if url.startswith("sqlite") else {}
        self.engine = sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True)
        if url.startswith("sqlite"):
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self.metadata = sa.MetaData(schema=schema)
        self.t = build_tables(self.metadata)
        self.metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- plans ---------------------------------------------------------------------------------
    def register_plan(self, plan_id: str, path: str) -> PlanRecord:
        """Record a loaded plan as proposed (once); returns its record."""
        plans = self.t["plans"]
        with self.engine.begin() as conn:
            row = (
                conn.execute(sa.select(plans).where(plans.c.plan_id == plan_id)).mappings().first()
            )
            if row is None:
                conn.execute(
                    plans.insert().values(
                        plan_id=plan_id, path=path, status="proposed", registered_at=now()
                    )
                )
                row = (
                    conn.execute(sa.select(plans).where(plans.c.plan_id == plan_id))
                    .mappings()
                    .one()
                )
        return record_of(PlanRecord, row)

    def plan(self, plan_id: str) -> PlanRecord | None:
        plans = self.t["plans"]
        with self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(plans).where(plans.c.plan_id == plan_id)).mappings().first()
            )
        return record_of(PlanRecord, row) if row else None

    def plan_statuses(self) -> dict[str, str]:
        """Status of every plan ever registered, by plan_id."""
        plans = self.t["plans"]
        with self.engine.connect() as conn:
            return dict(conn.execute(sa.select(plans.c.plan_id, plans.c.status)).all())

    def approve_plan(
        self, plan_id: str, *, actor: str, role: str, model_version: str, note: str
    ) -> PlanRecord:
        """Mark a plan approved as a whole (its undecided moves stay with their current owner)."""
        plans = self.t["plans"]
        with self.engine.begin() as conn:
            row = (
                conn.execute(sa.select(plans).where(plans.c.plan_id == plan_id)).mappings().first()
            )
            if row is None:
                raise NotFound(
                    f"plan {plan_id!r} was never loaded by this service; reload it first."
                )
            conn.execute(
                plans.update()
                .where(plans.c.plan_id == plan_id)
                .values(status="approved", approved_by=actor, approved_at=now())
            )
            self._audit(
                conn,
                actor=actor,
                role=role,
                action="plan.approve",
                plan_id=plan_id,
                account_id=None,
                model_version=model_version,
                previous={"status": row["status"]},
                new={"status": "approved"},
                note=note,
            )
            row = conn.execute(sa.select(plans).where(plans.c.plan_id == plan_id)).mappings().one()
        return record_of(PlanRecord, row)

    # -- decisions -----------------------------------------------------------------------------
    def decide(
        self,
        *,
        plan_id: str,
        account_id: str,
        action: str,
        from_rep_id: str | None,
        proposed_rep_id: str,
        final_rep_id: str,
        note: str,
        actor: str,
        role: str,
        model_version: str,
        expected_decision_id: int | None = None,
    ) -> Decision:
        """Append a decision (and its audit row); open contests on the account are resolved by it.

        `expected_decision_id` makes the write conditional: Conflict when someone decided since
        (pass 0 for "no decision yet").
        """
        with self.engine.begin() as conn:
            previous = self._latest_decision(conn, plan_id, account_id)
            if expected_decision_id is not None:
                _check_unchanged(previous, expected_decision_id, account_id)
            stamp = now()
            values = {
                "plan_id": plan_id,
                "account_id": account_id,
                "action": action,
                "from_rep_id": from_rep_id,
                "proposed_rep_id": proposed_rep_id,
                "final_rep_id": final_rep_id,
                "note": note,
                "actor": actor,
                "model_version": model_version,
            }
            inserted = conn.execute(self.t["decisions"].insert().values(**values, decided_at=stamp))
            record = Decision(
                decision_id=int(inserted.inserted_primary_key[0]),
                decided_at=iso(stamp) or "",
                **values,
            )
            self._audit_decision(conn, record, previous, role=role)
        return record

    def _audit_decision(
        self, conn: sa.Connection, record: Decision, previous, *, role: str
    ) -> None:
        """The decision's audit row, and its resolution of the account's open contests."""
        self._audit(
            conn,
            actor=record.actor,
            role=role,
            action=f"decision.{record.action}",
            plan_id=record.plan_id,
            account_id=record.account_id,
            model_version=record.model_version,
            previous=_decision_value(previous),
            new=_decision_value(record.model_dump()),
            note=record.note,
        )
        self._resolve_contests(
            conn,
            record.plan_id,
            record.account_id,
            actor=record.actor,
            role=role,
            model_version=record.model_version,
            resolution=f"{record.action}: {record.note}".strip(": "),
        )

    def decision(self, plan_id: str, account_id: str) -> Decision | None:
        with self.engine.connect() as conn:
            row = self._latest_decision(conn, plan_id, account_id)
        return record_of(Decision, row) if row else None

    def decisions(self, plan_id: str) -> dict[str, Decision]:
        """The latest decision per account of a plan."""
        d = self.t["decisions"]
        latest = (
            sa.select(sa.func.max(d.c.decision_id))
            .where(d.c.plan_id == plan_id)
            .group_by(d.c.account_id)
            .scalar_subquery()
        )
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(d).where(d.c.decision_id.in_(latest))).mappings().all()
        return {row["account_id"]: record_of(Decision, row) for row in rows}

    def _latest_decision(self, conn: sa.Connection, plan_id: str, account_id: str):
        d = self.t["decisions"]
        query = (
            sa.select(d)
            .where(d.c.plan_id == plan_id, d.c.account_id == account_id)
            .order_by(d.c.decision_id.desc())
            .limit(1)
        )
        return conn.execute(query).mappings().first()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets readers (card requests) run while a decision is being written.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _check_unchanged(previous, expected_decision_id: int, account_id: str) -> None:
    """Conflict unless the latest decision is the one the caller saw (0: none yet)."""
    seen = previous["decision_id"] if previous else 0
    if seen == expected_decision_id:
        return
    who = (
        f"{previous['actor']} chose {previous['action']} at {iso(previous['decided_at'])}"
        if previous
        else "the decision was withdrawn"
    )
    raise Conflict(
        f"account {account_id}: decision changed since you loaded it ({who}); "
        "reload the move and decide again."
    )


def _decision_value(row) -> dict | None:
    if not row:
        return None
    return {
        k: (iso(v) if isinstance(v, datetime) else v)
        for k, v in dict(row).items()
        if k in DECISION_AUDIT_KEYS
    }
