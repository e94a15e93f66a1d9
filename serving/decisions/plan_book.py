"""The plans the service has loaded and their lifecycle: proposed -> approved (immutable, with an
effective date) -> superseded by a later approval, or rolled back (the plan approved before it is
restored). One plan is approved at a time; every change is one audited transaction."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

import sqlalchemy as sa

from serving.decisions.idempotency import WriteKey
from serving.decisions.records import Decision, PlanRecord
from serving.decisions.tables import now, record_of
from serving.decisions.trail import ContestQueue, require_open_plan
from serving.errors import Conflict, NotFound


class PlanBook(ContestQueue):
    """Plan records: registration, approval and rollback."""

    def register_plan(self, plan_id: str, path: str) -> PlanRecord:
        """Record a loaded plan as proposed (once); returns its record."""
        plans = self.t["plans"]

        def work(conn: sa.Connection):
            row = self._plan_row(conn, plan_id)
            if row is None:
                conn.execute(
                    plans.insert().values(
                        plan_id=plan_id, path=path, status="proposed", registered_at=now()
                    )
                )
                row = self._plan_row(conn, plan_id)
            return row

        return record_of(PlanRecord, self.write(work, what=f"registering plan {plan_id}"))

    def plan(self, plan_id: str) -> PlanRecord | None:
        row = self.read(lambda conn: self._plan_row(conn, plan_id), what="reading plans")
        return record_of(PlanRecord, row) if row else None

    def plans(self) -> list[PlanRecord]:
        """Every plan ever registered, oldest first."""
        plans = self.t["plans"]
        rows = self.read(
            lambda conn: (
                conn.execute(sa.select(plans).order_by(plans.c.registered_at)).mappings().all()
            ),
            what="reading plans",
        )
        return [record_of(PlanRecord, row) for row in rows]

    def plan_statuses(self) -> dict[str, str]:
        """Status of every plan ever registered, by plan_id."""
        return {p.plan_id: p.status for p in self.plans()}

    def approve_plan(
        self,
        plan_id: str,
        *,
        actor: str,
        role: str,
        model_version: str,
        note: str,
        effective_date: date | None = None,
        summarize: Callable[[dict[str, Decision]], dict[str, Any]] | None = None,
        key: WriteKey | None = None,
    ) -> PlanRecord:
        """Approve a proposed plan as a whole: it becomes immutable and effective on
        `effective_date` (default today); the plan approved before it is superseded; open
        contests close. `summarize(decisions)` says what the approval applies (kept as
        `applied`), from the decisions as this transaction sees them."""
        effective = (effective_date or now().date()).isoformat()

        def work(conn: sa.Connection) -> PlanRecord:
            self._lock_plans(conn)
            row = self._plan_row(conn, plan_id)
            if row is None:
                raise NotFound(
                    f"plan {plan_id!r} was never loaded by this service; reload it first."
                )
            require_open_plan(conn, self.t["plans"], plan_id, "approving it again")
            decisions = self._latest_decisions(conn, plan_id)  # type: ignore[attr-defined]
            applied = summarize(decisions) if summarize else {}
            for earlier in self._with_status(conn, "approved"):
                self._set_status(conn, earlier, "superseded", actor, role, model_version, note)
            values = {"approved_by": actor, "approved_at": now(), "effective_date": effective}
            self._set_status(
                conn, row, "approved", actor, role, model_version, note, applied=applied, **values
            )
            self._resolve_contests(
                conn,
                plan_id,
                None,
                actor=actor,
                role=role,
                model_version=model_version,
                resolution=f"closed: plan approved, effective {effective}; undecided moves stay "
                "with their current owner",
            )
            return record_of(PlanRecord, self._plan_row(conn, plan_id))

        return self.write_once(
            key,
            work,
            what=f"approving plan {plan_id}",
            dump=lambda r: r.model_dump(),
            load=PlanRecord.model_validate,
        )

    def rollback_plan(
        self,
        *,
        actor: str,
        role: str,
        model_version: str,
        note: str,
        to_plan_id: str | None = None,
        key: WriteKey | None = None,
    ) -> PlanRecord:
        """Withdraw the approved plan (status rolled_back) and restore an earlier approved one
        (default: the last superseded), effective today; returns the restored plan's record."""

        def work(conn: sa.Connection) -> PlanRecord:
            self._lock_plans(conn)
            current = self._with_status(conn, "approved")
            earlier = self._with_status(conn, "superseded")
            if to_plan_id is not None:
                earlier = [r for r in earlier if r["plan_id"] == to_plan_id]
            if not current or not earlier:
                raise Conflict(
                    "nothing to roll back to: "
                    + (
                        "no plan is approved now"
                        if not current
                        else f"no earlier approved plan {to_plan_id or ''} (superseded) exists"
                    )
                    + f"; plans: {self._summary(conn)}."
                )
            restored = max(earlier, key=lambda r: iso_key(r["approved_at"]))
            for row in current:
                self._set_status(conn, row, "rolled_back", actor, role, model_version, note)
            today = now().date().isoformat()
            self._set_status(
                conn, restored, "approved", actor, role, model_version, note, effective_date=today
            )
            return record_of(PlanRecord, self._plan_row(conn, restored["plan_id"]))

        return self.write_once(
            key,
            work,
            what="rolling back the approved plan",
            dump=lambda r: r.model_dump(),
            load=PlanRecord.model_validate,
        )

    # -- helpers -------------------------------------------------------------------------------
    def _lock_plans(self, conn: sa.Connection) -> None:
        """Lock every plan row (PostgreSQL; SQLite's BEGIN IMMEDIATE already serializes): two
        approvals or rollbacks on two replicas take turns, so one plan is approved at a time, and
        decisions (which share-lock their plan's row) wait for the status change. The reads that
        follow are new statements, so they see what a previous holder committed."""
        if conn.dialect.name == "postgresql":
            plans = self.t["plans"]
            conn.execute(sa.select(plans.c.plan_id).with_for_update()).all()

    def _plan_row(self, conn: sa.Connection, plan_id: str):
        plans = self.t["plans"]
        return conn.execute(sa.select(plans).where(plans.c.plan_id == plan_id)).mappings().first()

    def _with_status(self, conn: sa.Connection, status: str) -> list:
        plans = self.t["plans"]
        query = sa.select(plans).where(plans.c.status == status)
        return list(conn.execute(query).mappings().all())

    def _summary(self, conn: sa.Connection) -> str:
        plans = self.t["plans"]
        rows = conn.execute(sa.select(plans.c.plan_id, plans.c.status)).all()
        return ", ".join(f"{p} {s}" for p, s in rows) or "none"

    def _set_status(
        self,
        conn: sa.Connection,
        row,
        status: str,
        actor: str,
        role: str,
        model_version: str,
        note: str,
        **values: Any,
    ) -> None:
        plans = self.t["plans"]
        stored = {k: (_json(v) if k == "applied" else v) for k, v in values.items()}
        conn.execute(
            plans.update().where(plans.c.plan_id == row["plan_id"]).values(status=status, **stored)
        )
        self._audit(
            conn,
            actor=actor,
            role=role,
            action=_PLAN_ACTIONS[(row["status"], status)],
            plan_id=row["plan_id"],
            account_id=None,
            model_version=model_version,
            previous={"status": row["status"]},
            new={"status": status, **{k: str(v) for k, v in values.items() if k != "applied"}},
            note=note,
        )


_PLAN_ACTIONS = {
    ("proposed", "approved"): "plan.approve",
    ("approved", "superseded"): "plan.supersede",
    ("approved", "rolled_back"): "plan.rollback",
    ("superseded", "approved"): "plan.restore",
}


def iso_key(value) -> str:
    return "" if value is None else str(value)


def _json(value: Any) -> str:
    return json.dumps(value, default=str)
