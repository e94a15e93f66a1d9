"""Who may see, decide and contest what, and how a decision changes a move: the business rules
the endpoints apply. Each function checks first and writes once (through the DecisionStore).
"""

from __future__ import annotations

from datetime import date

from serving.auth import Principal
from serving.decisions.idempotency import WriteKey
from serving.decisions.records import Contest, Decision, PlanRecord
from serving.decisions.store import BatchResult, DecisionStore, MoveChoice
from serving.errors import BadRequest, Forbidden
from serving.plans import Move
from serving.store import ServingState
from serving.views import require_move, require_plan


def check_rep_may_see(who: Principal, state: ServingState, account_id: str) -> None:
    """Reps see only accounts in their book or proposed to join or leave it; others see all."""
    if who.role != "rep":
        return
    move = state.plan.moves.get(account_id) if state.plan else None
    involved = {state.current_owner.get(account_id)}
    if move:
        involved |= {move.from_rep_id, move.to_rep_id}
    if who.rep_id not in involved:
        raise Forbidden(
            f"account {account_id} is not in your book or proposed to join it; reps see only "
            "their own accounts. Ask your manager if this looks wrong."
        )


def check_rep_view(who: Principal, rep_id: str) -> None:
    """A rep may open only their own view; managers any."""
    if who.role == "rep" and who.rep_id != rep_id:
        raise Forbidden(
            f"your key is for rep {who.rep_id}; reps may only open their own view, not {rep_id}."
        )


def contest(
    store: DecisionStore,
    who: Principal,
    state: ServingState,
    account_id: str,
    reason: str,
    key: WriteKey | None = None,
) -> Contest:
    """A rep contests a move into or out of their book; it waits in the manager's queue."""
    move = require_move(state, account_id)
    if who.rep_id not in (move.from_rep_id, move.to_rep_id):
        raise Forbidden(
            f"the move of {account_id} is between {move.from_rep_id} and {move.to_rep_id}; "
            "only those reps may contest it."
        )
    return store.contest(
        plan_id=require_plan(state).plan_id,
        account_id=account_id,
        rep_id=who.rep_id or "",
        reason=reason.strip(),
        actor=who.actor,
        model_version=state.model_version,
        key=key,
    )


def final_owner(state: ServingState, move: Move, action: str, rep_id: str | None) -> str:
    """Who owns the account after `action`: the plan's rep, today's, or an active override rep."""
    if action == "override":
        if not rep_id:
            raise BadRequest("override needs rep_id: the rep who should own the account instead.")
        if not state.require_rep(rep_id).active:
            raise BadRequest(
                f"rep {rep_id} is inactive and can get no accounts; pick an active rep."
            )
        return rep_id
    if rep_id:
        raise BadRequest(f"rep_id is only for action override (got action {action}); leave it out.")
    return move.to_rep_id if action == "approve" else (move.from_rep_id or "")


def decide(
    store: DecisionStore,
    who: Principal,
    state: ServingState,
    account_id: str,
    action: str,
    *,
    rep_id: str | None = None,
    note: str = "",
    expected_decision_id: int | None = None,
    key: WriteKey | None = None,
) -> Decision:
    """Approve, reject or override one move; Conflict if decided since `expected_decision_id`."""
    move = require_move(state, account_id)
    return store.decide(
        plan_id=require_plan(state).plan_id,
        account_id=account_id,
        action=action,
        from_rep_id=move.from_rep_id,
        proposed_rep_id=move.to_rep_id,
        final_rep_id=final_owner(state, move, action, rep_id),
        note=note.strip(),
        actor=who.actor,
        role=who.role,
        model_version=state.model_version,
        expected_decision_id=expected_decision_id,
        key=key,
    )


def decide_many(
    store: DecisionStore,
    who: Principal,
    state: ServingState,
    account_ids: list[str],
    action: str,
    note: str,
    key: WriteKey | None = None,
) -> BatchResult:
    """Approve or reject many moves in one transaction (all or nothing); every id is checked
    before anything is written, and moves already decided are skipped, never overwritten."""
    plan = require_plan(state)
    unknown = [a for a in account_ids if a not in plan.moves]
    if unknown:
        raise BadRequest(
            f"{len(unknown)} id(s) are not moves of plan {plan.plan_id}: {unknown[:5]}; "
            "nothing was written. Remove them and retry."
        )
    choices = []
    for account_id in dict.fromkeys(account_ids):
        move = plan.moves[account_id]
        final = final_owner(state, move, action, None)
        choices.append(MoveChoice(account_id, move.from_rep_id, move.to_rep_id, final))
    return store.decide_many(
        plan_id=plan.plan_id,
        choices=choices,
        action=action,
        note=note.strip(),
        actor=who.actor,
        role=who.role,
        model_version=state.model_version,
        key=key,
    )


UNDECIDED_FATE = "stay with their current owner (the plan's proposal is not applied)"


def approval_summary(state: ServingState, decisions: dict[str, Decision]) -> dict:
    """What approving the plan applies: approved and overridden moves change owner; rejected and
    undecided moves stay with their current owner."""
    plan = require_plan(state)
    by_action: dict[str, list[str]] = {"approve": [], "override": [], "reject": []}
    undecided = []
    for account_id in plan.moves:
        decision = decisions.get(account_id)
        if decision is None:
            undecided.append(account_id)
        else:
            by_action[decision.action].append(account_id)
    return {
        "approved": by_action["approve"],
        "overridden": by_action["override"],
        "rejected": by_action["reject"],
        "undecided": undecided,
        "undecided_become": UNDECIDED_FATE,
        "owner_changes": len(by_action["approve"]) + len(by_action["override"]),
    }


def approval_view(
    plan_id: str, record: PlanRecord | None, applies: dict, *, confirmed: bool
) -> dict:
    """The answer of /approve_plan: what the approval applies, and whether it happened."""
    n = {k: len(applies[k]) for k in ("approved", "overridden", "rejected", "undecided")}
    what = (
        f"{n['approved']} approved and {n['overridden']} overridden move(s) change owner; "
        f"{n['rejected']} rejected and {n['undecided']} undecided move(s) {UNDECIDED_FATE}"
    )
    if confirmed:
        message = f"plan {plan_id} approved, effective {record.effective_date}: {what}."
    else:
        message = f"approving plan {plan_id} would apply: {what}. Send confirm: true to approve."
    return {
        "plan_id": plan_id,
        "approved": confirmed,
        "plan_status": record.status if record else "proposed",
        "effective_date": record.effective_date if record else None,
        "applies": applies,
        "message": message,
    }


def approve_plan(
    store: DecisionStore,
    who: Principal,
    state: ServingState,
    note: str,
    *,
    effective_date: date | None = None,
    key: WriteKey | None = None,
) -> PlanRecord:
    """Approve the loaded plan as a whole (immutable from then on); its record's `applied`
    says what the approval applies."""
    return store.approve_plan(
        require_plan(state).plan_id,
        actor=who.actor,
        role=who.role,
        model_version=state.model_version,
        note=note,
        effective_date=effective_date,
        summarize=lambda decisions: approval_summary(state, decisions),
        key=key,
    )


def rollback_plan(
    store: DecisionStore,
    who: Principal,
    state: ServingState,
    note: str,
    *,
    to_plan_id: str | None = None,
    key: WriteKey | None = None,
) -> PlanRecord:
    """Withdraw the approved plan and restore the one approved before it (or `to_plan_id`)."""
    return store.rollback_plan(
        actor=who.actor,
        role=who.role,
        model_version=state.model_version,
        note=note,
        to_plan_id=to_plan_id,
        key=key,
    )


def record_export(
    store: DecisionStore, who: Principal, state: ServingState, *, only_changes: bool, rows: int
) -> None:
    """Audit an export of the decided plan."""
    store.record(
        actor=who.actor,
        role=who.role,
        action="plan.export",
        plan_id=require_plan(state).plan_id,
        model_version=state.model_version,
        new={"only_changes": only_changes, "rows": rows},
    )


RELOAD_AUDIT_KEYS = ("model_version", "scores", "plan_id")


def record_reload(store: DecisionStore, who: Principal, before: dict, after: dict) -> None:
    """Audit a reload: the model version, plan and score count before and after."""
    store.record(
        actor=who.actor,
        role=who.role,
        action="service.reload",
        plan_id=after["plan_id"],
        model_version=after["model_version"],
        previous={k: before[k] for k in RELOAD_AUDIT_KEYS},
        new={k: after[k] for k in RELOAD_AUDIT_KEYS},
    )
