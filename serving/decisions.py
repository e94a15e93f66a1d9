"""Decisions on proposed moves, reps' contests and the audit trail, in SQLite or PostgreSQL.

Every write is one transaction that also appends an audit row: who, when, what, the model
version and plan id it was made under, and the previous value it replaced. Rows are only ever
appended (a new decision supersedes the old one; the old one stays), so nothing is lost on restart
and the history of every account can be replayed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from serving.errors import Conflict, NotFound

ACTIONS = ("approve", "reject", "override")
PLAN_STATUSES = ("proposed", "approved", "superseded")


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive datetimes; they were written as UTC
        value = value.replace(tzinfo=UTC)
    return value.isoformat(timespec="seconds")


@dataclass(frozen=True)
class Decision:
    """A manager's decision on one move of one plan (the latest one per account wins)."""

    decision_id: int
    plan_id: str
    account_id: str
    action: str
    from_rep_id: str | None
    proposed_rep_id: str
    final_rep_id: str
    note: str
    actor: str
    model_version: str
    decided_at: str


@dataclass(frozen=True)
class Contest:
    """A rep's objection to a proposed move, waiting in the manager's queue until decided."""

    contest_id: int
    plan_id: str
    account_id: str
    rep_id: str
    reason: str
    status: str
    actor: str
    created_at: str
    resolved_by: str | None
    resolved_at: str | None
    resolution: str | None


@dataclass(frozen=True)
class AuditEntry:
    """One append-only audit row."""

    audit_id: int
    at: str
    actor: str
    role: str
    action: str
    plan_id: str | None
    account_id: str | None
    model_version: str | None
    previous_value: Any
    new_value: Any
    note: str


@dataclass(frozen=True)
class PlanRecord:
    """A plan the service has loaded, and whether a manager approved it as a whole."""

    plan_id: str
    path: str
    status: str
    registered_at: str
    approved_by: str | None
    approved_at: str | None


def _tables(metadata: sa.MetaData) -> dict[str, sa.Table]:
    ts = sa.DateTime(timezone=True)
    plans = sa.Table(
        "territory_plans",
        metadata,
        sa.Column("plan_id", sa.String(64), primary_key=True),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("registered_at", ts, nullable=False),
        sa.Column("approved_by", sa.Text),
        sa.Column("approved_at", ts),
    )
    decisions = sa.Table(
        "territory_decisions",
        metadata,
        sa.Column("decision_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("plan_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_rep_id", sa.String(128)),
        sa.Column("proposed_rep_id", sa.String(128), nullable=False),
        sa.Column("final_rep_id", sa.String(128), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("model_version", sa.Text, nullable=False),
        sa.Column("decided_at", ts, nullable=False),
        sa.Index("ix_territory_decisions_plan_account", "plan_id", "account_id"),
    )
    contests = sa.Table(
        "territory_contests",
        metadata,
        sa.Column("contest_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("plan_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("rep_id", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("resolved_by", sa.Text),
        sa.Column("resolved_at", ts),
        sa.Column("resolution", sa.Text),
        sa.Index("ix_territory_contests_plan_status", "plan_id", "status"),
    )
    audit = sa.Table(
        "territory_audit",
        metadata,
        sa.Column("audit_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", ts, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("plan_id", sa.String(64)),
        sa.Column("account_id", sa.String(128)),
        sa.Column("model_version", sa.Text),
        sa.Column("previous_value", sa.Text),
        sa.Column("new_value", sa.Text),
        sa.Column("note", sa.Text, nullable=False),
        sa.Index("ix_territory_audit_plan_account", "plan_id", "account_id"),
    )
    return {"plans": plans, "decisions": decisions, "contests": contests, "audit": audit}


class DecisionStore:
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
        self.t = _tables(self.metadata)
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
                        plan_id=plan_id, path=path, status="proposed", registered_at=_now()
                    )
                )
                row = (
                    conn.execute(sa.select(plans).where(plans.c.plan_id == plan_id))
                    .mappings()
                    .one()
                )
        return _plan(row)

    def plan(self, plan_id: str) -> PlanRecord | None:
        plans = self.t["plans"]
        with self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(plans).where(plans.c.plan_id == plan_id)).mappings().first()
            )
        return _plan(row) if row else None

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
                .values(status="approved", approved_by=actor, approved_at=_now())
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
        return _plan(row)

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
        decisions = self.t["decisions"]
        with self.engine.begin() as conn:
            previous = self._latest_decision(conn, plan_id, account_id)
            if expected_decision_id is not None:
                seen = previous["decision_id"] if previous else 0
                if seen != expected_decision_id:
                    who = (
                        f"{previous['actor']} chose {previous['action']} "
                        f"at {_iso(previous['decided_at'])}"
                        if previous
                        else "the decision was withdrawn"
                    )
                    raise Conflict(
                        f"account {account_id}: decision changed since you loaded it ({who}); "
                        "reload the move and decide again."
                    )
            now = _now()
            new_id = conn.execute(
                decisions.insert().values(
                    plan_id=plan_id,
                    account_id=account_id,
                    action=action,
                    from_rep_id=from_rep_id,
                    proposed_rep_id=proposed_rep_id,
                    final_rep_id=final_rep_id,
                    note=note,
                    actor=actor,
                    model_version=model_version,
                    decided_at=now,
                )
            ).inserted_primary_key[0]
            record = Decision(
                int(new_id),
                plan_id,
                account_id,
                action,
                from_rep_id,
                proposed_rep_id,
                final_rep_id,
                note,
                actor,
                model_version,
                _iso(now) or "",
            )
            self._audit(
                conn,
                actor=actor,
                role=role,
                action=f"decision.{action}",
                plan_id=plan_id,
                account_id=account_id,
                model_version=model_version,
                previous=_decision_value(previous),
                new=_decision_value(asdict(record)),
                note=note,
            )
            self._resolve_contests(
                conn,
                plan_id,
                account_id,
                actor=actor,
                role=role,
                model_version=model_version,
                resolution=f"{action}: {note}".strip(": "),
            )
        return record

    def decision(self, plan_id: str, account_id: str) -> Decision | None:
        with self.engine.connect() as conn:
            row = self._latest_decision(conn, plan_id, account_id)
        return _decision(row) if row else None

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
        return {row["account_id"]: _decision(row) for row in rows}

    def _latest_decision(self, conn: sa.Connection, plan_id: str, account_id: str):
        d = self.t["decisions"]
        query = (
            sa.select(d)
            .where(d.c.plan_id == plan_id, d.c.account_id == account_id)
            .order_by(d.c.decision_id.desc())
            .limit(1)
        )
        return conn.execute(query).mappings().first()

    # -- contests ------------------------------------------------------------------------------
    def contest(
        self,
        *,
        plan_id: str,
        account_id: str,
        rep_id: str,
        reason: str,
        actor: str,
        model_version: str,
    ) -> Contest:
        """Append a rep's contest of a move; it waits (status open) until a manager decides."""
        c = self.t["contests"]
        with self.engine.begin() as conn:
            now = _now()
            new_id = conn.execute(
                c.insert().values(
                    plan_id=plan_id,
                    account_id=account_id,
                    rep_id=rep_id,
                    reason=reason,
                    status="open",
                    actor=actor,
                    created_at=now,
                )
            ).inserted_primary_key[0]
            record = Contest(
                int(new_id),
                plan_id,
                account_id,
                rep_id,
                reason,
                "open",
                actor,
                _iso(now) or "",
                None,
                None,
                None,
            )
            self._audit(
                conn,
                actor=actor,
                role="rep",
                action="contest.open",
                plan_id=plan_id,
                account_id=account_id,
                model_version=model_version,
                previous=None,
                new={"contest_id": record.contest_id, "reason": reason},
                note=reason,
            )
        return record

    def contests(
        self,
        plan_id: str,
        *,
        status: str | None = "open",
        account_id: str | None = None,
        rep_id: str | None = None,
    ) -> list[Contest]:
        c = self.t["contests"]
        query = sa.select(c).where(c.c.plan_id == plan_id).order_by(c.c.contest_id)
        if status is not None:
            query = query.where(c.c.status == status)
        if account_id is not None:
            query = query.where(c.c.account_id == account_id)
        if rep_id is not None:
            query = query.where(c.c.rep_id == rep_id)
        with self.engine.connect() as conn:
            return [_contest(row) for row in conn.execute(query).mappings()]

    def open_contest_counts(self, plan_id: str) -> dict[str, int]:
        c = self.t["contests"]
        query = (
            sa.select(c.c.account_id, sa.func.count())
            .where(c.c.plan_id == plan_id, c.c.status == "open")
            .group_by(c.c.account_id)
        )
        with self.engine.connect() as conn:
            return {account: int(n) for account, n in conn.execute(query).all()}

    def _resolve_contests(
        self,
        conn: sa.Connection,
        plan_id: str,
        account_id: str,
        *,
        actor: str,
        role: str,
        model_version: str,
        resolution: str,
    ) -> None:
        c = self.t["contests"]
        open_ids = (
            conn.execute(
                sa.select(c.c.contest_id).where(
                    c.c.plan_id == plan_id, c.c.account_id == account_id, c.c.status == "open"
                )
            )
            .scalars()
            .all()
        )
        if not open_ids:
            return
        conn.execute(
            c.update()
            .where(c.c.contest_id.in_(open_ids))
            .values(status="resolved", resolved_by=actor, resolved_at=_now(), resolution=resolution)
        )
        self._audit(
            conn,
            actor=actor,
            role=role,
            action="contest.resolve",
            plan_id=plan_id,
            account_id=account_id,
            model_version=model_version,
            previous={"contest_ids": list(open_ids), "status": "open"},
            new={"status": "resolved"},
            note=resolution,
        )

    # -- audit ---------------------------------------------------------------------------------
    def _audit(
        self,
        conn: sa.Connection,
        *,
        actor: str,
        role: str,
        action: str,
        plan_id: str | None,
        account_id: str | None,
        model_version: str | None,
        previous: Any,
        new: Any,
        note: str,
    ) -> None:
        conn.execute(
            self.t["audit"]
            .insert()
            .values(
                at=_now(),
                actor=actor,
                role=role,
                action=action,
                plan_id=plan_id,
                account_id=account_id,
                model_version=model_version,
                previous_value=json.dumps(previous, default=str),
                new_value=json.dumps(new, default=str),
                note=note,
            )
        )

    def record(
        self,
        *,
        actor: str,
        role: str,
        action: str,
        plan_id: str | None = None,
        account_id: str | None = None,
        model_version: str | None = None,
        previous: Any = None,
        new: Any = None,
        note: str = "",
    ) -> None:
        """Append an audit row for an event that changes no other table (reloads, exports)."""
        with self.engine.begin() as conn:
            self._audit(
                conn,
                actor=actor,
                role=role,
                action=action,
                plan_id=plan_id,
                account_id=account_id,
                model_version=model_version,
                previous=previous,
                new=new,
                note=note,
            )

    def audit(
        self, *, plan_id: str | None = None, account_id: str | None = None, limit: int = 200
    ) -> list[AuditEntry]:
        """Newest first."""
        a = self.t["audit"]
        query = sa.select(a).order_by(a.c.audit_id.desc()).limit(limit)
        if plan_id is not None:
            query = query.where(a.c.plan_id == plan_id)
        if account_id is not None:
            query = query.where(a.c.account_id == account_id)
        with self.engine.connect() as conn:
            return [_audit_entry(row) for row in conn.execute(query).mappings()]


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets readers (card requests) run while a decision is being written.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _decision_value(row) -> dict | None:
    if not row:
        return None
    return {
        k: (_iso(v) if isinstance(v, datetime) else v)
        for k, v in dict(row).items()
        if k
        in {
            "decision_id",
            "action",
            "final_rep_id",
            "proposed_rep_id",
            "note",
            "actor",
            "decided_at",
        }
    }


def _plan(row) -> PlanRecord:
    return PlanRecord(
        row["plan_id"],
        row["path"],
        row["status"],
        _iso(row["registered_at"]) or "",
        row["approved_by"],
        _iso(row["approved_at"]),
    )


def _decision(row) -> Decision:
    return Decision(
        int(row["decision_id"]),
        row["plan_id"],
        row["account_id"],
        row["action"],
        row["from_rep_id"],
        row["proposed_rep_id"],
        row["final_rep_id"],
        row["note"],
        row["actor"],
        row["model_version"],
        _iso(row["decided_at"]) or "",
    )


def _contest(row) -> Contest:
    return Contest(
        int(row["contest_id"]),
        row["plan_id"],
        row["account_id"],
        row["rep_id"],
        row["reason"],
        row["status"],
        row["actor"],
        _iso(row["created_at"]) or "",
        row["resolved_by"],
        _iso(row["resolved_at"]),
        row["resolution"],
    )


def _audit_entry(row) -> AuditEntry:
    def load(text):
        return json.loads(text) if text else None

    return AuditEntry(
        int(row["audit_id"]),
        _iso(row["at"]) or "",
        row["actor"],
        row["role"],
        row["action"],
        row["plan_id"],
        row["account_id"],
        row["model_version"],
        load(row["previous_value"]),
        load(row["new_value"]),
        row["note"],
    )


def as_dicts(records: Iterable) -> list[dict]:
    """Dataclass records as plain dicts (for pydantic responses)."""
    return [asdict(r) for r in records]


@dataclass(frozen=True)
class DecisionView:
    """The latest decision and open-contest count per account of one plan, at one moment."""

    plan_id: str
    decisions: dict[str, Decision]
    open_contests: dict[str, int]


class DecisionCache:
    """DecisionView kept in memory for the request path, re-read only when the audit trail grew.

    Writes through this process call invalidate(); writes by other processes (more workers, a
    second replica) show up within `check_every_s`, found by one cheap max(audit_id) query.
    """

    def __init__(self, store: DecisionStore, plan_id: str, *, check_every_s: float = 1.0) -> None:
        import time

        self._clock = time.monotonic
        self.store = store
        self.plan_id = plan_id
        self.check_every_s = check_every_s
        self._view: DecisionView | None = None
        self._high_water = -1
        self._checked = 0.0

    def invalidate(self) -> None:
        self._view = None

    def view(self) -> DecisionView:
        now = self._clock()
        if self._view is not None and now - self._checked < self.check_every_s:
            return self._view
        self._checked = now
        mark = self._audit_high_water()
        if self._view is None or mark != self._high_water:
            self._view = DecisionView(
                self.plan_id,
                self.store.decisions(self.plan_id),
                self.store.open_contest_counts(self.plan_id),
            )
            self._high_water = mark
        return self._view

    def _audit_high_water(self) -> int:
        a = self.store.t["audit"]
        with self.store.engine.connect() as conn:
            return int(
                conn.execute(sa.select(sa.func.coalesce(sa.func.max(a.c.audit_id), 0))).scalar_one()
            )
