"""The Territory BentoML service: account card, rep view, review queue, decisions, export, jobs.

Thin by design: each endpoint authenticates, checks the role, asks the in-memory state (store.py)
or the decisions store (decisions.py) and shapes the answer (views.py). The card is served from
scores and reasons the batch job precomputed; only an account without one is scored on request.
Run it with `territory serve` (docs/serving.md).
"""

from __future__ import annotations

import functools
import inspect
import threading
from pathlib import Path
from typing import Annotated

import anyio
import bentoml
from bentoml.validators import ContentType
from starlette.responses import JSONResponse, Response

from features.errors import TerritoryError
from serving import views
from serving.auth import KeyRing, Principal, require_role
from serving.decisions import DecisionCache, DecisionStore, as_dicts
from serving.errors import BadRequest, Forbidden, NotReady, ServingError
from serving.loading import load_everything
from serving.schemas import (
    AccountCard,
    ApprovePlanRequest,
    AuditRequest,
    AuditResponse,
    BulkDecisionRequest,
    BulkDecisionResponse,
    CardRequest,
    ContestOut,
    ContestRequest,
    ContestsRequest,
    ContestsResponse,
    DecisionRequest,
    DecisionResponse,
    ExportRequest,
    MovesRequest,
    MovesResponse,
    PlanMetrics,
    PlanPreview,
    PlanPreviewRequest,
    ReloadRequest,
    RepView,
    RepViewRequest,
    ScoreRequest,
    ScoreResponse,
    Status,
    Whoami,
)
from serving.settings import ServingSettings
from serving.store import ServingState
from serving.web import CrmCorsMiddleware, crm_app, review_app, widget_app

TRACING_EXCLUDED = ["/card", "/widget/", "/review/", "/livez", "/readyz", "/metrics"]

card_source_total = bentoml.metrics.Counter(
    name="territory_card_total",
    documentation="Account cards served, by source",
    labelnames=["source"],
)
decisions_total = bentoml.metrics.Counter(
    name="territory_decisions_total",
    documentation="Decisions and contests written",
    labelnames=["action"],
)


def _error_response(exc: Exception, ctx: bentoml.Context | None) -> JSONResponse:
    # Another TerritoryError (not a ServingError): the data or model cannot answer this request.
    status = exc.status if isinstance(exc, ServingError) else 422
    if ctx is not None:  # BentoML copies ctx.response.status_code onto whatever we return
        ctx.response.status_code = status
    return JSONResponse({"error": str(exc), "status": status}, status_code=status)


def answers_errors(func):
    """Turn domain errors into JSON 4xx responses (see serving/errors.py for why not BentoML's)."""
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def wrapper(*args, **kwargs):
            try:
                return await func(*args, **kwargs)
            except TerritoryError as exc:
                return _error_response(exc, kwargs.get("ctx"))

        return wrapper

    @functools.wraps(func)
    def sync_wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except TerritoryError as exc:
            return _error_response(exc, kwargs.get("ctx"))

    return sync_wrapper


@bentoml.asgi_app(crm_app, path="/crm")
@bentoml.asgi_app(review_app, path="/review")
@bentoml.asgi_app(widget_app, path="/widget")
@bentoml.service(
    name="Territory",
    workers=1,
    traffic={"timeout": 60},
    # Access logs cost a log record per request; BentoML's own /metrics still counts every call.
    logging={"access": {"enabled": False}},
    # OpenTelemetry's ASGI middleware builds five spans per request even when nothing samples
    # them (BentoML's default sample_rate is 0); skip it on the hot read paths. See docs/serving.md.
    tracing={"excluded_urls": TRACING_EXCLUDED},
)
class Territory:
    """Potential, explanations, the plan and decisions for the CRM widget, review page and jobs."""

    def __init__(self) -> None:
        self.settings = ServingSettings()
        self.keys = KeyRing.from_sources(self.settings.api_keys, self.settings.api_keys_file)
        self.store = DecisionStore(self.settings.database_url)
        self.state: ServingState | None = None
        self.cache: DecisionCache | None = None
        self.problems: list[str] = []
        self._reload_lock = threading.Lock()
        self._load()

    # -- loading -------------------------------------------------------------------------------
    def _load(
        self, *, scores: str | None = None, plan: str | None = None, reload_model: bool = True
    ) -> None:
        loaded = load_everything(
            self.settings,
            self.store,
            scores_override=scores,
            plan_override=plan,
            previous=self.state,
            reload_model=reload_model,
        )
        self.problems = loaded.problems
        if loaded.state is not None:
            self.state = loaded.state  # one reference swap: requests see old or new, never a mix
            plan_obj = loaded.state.plan
            self.cache = DecisionCache(self.store, plan_obj.plan_id) if plan_obj else None

    def __is_ready__(self) -> bool:
        return self.state is not None and self.state.plan is not None

    # -- helpers -------------------------------------------------------------------------------
    def _who(self, ctx: bentoml.Context) -> Principal:
        return self.keys.authenticate(ctx.request.headers)

    def _state(self) -> ServingState:
        if self.state is None:
            raise NotReady("nothing loaded yet: " + "; ".join(self.problems or ["starting"]))
        return self.state

    def _view(self):
        return self.cache.view() if self.cache is not None else None

    def _check_rep_account(self, who: Principal, state: ServingState, account_id: str) -> None:
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

    def entry_for(self, state: ServingState, account_id: str):
        """Precomputed entry, or one computed on request (never for an unknown id)."""
        state.require_account(account_id)
        entry = state.entry(account_id)
        if entry is None:
            entry = state.score_many([account_id]).get(account_id)
            if entry is None:
                raise NotReady(
                    f"account {account_id} has no score and cannot be scored from the loaded data "
                    f"(created on or after {state.feature_as_of}); "
                    "reload after the next scoring job."
                )
        return entry

    def card_dict(self, account_id: str) -> dict:
        """The card of an account (shared by /card and the HubSpot card)."""
        state = self._state()
        entry = self.entry_for(state, account_id)
        card_source_total.labels(
            source="on_request" if entry.computed_on_request else "precomputed"
        ).inc()
        return views.card(state, account_id, entry, self._view())

    # -- rep widget and rep view ---------------------------------------------------------------
    @bentoml.api(route="/card", input_spec=CardRequest)
    @answers_errors
    async def card(self, account_id: str, ctx: bentoml.Context) -> AccountCard:
        """Account card: potential, owner and recommended owner with reasons, drivers, freshness."""
        who = self._who(ctx)
        state = self._state()
        state.require_account(account_id)
        self._check_rep_account(who, state, account_id)
        if state.entry(account_id) is None:  # the rare, slower path runs off the event loop
            return AccountCard.model_validate(
                await anyio.to_thread.run_sync(self.card_dict, account_id)
            )
        return AccountCard.model_validate(self.card_dict(account_id))

    @bentoml.api(route="/rep_view", input_spec=RepViewRequest)
    @answers_errors
    def rep_view(self, rep_id: str, limit: int, ctx: bentoml.Context) -> RepView:
        """A rep's accounts ranked by potential with reasons; accounts proposed to join or leave."""
        who = self._who(ctx)
        require_role(who, "rep", "manager", action="the rep view")
        if who.role == "rep" and who.rep_id != rep_id:
            raise Forbidden(
                f"your key is for rep {who.rep_id}; "
                f"reps may only open their own view, not {rep_id}."
            )
        return RepView.model_validate(views.rep_view(self._state(), rep_id, limit, self._view()))

    @bentoml.api(route="/contest", input_spec=ContestRequest)
    @answers_errors
    def contest(self, account_id: str, reason: str, ctx: bentoml.Context) -> ContestOut:
        """A rep contests a proposed move of their account; it lands in the manager's queue."""
        who = self._who(ctx)
        require_role(who, "rep", action="contesting a move")
        state = self._state()
        move = views.require_move(state, account_id)
        if who.rep_id not in (move.from_rep_id, move.to_rep_id):
            raise Forbidden(
                f"the move of {account_id} is between {move.from_rep_id} and {move.to_rep_id}; "
                "only those reps may contest it."
            )
        record = self.store.contest(
            plan_id=state.plan.plan_id,
            account_id=account_id,
            rep_id=who.rep_id,
            reason=reason.strip(),
            actor=who.actor,
            model_version=state.model_version,
        )
        self.cache.invalidate()
        decisions_total.labels(action="contest").inc()
        return ContestOut.model_validate(as_dicts([record])[0])

    # -- manager review ------------------------------------------------------------------------
    @bentoml.api(route="/moves", input_spec=MovesRequest)
    @answers_errors
    def moves(
        self, region, rep_id, reason_type, status, offset: int, limit: int, ctx: bentoml.Context
    ) -> MovesResponse:
        """Proposed moves ranked by impact, filtered by region, rep, reason type or status."""
        require_role(self._who(ctx), "manager", action="the review queue")
        state = self._state()
        views.require_plan(state)
        page = views.moves_page(
            state,
            self._view(),
            region=region,
            rep_id=rep_id,
            reason_type=reason_type,
            status=status,
            offset=offset,
            limit=limit,
        )
        return MovesResponse.model_validate(page)

    @bentoml.api(route="/decide", input_spec=DecisionRequest)
    @answers_errors
    def decide(
        self,
        account_id: str,
        action: str,
        rep_id,
        note: str,
        expected_decision_id,
        ctx: bentoml.Context,
    ) -> DecisionResponse:
        """Approve, reject or override (pick another rep for) one move, with a note."""
        who = self._who(ctx)
        require_role(who, "manager", action="deciding a move")
        state = self._state()
        self._decide_one(who, state, account_id, action, rep_id, note, expected_decision_id)
        move = views.require_move(state, account_id)
        return DecisionResponse.model_validate({"move": views.move_out(state, move, self._view())})

    def _decide_one(self, who, state, account_id, action, rep_id, note, expected=None) -> None:
        move = views.require_move(state, account_id)
        if action == "override":
            if not rep_id:
                raise BadRequest(
                    "override needs rep_id: the rep who should own the account instead."
                )
            rep = state.require_rep(rep_id)
            if not rep.active:
                raise BadRequest(
                    f"rep {rep_id} is inactive and can get no accounts; pick an active rep."
                )
            final = rep_id
        elif rep_id:
            raise BadRequest(
                f"rep_id is only for action override (got action {action}); leave it out."
            )
        else:
            final = move.to_rep_id if action == "approve" else (move.from_rep_id or "")
        self.store.decide(
            plan_id=state.plan.plan_id,
            account_id=account_id,
            action=action,
            from_rep_id=move.from_rep_id,
            proposed_rep_id=move.to_rep_id,
            final_rep_id=final,
            note=note.strip(),
            actor=who.actor,
            role=who.role,
            model_version=state.model_version,
            expected_decision_id=expected,
        )
        self.cache.invalidate()
        decisions_total.labels(action=action).inc()

    @bentoml.api(route="/bulk_decide", input_spec=BulkDecisionRequest)
    @answers_errors
    def bulk_decide(
        self, account_ids: list[str], action: str, note: str, ctx: bentoml.Context
    ) -> BulkDecisionResponse:
        """Approve or reject many moves at once (all ids are checked before anything is written)."""
        who = self._who(ctx)
        require_role(who, "manager", action="deciding moves")
        state = self._state()
        plan = views.require_plan(state)
        unknown = [a for a in account_ids if a not in plan.moves]
        if unknown:
            raise BadRequest(
                f"{len(unknown)} id(s) are not moves of plan {plan.plan_id}: {unknown[:5]}; "
                "nothing was written. Remove them and retry."
            )
        for account_id in dict.fromkeys(account_ids):
            self._decide_one(who, state, account_id, action, None, note)
        view = self._view()
        moves = [views.move_out(state, plan.moves[a], view) for a in dict.fromkeys(account_ids)]
        return BulkDecisionResponse.model_validate({"decided": len(moves), "moves": moves})

    @bentoml.api(route="/contests", input_spec=ContestsRequest)
    @answers_errors
    def contests(self, status: str, ctx: bentoml.Context) -> ContestsResponse:
        """Reps' contests of moves (open ones by default): the manager's queue."""
        require_role(self._who(ctx), "manager", action="the contest queue")
        plan = views.require_plan(self._state())
        records = self.store.contests(plan.plan_id, status=None if status == "all" else status)
        return ContestsResponse.model_validate(
            {"plan_id": plan.plan_id, "contests": as_dicts(records)}
        )

    @bentoml.api(route="/audit", input_spec=AuditRequest)
    @answers_errors
    def audit(self, account_id, limit: int, ctx: bentoml.Context) -> AuditResponse:
        """The audit trail, newest first: who, when, what, model version, plan, previous value."""
        require_role(self._who(ctx), "manager", action="the audit trail")
        return AuditResponse.model_validate(
            {"entries": as_dicts(self.store.audit(account_id=account_id, limit=limit))}
        )

    @bentoml.api(route="/approve_plan", input_spec=ApprovePlanRequest)
    @answers_errors
    def approve_plan(self, note: str, ctx: bentoml.Context) -> Status:
        """Mark the loaded plan approved as a whole (moves keep their own decisions)."""
        who = self._who(ctx)
        require_role(who, "manager", action="approving the plan")
        state = self._state()
        plan = views.require_plan(state)
        self.store.approve_plan(
            plan.plan_id,
            actor=who.actor,
            role=who.role,
            model_version=state.model_version,
            note=note,
        )
        self.cache.invalidate()
        return self._status()

    @bentoml.api(route="/export_plan", input_spec=ExportRequest)
    @answers_errors
    def export_plan(
        self, only_changes: bool, ctx: bentoml.Context
    ) -> Annotated[str, ContentType("text/csv")]:
        """The decided plan as CSV for CRM import (approved and overridden moves applied)."""
        who = self._who(ctx)
        require_role(who, "manager", action="exporting the plan")
        state = self._state()
        plan = views.require_plan(state)
        body = views.export_csv(state, self._view(), only_changes=only_changes)
        self.store.record(
            actor=who.actor,
            role=who.role,
            action="plan.export",
            plan_id=plan.plan_id,
            model_version=state.model_version,
            new={"only_changes": only_changes, "rows": body.count("\n") - 1},
        )
        self.cache.invalidate()
        return Response(
            body,
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="territory-{plan.plan_id}.csv"'},
        )

    @bentoml.api(route="/plan_metrics")
    @answers_errors
    def plan_metrics(self, ctx: bentoml.Context) -> PlanMetrics:
        """The plan's metrics and each rep's balance and travel: today, as proposed, as decided."""
        require_role(self._who(ctx), "manager", "job", action="plan metrics")
        state = self._state()
        plan = views.require_plan(state)
        view = self._view()
        decided = state.balance.totals(views.decided_owners(state, view))
        record = self.store.plan(plan.plan_id)
        page = views.moves_page(state, view, limit=1)
        return PlanMetrics.model_validate(
            {
                "plan_id": plan.plan_id,
                "status": record.status if record else "proposed",
                "created_at": plan.created_at,
                "path": str(plan.path),
                "metrics": plan.metrics,
                "moves": page["counts"],
                "report_md": plan.report_md,
                "reps": views.rep_balances(
                    state, state.balance_before, state.balance_proposed, decided
                ),
            }
        )

    # -- jobs ----------------------------------------------------------------------------------
    @bentoml.api(route="/score", input_spec=ScoreRequest)
    @answers_errors
    def score(
        self, account_ids: list[str], top_k: int, recompute: bool, ctx: bentoml.Context
    ) -> ScoreResponse:
        """Potential, percentile and tier for up to 500 accounts (precomputed unless recompute)."""
        require_role(self._who(ctx), "job", action="batch scoring")
        return ScoreResponse.model_validate(self._scores(account_ids, top_k=0, recompute=recompute))

    @bentoml.api(route="/explain", input_spec=ScoreRequest)
    @answers_errors
    def explain(
        self, account_ids: list[str], top_k: int, recompute: bool, ctx: bentoml.Context
    ) -> ScoreResponse:
        """Scores with their top reasons and narrative for up to 500 accounts."""
        require_role(self._who(ctx), "job", action="batch explanations")
        return ScoreResponse.model_validate(
            self._scores(account_ids, top_k=top_k, recompute=recompute)
        )

    def _scores(self, account_ids: list[str], *, top_k: int, recompute: bool) -> dict:
        state = self._state()
        ids = list(dict.fromkeys(account_ids))
        unknown = [a for a in ids if a not in state.accounts]
        entries = state.score_many(
            [a for a in ids if a in state.accounts], top_k=max(top_k, 3), recompute=recompute
        )
        results = []
        for account_id in ids:
            entry = entries.get(account_id)
            if entry is None:
                continue
            results.append(
                {
                    "account_id": account_id,
                    "potential": entry.potential,
                    "percentile": entry.percentile,
                    "tier": entry.tier,
                    "reasons": entry.reasons[:top_k],
                    "narrative": entry.narrative if top_k else "",
                    "source": "computed on request" if entry.computed_on_request else "precomputed",
                }
            )
        return {"model_version": state.model_version, "results": results, "unknown_ids": unknown}

    @bentoml.api(route="/plan_preview", input_spec=PlanPreviewRequest)
    @answers_errors
    def plan_preview(self, scenario: dict, top_moves: int, ctx: bentoml.Context) -> PlanPreview:
        """Run the planner on a scenario without saving it: metrics, balance and top moves."""
        require_role(self._who(ctx), "job", "manager", action="plan previews")
        from serving.preview import preview_plan

        state = self._state()
        return PlanPreview.model_validate(
            preview_plan(
                state,
                scenario,
                top_moves=top_moves,
                time_limit_s=self.settings.plan_preview_time_limit_s,
            )
        )

    @bentoml.api(route="/reload", input_spec=ReloadRequest)
    @answers_errors
    def reload(self, scores_path, plan_dir, reload_model: bool, ctx: bentoml.Context) -> Status:
        """Reload data, scores, plan (and the model) after a new scoring or planning run."""
        who = self._who(ctx)
        require_role(who, "job", action="reloading")
        for given, what in ((scores_path, "scores_path"), (plan_dir, "plan_dir")):
            if given and not Path(given).exists():
                raise BadRequest(
                    f"{what} {given} does not exist on the server; "
                    "pass a path the service can read."
                )
        before = self._status()
        with self._reload_lock:
            self._load(scores=scores_path, plan=plan_dir, reload_model=reload_model)
        after = self._status()
        self.store.record(
            actor=who.actor,
            role=who.role,
            action="service.reload",
            plan_id=after.plan_id,
            model_version=after.model_version,
            previous=before.model_dump(include={"model_version", "plan_id", "scores"}),
            new=after.model_dump(include={"model_version", "plan_id", "scores"}),
        )
        return after

    # -- introspection -------------------------------------------------------------------------
    @bentoml.api(route="/whoami")
    @answers_errors
    async def whoami(self, ctx: bentoml.Context) -> Whoami:
        """The name, role and rep of the calling key (the widget and review page start here)."""
        who = self._who(ctx)
        return Whoami(name=who.name, role=who.role, rep_id=who.rep_id)

    @bentoml.api(route="/status")
    @answers_errors
    async def status(self, ctx: bentoml.Context) -> Status:
        """What is loaded (model, scores, plan) and what is missing, for any key."""
        self._who(ctx)
        return self._status()

    def _status(self) -> Status:
        state = self.state
        plan = state.plan if state else None
        record = self.store.plan(plan.plan_id) if plan else None
        return Status(
            ready=self.__is_ready__(),
            model_uri=state.model_uri if state else None,
            model_version=state.model_version if state else None,
            scores=len(state.scores) if state else 0,
            scores_path=str(state.scores.path) if state and state.scores.path else None,
            accounts=len(state.accounts) if state else 0,
            plan_id=plan.plan_id if plan else None,
            plan_status=record.status if record else None,
            problems=self.problems,
        )


Territory.add_asgi_middleware(CrmCorsMiddleware)
