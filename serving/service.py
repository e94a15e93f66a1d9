"""The Territory BentoML service: account card, rep view, review queue, decisions, export, jobs.

Thin by design: each endpoint authenticates, checks the role, and hands over to the rules
(decisions/rules.py: who may decide or contest what), the in-memory state (store.py, cards.py)
and the response shapes (views.py). The card is served from
scores and reasons the batch job precomputed; only an account without one is scored on request.
Run it with `territory serve` (docs/serving.md).
"""

from __future__ import annotations

import threading
from typing import Annotated

import anyio
import bentoml
from bentoml.validators import ContentType
from starlette.responses import Response

from serving import cards, export, views
from serving.auth import KeyRing, Principal, require_role
from serving.decisions import DecisionCache, DecisionStore, rules
from serving.errors import NotReady, answers_errors
from serving.kpis_page import kpis_app
from serving.loading import check_reload_paths, load_everything
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
    KpiRequest,
    KpiResponse,
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

    def _wrote(self, action: str) -> None:
        self.cache.invalidate()
        decisions_total.labels(action=action).inc()

    def card_dict(self, account_id: str) -> dict:
        """The card of an account (shared by /card and the HubSpot card)."""
        card, source = cards.card(self._state(), account_id, self._view())
        card_source_total.labels(source=source).inc()
        return card

    # -- rep widget and rep view ---------------------------------------------------------------
    @bentoml.api(route="/card", input_spec=CardRequest)
    @answers_errors
    async def card(self, account_id: str, ctx: bentoml.Context) -> AccountCard:
        """Account card: potential, owner and recommended owner with reasons, drivers, freshness."""
        who = self._who(ctx)
        state = self._state()
        state.require_account(account_id)
        rules.check_rep_may_see(who, state, account_id)
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
        rules.check_rep_view(who, rep_id)
        return RepView.model_validate(views.rep_view(self._state(), rep_id, limit, self._view()))

    @bentoml.api(route="/contest", input_spec=ContestRequest)
    @answers_errors
    def contest(self, account_id: str, reason: str, ctx: bentoml.Context) -> ContestOut:
        """A rep contests a proposed move of their account; it lands in the manager's queue."""
        who = self._who(ctx)
        require_role(who, "rep", action="contesting a move")
        record = rules.contest(self.store, who, self._state(), account_id, reason)
        self._wrote("contest")
        return record

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
        rules.decide(
            self.store,
            who,
            state,
            account_id,
            action,
            rep_id=rep_id,
            note=note,
            expected_decision_id=expected_decision_id,
        )
        self._wrote(action)
        move = views.move_out(state, views.require_move(state, account_id), self._view())
        return DecisionResponse.model_validate({"move": move})

    @bentoml.api(route="/bulk_decide", input_spec=BulkDecisionRequest)
    @answers_errors
    def bulk_decide(
        self, account_ids: list[str], action: str, note: str, ctx: bentoml.Context
    ) -> BulkDecisionResponse:
        """Approve or reject many moves at once (all ids are checked before anything is written)."""
        who = self._who(ctx)
        require_role(who, "manager", action="deciding moves")
        state = self._state()
        decided = rules.decide_many(self.store, who, state, account_ids, action, note)
        self._wrote(action)
        moves = [views.move_out(state, m, self._view()) for m in decided]
        return BulkDecisionResponse.model_validate({"decided": len(moves), "moves": moves})

    @bentoml.api(route="/contests", input_spec=ContestsRequest)
    @answers_errors
    def contests(self, status: str, ctx: bentoml.Context) -> ContestsResponse:
        """Reps' contests of moves (open ones by default): the manager's queue."""
        require_role(self._who(ctx), "manager", action="the contest queue")
        plan = views.require_plan(self._state())
        records = self.store.contests(plan.plan_id, status=None if status == "all" else status)
        return ContestsResponse(plan_id=plan.plan_id, contests=records)

    @bentoml.api(route="/audit", input_spec=AuditRequest)
    @answers_errors
    def audit(self, account_id, limit: int, ctx: bentoml.Context) -> AuditResponse:
        """The audit trail, newest first: who, when, what, model version, plan, previous value."""
        require_role(self._who(ctx), "manager", action="the audit trail")
        return AuditResponse(entries=self.store.audit(account_id=account_id, limit=limit))

    @bentoml.api(route="/approve_plan", input_spec=ApprovePlanRequest)
    @answers_errors
    def approve_plan(self, note: str, ctx: bentoml.Context) -> Status:
        """Mark the loaded plan approved as a whole (moves keep their own decisions)."""
        who = self._who(ctx)
        require_role(who, "manager", action="approving the plan")
        rules.approve_plan(self.store, who, self._state(), note)
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
        body = export.export_csv(state, self._view(), only_changes=only_changes)
        rules.record_export(
            self.store, who, state, only_changes=only_changes, rows=body.count("\n") - 1
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
        record = self.store.plan(views.require_plan(state).plan_id)
        return PlanMetrics.model_validate(views.plan_metrics(state, self._view(), record))

    # -- jobs ----------------------------------------------------------------------------------
    @bentoml.api(route="/score", input_spec=ScoreRequest)
    @answers_errors
    def score(
        self, account_ids: list[str], top_k: int, recompute: bool, ctx: bentoml.Context
    ) -> ScoreResponse:
        """Potential, percentile and tier for up to 500 accounts (precomputed unless recompute)."""
        require_role(self._who(ctx), "job", action="batch scoring")
        return ScoreResponse.model_validate(
            cards.score_results(self._state(), account_ids, top_k=0, recompute=recompute)
        )

    @bentoml.api(route="/explain", input_spec=ScoreRequest)
    @answers_errors
    def explain(
        self, account_ids: list[str], top_k: int, recompute: bool, ctx: bentoml.Context
    ) -> ScoreResponse:
        """Scores with their top reasons and narrative for up to 500 accounts."""
        require_role(self._who(ctx), "job", action="batch explanations")
        results = cards.score_results(self._state(), account_ids, top_k=top_k, recompute=recompute)
        return ScoreResponse.model_validate(results)

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
        check_reload_paths(scores_path=scores_path, plan_dir=plan_dir)
        before = self._status()
        with self._reload_lock:
            self._load(scores=scores_path, plan=plan_dir, reload_model=reload_model)
        after = self._status()
        rules.record_reload(self.store, who, before.model_dump(), after.model_dump())
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
        plan = self.state.plan if self.state else None
        record = self.store.plan(plan.plan_id) if plan else None
        return Status.model_validate(
            views.status(self.state, record, self.problems, ready=self.__is_ready__())
        )

    # -- KPIs (kpi page) -----------------------------------------------------------------------
    @bentoml.api(route="/kpi_table", input_spec=KpiRequest)
    @answers_errors
    def kpi_table(
        self,
        by: str,
        start: str | None,
        stop: str | None,
        freq: str,
        trend_periods: int,
        ctx: bentoml.Context,
    ) -> KpiResponse:
        """KPIs per rep, region or company for a period, with the company trend (the KPI page)."""
        require_role(self._who(ctx), "manager", "job", action="KPIs")
        from serving.kpis import kpi_report

        report = kpi_report(self._state(), by, start, stop, freq, trend_periods)
        return KpiResponse.model_validate(report)


Territory.add_asgi_middleware(CrmCorsMiddleware)
Territory.mount_asgi_app(kpis_app, path="/kpis")
