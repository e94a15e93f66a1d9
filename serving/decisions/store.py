"""Decisions on proposed moves, reps' contests and the audit trail, in SQLite or PostgreSQL.

Every write is one transaction that also appends an audit row: who, when, what, the model
version and plan id it was made under, and the previous value it replaced. Rows are only ever
appended (a new decision supersedes the old one; the old one stays), so nothing is lost on restart
and the history of every account can be replayed. Each decision names the one it replaced
(`supersedes`), and a unique index on (plan, account, supersedes) lets only one of two writers
that saw the same version append: correct with any number of workers and replicas. Plan approval
and rollback are plan_book.py's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from serving.decisions.idempotency import WriteKey
from serving.decisions.plan_book import PlanBook
from serving.decisions.records import Decision
from serving.decisions.tables import iso, now, record_of
from serving.decisions.trail import require_open_plan
from serving.errors import Conflict

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


class DecisionConflict(Conflict):
    """The move's decision is not the one the caller saw; `current` is the one it is now."""

    def __init__(self, message: str, current: Decision | None) -> None:
        super().__init__(message)
        self.current = current


@dataclass(frozen=True)
class MoveChoice:
    """One move's decision to write: the plan's proposal and the owner the action gives it."""

    account_id: str
    from_rep_id: str | None
    proposed_rep_id: str
    final_rep_id: str


@dataclass(frozen=True)
class BatchResult:
    """A batch written whole: the decisions appended, and the moves skipped because someone had
    already decided them (with that decision)."""

    decided: list[Decision]
    skipped: list[Decision]

    def dump(self) -> dict:
        return {
            "decided": [d.model_dump() for d in self.decided],
            "skipped": [d.model_dump() for d in self.skipped],
        }

    @classmethod
    def load(cls, stored: dict) -> BatchResult:
        return cls(
            [Decision.model_validate(d) for d in stored["decided"]],
            [Decision.model_validate(d) for d in stored["skipped"]],
        )


class DecisionStore(PlanBook):
    """Append-only store of plans, decisions, contests and their audit trail."""

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
        key: WriteKey | None = None,
    ) -> Decision:
        """Append a decision (and its audit row); open contests on the account are resolved by it.

        `expected_decision_id` makes the write conditional: DecisionConflict when the move's
        latest decision is another (pass 0 for "no decision yet"). The check and the write are one
        transaction, so two processes racing cannot both pass it.
        """
        choice = MoveChoice(account_id, from_rep_id, proposed_rep_id, final_rep_id)

        def work(conn: sa.Connection) -> Decision:
            require_open_plan(conn, self.t["plans"], plan_id, "a decision")
            previous = self._latest_decision(conn, plan_id, account_id)
            if expected_decision_id is not None:
                _check_unchanged(previous, expected_decision_id, account_id, plan_id)
            record = self._append(
                conn, plan_id, choice, previous, action, note, actor, model_version
            )
            self._audit_decision(conn, record, previous, role=role)
            return record

        return self.write_once(
            key,
            work,
            what=f"the decision on {account_id}",
            dump=lambda r: r.model_dump(),
            load=Decision.model_validate,
        )

    def decide_many(
        self,
        *,
        plan_id: str,
        choices: Sequence[MoveChoice],
        action: str,
        note: str,
        actor: str,
        role: str,
        model_version: str,
        key: WriteKey | None = None,
    ) -> BatchResult:
        """Decide every undecided move of `choices` in ONE transaction: all or nothing. Moves that
        already have a decision (anyone's) are skipped and reported, never overwritten."""

        def work(conn: sa.Connection) -> BatchResult:
            require_open_plan(conn, self.t["plans"], plan_id, "a bulk decision")
            decided, skipped = [], []
            for choice in choices:
                previous = self._latest_decision(conn, plan_id, choice.account_id)
                if previous is not None:
                    skipped.append(record_of(Decision, previous))
                    continue
                record = self._append(
                    conn, plan_id, choice, None, action, note, actor, model_version
                )
                self._audit_decision(conn, record, None, role=role)
                decided.append(record)
            return BatchResult(decided, skipped)

        return self.write_once(
            key,
            work,
            what=f"a batch of {len(choices)} decisions",
            dump=BatchResult.dump,
            load=BatchResult.load,
        )

    def _append(
        self,
        conn: sa.Connection,
        plan_id: str,
        choice: MoveChoice,
        previous,
        action: str,
        note: str,
        actor: str,
        model_version: str,
    ) -> Decision:
        """Insert the decision row that supersedes `previous` (the unique index refuses a second
        row superseding the same one)."""
        stamp = now()
        values = {
            "plan_id": plan_id,
            "account_id": choice.account_id,
            "action": action,
            "from_rep_id": choice.from_rep_id,
            "proposed_rep_id": choice.proposed_rep_id,
            "final_rep_id": choice.final_rep_id,
            "note": note,
            "actor": actor,
            "model_version": model_version,
            "supersedes": int(previous["decision_id"]) if previous else 0,
        }
        inserted = conn.execute(self.t["decisions"].insert().values(**values, decided_at=stamp))
        return Decision(
            decision_id=int(inserted.inserted_primary_key[0]),
            decided_at=iso(stamp) or "",
            **values,
        )

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
        row = self.read(
            lambda conn: self._latest_decision(conn, plan_id, account_id),
            what=f"reading the decision on {account_id}",
        )
        return record_of(Decision, row) if row else None

    def decisions(self, plan_id: str) -> dict[str, Decision]:
        """The latest decision per account of a plan."""
        return self.read(
            lambda conn: self._latest_decisions(conn, plan_id), what="reading decisions"
        )

    def _latest_decisions(self, conn: sa.Connection, plan_id: str) -> dict[str, Decision]:
        d = self.t["decisions"]
        latest = (
            sa.select(sa.func.max(d.c.decision_id))
            .where(d.c.plan_id == plan_id)
            .group_by(d.c.account_id)
            .scalar_subquery()
        )
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


def _check_unchanged(previous, expected: int, account_id: str, plan_id: str) -> None:
    """DecisionConflict unless the latest decision is the one the caller saw (0: none yet)."""
    seen = int(previous["decision_id"]) if previous else 0
    if seen == expected:
        return
    current = record_of(Decision, previous) if previous else None
    if previous is None:
        raise DecisionConflict(
            f"account {account_id}: expected_decision_id {expected} is not a decision on this "
            f"move of plan {plan_id}, which has no decision yet; send expected_decision_id 0.",
            None,
        )
    raise DecisionConflict(
        f"account {account_id}: decision changed since you loaded it ({previous['actor']} chose "
        f"{previous['action']} at {iso(previous['decided_at'])}, decision {seen}; you sent "
        f"expected_decision_id {expected}); reload the move and decide again.",
        current,
    )


def _decision_value(row) -> dict | None:
    if not row:
        return None
    return {
        k: (iso(v) if isinstance(v, datetime) else v)
        for k, v in dict(row).items()
        if k in DECISION_AUDIT_KEYS
    }
