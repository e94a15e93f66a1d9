"""The audit trail (append-only) and reps' contests of moves: the parts of DecisionStore that
every other write builds on (on the Database's atomic writes, db.py).
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from serving.decisions.db import Database
from serving.decisions.idempotency import WriteKey
from serving.decisions.records import AuditEntry, Contest
from serving.decisions.tables import iso, now, record_of
from serving.errors import Conflict, NotFound


def require_open_plan(conn: sa.Connection, plans: sa.Table, plan_id: str, doing: str):
    """The plan's row, share-locked for this transaction (an approval waits for it); NotFound
    when the plan was never registered, Conflict unless it is still open (proposed)."""
    query = sa.select(plans).where(plans.c.plan_id == plan_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(read=True)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound(
            f"plan {plan_id!r} is not registered in the decisions store, so {doing} would point "
            "at no plan version; POST /reload to load and register it."
        )
    if row["status"] != "proposed":
        when = iso(row["approved_at"]) or "earlier"
        raise Conflict(
            f"plan {plan_id} is {row['status']} (approved by {row['approved_by']} at {when}, "
            f"effective {row['effective_date']}); an approved plan is immutable, so {doing} is "
            "refused. Run `territory plan` for a new version, or roll back."
        )
    return row


class AuditTrail(Database):
    """Writes and reads audit rows; every write of the store appends one in its transaction."""

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
                at=now(),
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
        self.write(
            lambda conn: self._audit(
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
            ),
            what=f"recording {action}",
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
        return self.read(
            lambda conn: [record_of(AuditEntry, row) for row in conn.execute(query).mappings()],
            what="reading the audit trail",
        )


class ContestQueue(AuditTrail):
    """Reps' contests of proposed moves, open until a manager decides the move."""

    def contest(
        self,
        *,
        plan_id: str,
        account_id: str,
        rep_id: str,
        reason: str,
        actor: str,
        model_version: str,
        key: WriteKey | None = None,
    ) -> Contest:
        """Append a rep's contest of a move; it waits (status open) until a manager decides.
        Conflict when the plan is no longer open or this rep already has one open on the move."""

        def work(conn: sa.Connection) -> Contest:
            require_open_plan(conn, self.t["plans"], plan_id, "a contest")
            c = self.t["contests"]
            already = conn.execute(
                sa.select(c.c.contest_id, c.c.created_at).where(
                    c.c.plan_id == plan_id,
                    c.c.account_id == account_id,
                    c.c.rep_id == rep_id,
                    c.c.status == "open",
                )
            ).first()
            if already is not None:
                raise Conflict(
                    f"you already contested the move of {account_id} (contest "
                    f"{already.contest_id}, {iso(already.created_at)}); it is open in the "
                    "manager's queue. Wait for the decision."
                )
            return self._open_contest(
                conn, plan_id, account_id, rep_id, reason, actor, model_version
            )

        return self.write_once(
            key, work, what="a contest", dump=lambda r: r.model_dump(), load=Contest.model_validate
        )

    def _open_contest(
        self,
        conn: sa.Connection,
        plan_id: str,
        account_id: str,
        rep_id: str,
        reason: str,
        actor: str,
        model_version: str,
    ) -> Contest:
        stamp = now()
        values = {
            "plan_id": plan_id,
            "account_id": account_id,
            "rep_id": rep_id,
            "reason": reason,
            "status": "open",
            "actor": actor,
        }
        inserted = conn.execute(self.t["contests"].insert().values(**values, created_at=stamp))
        record = Contest(
            contest_id=int(inserted.inserted_primary_key[0]),
            created_at=iso(stamp) or "",
            resolved_by=None,
            resolved_at=None,
            resolution=None,
            **values,
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
        return self.read(
            lambda conn: [record_of(Contest, row) for row in conn.execute(query).mappings()],
            what="reading contests",
        )

    def open_contest_counts(self, plan_id: str) -> dict[str, int]:
        c = self.t["contests"]
        query = (
            sa.select(c.c.account_id, sa.func.count())
            .where(c.c.plan_id == plan_id, c.c.status == "open")
            .group_by(c.c.account_id)
        )
        return self.read(
            lambda conn: {account: int(n) for account, n in conn.execute(query).all()},
            what="reading contests",
        )

    def _resolve_contests(
        self,
        conn: sa.Connection,
        plan_id: str,
        account_id: str | None,
        *,
        actor: str,
        role: str,
        model_version: str,
        resolution: str,
    ) -> None:
        """Close the open contests of one account (None: of the whole plan) with `resolution`."""
        c = self.t["contests"]
        which = sa.select(c.c.contest_id).where(c.c.plan_id == plan_id, c.c.status == "open")
        if account_id is not None:
            which = which.where(c.c.account_id == account_id)
        open_ids = conn.execute(which).scalars().all()
        if not open_ids:
            return
        conn.execute(
            c.update()
            .where(c.c.contest_id.in_(open_ids))
            .values(status="resolved", resolved_by=actor, resolved_at=now(), resolution=resolution)
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
