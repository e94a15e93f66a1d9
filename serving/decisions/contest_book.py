"""A manager answers a rep's contest: accept it (keep the account with its current owner, or
override it to a chosen rep; either is a decision on the move, and becomes a lock for the next
plan: locks.py) or reject it with a note. One audited transaction each; the rep reads the outcome.
"""

from __future__ import annotations

from typing import Literal

import sqlalchemy as sa

from serving.decisions.idempotency import WriteKey
from serving.decisions.records import Contest
from serving.decisions.store import DecisionStore, MoveChoice
from serving.decisions.tables import now, record_of
from serving.decisions.trail import require_open_plan
from serving.errors import BadRequest, Conflict, NotFound

Outcome = Literal["keep", "override", "reject"]
ACTION_OF_OUTCOME = {"keep": "reject", "override": "override"}
"""Accepting a contest is a decision on the move: keep = the move is rejected (the account stays
with its current owner), override = the account goes to the rep the manager picks."""


def resolve_contest(
    store: DecisionStore,
    *,
    contest_id: int,
    outcome: Outcome,
    choice: MoveChoice | None,
    note: str,
    actor: str,
    role: str,
    model_version: str,
    key: WriteKey | None = None,
) -> Contest:
    """Accept (keep / override: `choice` is the decision to write) or reject an open contest.
    Conflict when the contest is no longer open or the plan is approved; the decision supersedes
    whatever decision the move had (the manager is answering this very move)."""
    if outcome == "reject" and not note.strip():
        raise BadRequest(
            "rejecting a contest needs a note: the rep reads it as the answer. Send note."
        )
    if outcome != "reject" and choice is None:
        raise BadRequest(f"outcome {outcome} needs the move's decision (internal error)")

    def work(conn: sa.Connection) -> Contest:
        c = store.t["contests"]
        row = conn.execute(sa.select(c).where(c.c.contest_id == contest_id)).mappings().first()
        if row is None:
            raise NotFound(
                f"contest {contest_id} does not exist; list open ones with POST /contests."
            )
        require_open_plan(conn, store.t["plans"], row["plan_id"], "answering a contest")
        if row["status"] != "open":
            raise Conflict(
                f"contest {contest_id} is already {row['status']} ({row['resolution']}); "
                "reload the contest queue."
            )
        decision_id = None
        status = "rejected" if outcome == "reject" else "accepted"
        resolution = f"{status}: {note.strip()}".strip(": ")
        values = {"status": status, "resolved_by": actor, "resolved_at": now()}
        conn.execute(
            c.update().where(c.c.contest_id == contest_id).values(**values, resolution=resolution)
        )
        if outcome != "reject":
            previous = store._latest_decision(conn, row["plan_id"], row["account_id"])
            action = ACTION_OF_OUTCOME[outcome]
            text = f"contest {contest_id} accepted ({row['reason']})"
            text += f": {note.strip()}" if note.strip() else ""
            record = store._append(
                conn, row["plan_id"], choice, previous, action, text, actor, model_version
            )
            decision_id = record.decision_id
            conn.execute(
                c.update().where(c.c.contest_id == contest_id).values(decision_id=decision_id)
            )
            store._audit_decision(conn, record, previous, role=role)
        store._audit(
            conn,
            actor=actor,
            role=role,
            action=f"contest.{'reject' if outcome == 'reject' else 'accept'}",
            plan_id=row["plan_id"],
            account_id=row["account_id"],
            model_version=model_version,
            previous={"contest_id": contest_id, "status": "open", "rep_id": row["rep_id"]},
            new={"status": status, "outcome": outcome, "decision_id": decision_id},
            note=note.strip(),
        )
        fresh = conn.execute(sa.select(c).where(c.c.contest_id == contest_id)).mappings().one()
        return record_of(Contest, fresh)

    return store.write_once(
        key,
        work,
        what=f"answering contest {contest_id}",
        dump=lambda r: r.model_dump(),
        load=Contest.model_validate,
    )


def contest_by_id(store: DecisionStore, contest_id: int) -> Contest:
    """One contest; NotFound names the id and where to list them."""
    c = store.t["contests"]
    row = store.read(
        lambda conn: (
            conn.execute(sa.select(c).where(c.c.contest_id == contest_id)).mappings().first()
        ),
        what="reading a contest",
    )
    if row is None:
        raise NotFound(f"contest {contest_id} does not exist; list open ones with POST /contests.")
    return record_of(Contest, row)


def answer_contest(
    store: DecisionStore,
    who,
    state,
    contest_id: int,
    outcome: Outcome,
    *,
    rep_id: str | None,
    note: str,
    key: WriteKey | None = None,
) -> Contest:
    """The manager's answer to contest `contest_id` (rules first: the move exists in the loaded
    plan; an override names an active rep; keep takes no rep)."""
    from serving.decisions.rules import final_owner
    from serving.views import require_move, require_plan

    contest = contest_by_id(store, contest_id)
    plan = require_plan(state)
    if contest.plan_id != plan.plan_id:
        raise Conflict(
            f"contest {contest_id} is on plan {contest.plan_id}, not the loaded plan "
            f"{plan.plan_id}; it can no longer be answered (the plan it contested is not served)."
        )
    choice = None
    if outcome != "reject":
        move = require_move(state, contest.account_id)
        if outcome == "keep" and rep_id:
            raise BadRequest("outcome keep leaves the account with its owner; leave rep_id out.")
        final = final_owner(state, move, ACTION_OF_OUTCOME[outcome], rep_id)
        choice = MoveChoice(contest.account_id, move.from_rep_id, move.to_rep_id, final)
    elif rep_id:
        raise BadRequest("outcome reject changes no owner; leave rep_id out.")
    return resolve_contest(
        store,
        contest_id=contest_id,
        outcome=outcome,
        choice=choice,
        note=note,
        actor=who.actor,
        role=who.role,
        model_version=state.model_version,
        key=key,
    )
