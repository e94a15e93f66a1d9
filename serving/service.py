"""The Territory BentoML service: account card, rep view, review queue, decisions, export, jobs.

Thin by design: each endpoint authenticates, checks the role, and hands over to the rules
(decisions/rules.py: who may decide or contest what), the in-memory state (store.py, cards.py)
and the response shapes (views.py). The card is served from
scores and reasons the batch job precomputed; only an account without one is scored on request.
Run it with `territory serve` (docs/serving.md).
"""

from __future__ import annotations

import functools
import logging
import threading
from datetime import UTC, datetime
from typing import Annotated

import anyio
import bentoml
from bentoml.validators import ContentType
from starlette.responses import JSONResponse, Response

from models.planning import make_current
from serving import cards, crm_routes, crm_signin, export, triage, views
from serving.auth import KeyRing, Principal, require_role
from serving.card_cache import CardCache, card_stamp
from serving.decisions import (
    DecisionCache,
    DecisionConflict,
    DecisionStore,
    DecisionView,
    WriteKey,
    rules,
)
from serving.docs_page import DocsPageMiddleware
from serving.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    NotReady,
    answers_errors,
    database_down,
)
from serving.kpis_page import kpis_app
from serving.loading import StoreLink, check_reload_paths, load_everything
from serving.scenarios.pages import map_app, rep_app, scenarios_app
from serving.schemas import (
    AccountCard,
    ApprovePlanRequest,
    AuditFilter,
    AuditPage,
    AuditQueryRequest,
    AuditRequest,
    AuditResponse,
    BalanceChart,
    BulkDecisionRequest,
    BulkDecisionResponse,
    BulkSelectRequest,
    BulkSelectResponse,
    CardRequest,
    ContestOut,
    ContestOutcomes,
    ContestOutcomesRequest,
    ContestRequest,
    ContestsRequest,
    ContestsResponse,
    CrmExportRequest,
    DecisionRequest,
    DecisionResponse,
    ExportRequest,
    GoalsRequest,
    GoalsResponse,
    KpiRequest,
    KpiResponse,
    LocksRequest,
    LocksResponse,
    MovesRequest,
    MovesResponse,
    OutcomesResponse,
    PlanApproval,
    PlanMapRequest,
    PlanMetrics,
    PlanPreviewJob,
    PlanPreviewRequest,
    PlanRollback,
    PlanTradeoff,
    ReloadRequest,
    RepBookRequest,
    RepPlan,
    RepPlanRequest,
    RepView,
    RepViewRequest,
    ResolveContestRequest,
    RollbackPlanRequest,
    ScenarioAdoptRequest,
    ScenarioCompareRequest,
    ScenarioJobOut,
    ScenarioJobRequest,
    ScenarioListRequest,
    ScenarioSaveRequest,
    ScenarioSolveRequest,
    ScoreRequest,
    ScoreResponse,
    SetGoalRequest,
    Status,
    Whoami,
)
from serving.settings import ServingSettings
from serving.store import ServingState
from serving.watch import Refresher
from serving.web import (
    CrmCorsMiddleware,
    GuardMiddleware,
    crm_app,
    install_log_hygiene,
    review_app,
    widget_app,
)

log = logging.getLogger(__name__)

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
        install_log_hygiene()
        self.settings = ServingSettings()
        self.keys = KeyRing.from_sources(self.settings.api_keys, self.settings.api_keys_file)
        self.keys.accept_tokens(crm_routes.token_verifier(self))  # CRM sign-in (docs/crm.md)
        # The decisions store is reached through a link that never blocks start-up for long and
        # reconnects in the background: cards need no database (docs/serving.md, health).
        self.link = StoreLink(
            self.settings.database_url, timeout_s=self.settings.database_timeout_s
        )
        self.link.check()
        self.state: ServingState | None = None
        self._cache: DecisionCache | None = None
        self._registered: tuple[int, str] | None = None
        self._snapshot: DecisionView | None = None
        self._snapshot_lock = threading.Lock()
        self.problems: list[str] = []
        self._reload_lock = threading.Lock()
        self.card_cache = CardCache()  # /card's answers (card_fast.py); checked on every read
        self._load()
        self._stopped = threading.Event()
        threading.Thread(target=self._watch, name="territory-health", daemon=True).start()
        # a new champion, scores file or drift report is picked up without a restart (watch.py)
        self.refresher = Refresher(self)
        threading.Thread(
            target=self.refresher.run, args=(self._stopped,), name="territory-reload", daemon=True
        ).start()

    # -- the decisions store: reached through the link, checked in the background -------------
    @property
    def store(self) -> DecisionStore:
        """The decisions store; Unavailable (503 with Retry-After) while the database is down."""
        return self.link.get()

    @property
    def cache(self) -> DecisionCache | None:
        """The loaded plan's decision cache (its plan registered first); None without a plan."""
        plan = self.state.plan if self.state else None
        if plan is None:
            return None
        store = self.store
        if self._registered != (id(store), plan.plan_id):
            store.register_plan(plan.plan_id, str(plan.path))
            self._registered = (id(store), plan.plan_id)
        cache = self._cache
        if cache is None or cache.store is not store or cache.plan_id != plan.plan_id:
            cache = self._cache = DecisionCache(store, plan.plan_id)
        return cache

    def store_failed(self, reason: str) -> None:
        """A request saw the database fail (errors.answers_errors): /readyz says so at once."""
        self.link.failed(reason)

    def _watch(self) -> None:
        while not self._stopped.wait(self.settings.health_check_s):
            self._check_store()

    def _check_store(self) -> None:
        """Ping (or reconnect) the store and refresh the cards' decision snapshot."""
        if not self.link.check():
            return
        try:
            self._refresh_snapshot(self.cache)
        except Exception as exc:  # noqa: BLE001 - the watcher must outlive any failure
            reason = database_down(exc)
            if reason is None:
                log.warning("decision snapshot refresh failed: %s", exc)
            else:
                self.link.failed(reason)

    # -- loading -------------------------------------------------------------------------------
    def _load(
        self, *, scores: str | None = None, plan: str | None = None, reload_model: bool = True
    ) -> None:
        loaded = load_everything(
            self.settings,
            self.link._store if self.link.healthy else None,
            scores_override=scores,
            plan_override=plan,
            previous=self.state,
            reload_model=reload_model,
        )
        self.problems = loaded.problems
        if loaded.state is not None:
            self.state = loaded.state  # one reference swap: requests see old or new, never a mix
            # the decisions snapshot is kept: _card_view serves it only for the plan it is of, so
            # a reload of scores during a database outage does not drop decisions from cards
            if self.link.healthy:
                self._check_store()

    def _reload_checked(self, *, scores: str | None, plan: str | None, reload_model: bool) -> None:
        """Load as /reload asks, keeping the working state when the new one is worse: a bad
        plan_dir or scores file is the caller's mistake (400), a model or CRM source that will
        not load is a dependency down (503); either way the service keeps serving what it had."""
        loaded = load_everything(
            self.settings,
            self.link._store if self.link.healthy else None,
            scores_override=scores,
            plan_override=plan,
            previous=self.state,
            reload_model=reload_model,
        )
        kept = "; the service keeps serving the plan and scores it had"
        if loaded.state is None:
            if self.state is None:
                self.problems = loaded.problems
            raise NotReady("reload failed: " + "; ".join(loaded.problems) + kept)
        if plan and loaded.state.plan is None:
            raise BadRequest(
                f"plan_dir {plan} is not a plan: " + "; ".join(loaded.problems) + kept + "."
            )
        self.problems = loaded.problems
        self.state = loaded.state  # the snapshot is kept, as in _load
        if self.link.healthy:
            self._check_store()

    def __is_ready__(self) -> bool:
        return self.state is not None and self.state.plan is not None and self.link.healthy

    def health(self) -> tuple[bool, str]:
        """(ready, reason) for /readyz: no I/O, only what loading and the watcher last saw."""
        if self.state is None:
            return False, "nothing loaded: " + "; ".join(self.problems or ["starting"])
        if self.state.plan is None:
            return False, "no plan loaded: " + "; ".join(self.problems or ["none found"])
        problem = self.link.describe()
        if problem:
            return False, problem
        return True, "ready"

    # -- helpers -------------------------------------------------------------------------------
    def _who(self, ctx: bentoml.Context) -> Principal:
        who = self.keys.authenticate(ctx.request.headers)
        crm_signin.check_token_scope(who, ctx.request.url.path)
        return who

    def _state(self) -> ServingState:
        if self.state is None:
            raise NotReady("nothing loaded yet: " + "; ".join(self.problems or ["starting"]))
        return self.state

    def _view(self) -> DecisionView | None:
        """The decisions as of now, read through the store (sync endpoints: worker threads)."""
        return self._refresh_snapshot(self.cache)

    def _refresh_snapshot(self, cache: DecisionCache | None) -> DecisionView | None:
        """Bring the cache up to date and hand cards its newest view. The view is taken under a
        lock after the read, never the value one thread read earlier: the watcher and a request
        thread refresh at once, and the slower, older read must not land last."""
        view = cache.view() if cache is not None else None
        with self._snapshot_lock:
            self._snapshot = cache.latest if cache is not None else None
        return view

    def _card_view(self) -> DecisionView | None:
        """The decisions as the watcher last read them (at most health_check_s old): no I/O, so
        cards never wait on the database and keep serving while it is down."""
        view = self._snapshot
        plan = self.state.plan if self.state else None
        if view is None or plan is None or view.plan_id != plan.plan_id:
            return None
        return view

    def _wrote(self, action: str) -> None:
        decisions_total.labels(action=action).inc()
        cache = self.cache
        if cache is not None:
            cache.invalidate()
            try:
                self._refresh_snapshot(cache)
            except Exception as exc:  # noqa: BLE001 - the write is done; the watcher retries
                if database_down(exc) is None:
                    raise
                self.link.failed(database_down(exc) or str(exc))

    def _check_card_access(self, who: Principal, state: ServingState, account_id: str) -> None:
        """Managers see every account; reps their book and moves into or out of it, and get the
        same 404 for another rep's account as for a missing id (no probing which ids exist)."""
        require_role(who, "rep", "manager", action="account cards")
        crm_signin.check_token_account(who, account_id)
        if who.role != "rep":
            state.require_account(account_id)
            return
        try:
            state.require_account(account_id)
            rules.check_rep_may_see(who, state, account_id)
        except (NotFound, Forbidden):
            raise NotFound(
                f"account {account_id!r} is not among the accounts your key can see (your book "
                "and moves into or out of it); check the id, or ask your manager."
            ) from None

    def _write_key(
        self, ctx: bentoml.Context, body_key: str | None, endpoint: str, who: Principal, **body
    ) -> WriteKey | None:
        """The request's idempotency key (header or body field), bound to what it asks."""
        header = ctx.request.headers.get("idempotency-key")
        if header and body_key and header != body_key:
            raise BadRequest(
                f"the Idempotency-Key header ({header!r}) and the body's idempotency_key "
                f"({body_key!r}) differ; send one of them."
            )
        return WriteKey.of(header or body_key, endpoint, who.actor, body)

    def card_json(self, who: Principal, account_id: str) -> bytes | None:
        """/card's answer as JSON bytes, from the card cache unless what it was built from changed
        (serving/card_cache.py); None when the account has no precomputed score (the endpoint
        scores it off the event loop). Refuses as /card does: role, token, rep confinement."""
        state = self._state()
        if state.entry(account_id) is None:
            return None
        crm_signin.check_token_scope(who, "/card")
        self._check_card_access(who, state, account_id)
        view, key = self._card_view(), (account_id, who.role, who.rep_id)
        stamp = card_stamp(state, view, account_id, datetime.now(UTC))
        body = self.card_cache.get(state, key, stamp)
        if body is None:
            card, _ = cards.card(state, account_id, view)
            if who.role == "rep":
                card = cards.for_rep(card, who.rep_id)
            body = AccountCard.model_validate(card).model_dump_json().encode()
            self.card_cache.put(state, key, stamp, body)
        self._precomputed_cards.inc()
        return body

    @functools.cached_property
    def _precomputed_cards(self):
        """territory_card_total{source="precomputed"}, looked up once (labels() is not free)."""
        return card_source_total.labels(source="precomputed")

    def card_dict(self, account_id: str) -> dict:
        """The card of an account (shared by /card and the HubSpot card)."""
        card, source = cards.card(self._state(), account_id, self._card_view())
        card_source_total.labels(source=source).inc()
        return card

    # -- rep widget and rep view ---------------------------------------------------------------
    @bentoml.api(route="/card", input_spec=CardRequest)
    @answers_errors
    async def card(self, account_id: str, ctx: bentoml.Context) -> AccountCard:
        """Account card: potential, owner and recommended owner with reasons, drivers, freshness."""
        who = self._who(ctx)
        state = self._state()
        self._check_card_access(who, state, account_id)
        if state.entry(account_id) is None:  # the rare, slower path runs off the event loop
            card = await anyio.to_thread.run_sync(self.card_dict, account_id)
        else:
            card = self.card_dict(account_id)
        if who.role == "rep":  # reps read the move as it concerns them (serving/cards.py)
            card = cards.for_rep(card, who.rep_id)
        return AccountCard.model_validate(card)

    @bentoml.api(route="/rep_view", input_spec=RepViewRequest)
    @answers_errors
    def rep_view(self, rep_id: str, limit: int, ctx: bentoml.Context) -> RepView:
        """A rep's accounts ranked by potential with reasons; accounts proposed to join or leave."""
        who = self._who(ctx)
        require_role(who, "rep", "manager", action="the rep view")
        rules.check_rep_view(who, rep_id)
        view = self._card_view()  # like cards: served while the database is down
        body = views.rep_view(self._state(), rep_id, limit, view)
        if who.role == "rep":
            body = cards.for_rep_view(body, who.rep_id)
        return RepView.model_validate(body)

    @bentoml.api(route="/contest", input_spec=ContestRequest)
    @answers_errors
    def contest(
        self, account_id: str, reason: str, idempotency_key, ctx: bentoml.Context
    ) -> ContestOut:
        """A rep contests a proposed move of their account; it lands in the manager's queue."""
        who = self._who(ctx)
        require_role(who, "rep", action="contesting a move")
        crm_signin.check_token_account(who, account_id)
        key = self._write_key(
            ctx, idempotency_key, "contest", who, account_id=account_id, reason=reason
        )
        record = rules.contest(self.store, who, self._state(), account_id, reason, key)
        self._wrote("contest")
        return record

    # -- manager review ------------------------------------------------------------------------
    @bentoml.api(route="/moves", input_spec=MovesRequest)
    @answers_errors
    def moves(
        self,
        region,
        rep_id,
        reason_type,
        status,
        offset: int,
        limit: int,
        q,
        sort,
        order,
        ctx: bentoml.Context,
    ) -> MovesResponse:
        """Proposed moves searched (q), filtered by region, rep, reason type or status and sorted
        by any column (sort, order) on the server: serving/triage.py."""
        require_role(self._who(ctx), "manager", action="the review queue")
        state = self._state()
        record = self.store.plan(views.require_plan(state).plan_id)
        page = triage.moves_page(
            state,
            self._view(),
            record,
            q=q,
            sort=sort,
            order=order,
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
        idempotency_key,
        ctx: bentoml.Context,
    ) -> DecisionResponse:
        """Approve, reject or override (pick another rep for) one move, with a note; 409 with the
        move as it is now when someone decided since `expected_decision_id`."""
        who = self._who(ctx)
        require_role(who, "manager", action="deciding a move")
        state = self._state()
        body = {"account_id": account_id, "action": action, "rep_id": rep_id, "note": note}
        key = self._write_key(
            ctx, idempotency_key, "decide", who, **body, expected=expected_decision_id
        )
        try:
            rules.decide(
                self.store,
                who,
                state,
                account_id,
                action,
                rep_id=rep_id,
                note=note,
                expected_decision_id=expected_decision_id,
                key=key,
            )
        except DecisionConflict as exc:
            self.cache.invalidate()
            move = views.move_out(state, views.require_move(state, account_id), self._view())
            ctx.response.status_code = 409
            return JSONResponse({"error": str(exc), "status": 409, "move": move}, status_code=409)
        self._wrote(action)
        move = views.move_out(state, views.require_move(state, account_id), self._view())
        return DecisionResponse.model_validate({"move": move})

    @bentoml.api(route="/bulk_decide", input_spec=BulkDecisionRequest)
    @answers_errors
    def bulk_decide(
        self, account_ids: list[str], action: str, note: str, idempotency_key, ctx: bentoml.Context
    ) -> BulkDecisionResponse:
        """Approve or reject many moves at once, all or nothing; moves someone already decided
        are skipped and listed, never overwritten."""
        who = self._who(ctx)
        require_role(who, "manager", action="deciding moves")
        state = self._state()
        key = self._write_key(
            ctx, idempotency_key, "bulk_decide", who, ids=account_ids, action=action, note=note
        )
        result = rules.decide_many(self.store, who, state, account_ids, action, note, key)
        self._wrote(action)
        plan, view = views.require_plan(state), self._view()
        moves = [views.move_out(state, plan.moves[d.account_id], view) for d in result.decided]
        skipped = [views.move_out(state, plan.moves[d.account_id], view) for d in result.skipped]
        return BulkDecisionResponse.model_validate(
            {"decided": len(moves), "moves": moves, "skipped": skipped}
        )

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
    def approve_plan(
        self, note: str, confirm: bool, effective_date, idempotency_key, ctx: bentoml.Context
    ) -> PlanApproval:
        """What approving the loaded plan applies (confirm false), or approve it (confirm true):
        it becomes immutable, effective on `effective_date`; open contests close."""
        who = self._who(ctx)
        require_role(who, "manager", action="approving the plan")
        state = self._state()
        plan = views.require_plan(state)
        if not confirm:
            applies = rules.approval_summary(state, self.store.decisions(plan.plan_id))
            record = self.store.plan(plan.plan_id)
            return PlanApproval.model_validate(
                rules.approval_view(plan.plan_id, record, applies, confirmed=False)
            )
        key = self._write_key(
            ctx, idempotency_key, "approve_plan", who, note=note, date=effective_date
        )
        record = rules.approve_plan(
            self.store, who, state, note, effective_date=effective_date, key=key
        )
        self.cache.invalidate()
        return PlanApproval.model_validate(
            rules.approval_view(plan.plan_id, record, record.applied, confirmed=True)
        )

    @bentoml.api(route="/rollback_plan", input_spec=RollbackPlanRequest)
    @answers_errors
    def rollback_plan(
        self, note: str, confirm: bool, to_plan_id, idempotency_key, ctx: bentoml.Context
    ) -> PlanRollback:
        """Withdraw the approved plan and restore (and serve) the one approved before it."""
        who = self._who(ctx)
        require_role(who, "manager", action="rolling back the plan")
        if not confirm:
            raise BadRequest("rolling back withdraws the approved plan; send confirm: true.")
        before = self.store.plans()
        key = self._write_key(ctx, idempotency_key, "rollback_plan", who, note=note, to=to_plan_id)
        restored = rules.rollback_plan(
            self.store, who, self._state(), note, to_plan_id=to_plan_id, key=key
        )
        with self._reload_lock:
            self._load(plan=restored.path, reload_model=False)
        make_current(restored.path)  # a restart serves the restored plan too
        rolled = [
            p.plan_id for p in before if p.status == "approved" and p.plan_id != restored.plan_id
        ]
        return PlanRollback(rolled_back=rolled, restored=restored)

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
    def plan_preview(self, scenario: dict, top_moves: int, ctx: bentoml.Context) -> PlanPreviewJob:
        """Queue the scenario as a solve job in a worker process (never solved in the service)
        and answer at once; the same body again answers the same job, with the preview (metrics,
        balance, top moves) once it is done. See /scenario_solve for the full job API."""
        who = self._who(ctx)
        require_role(who, "job", "manager", action="plan previews")
        from serving.preview import preview_job

        hub, limit = self._scenario_hub(), self.settings.plan_preview_time_limit_s
        answer = preview_job(hub, self._state(), who.name, scenario, top_moves, limit)
        return PlanPreviewJob.model_validate(answer)

    @bentoml.api(route="/reload", input_spec=ReloadRequest)
    @answers_errors
    def reload(self, scores_path, plan_dir, reload_model: bool, ctx: bentoml.Context) -> Status:
        """Reload data, scores, plan (and the model) after a new scoring or planning run."""
        who = self._who(ctx)
        require_role(who, "job", action="reloading")
        check_reload_paths(self.settings, scores_path=scores_path, plan_dir=plan_dir)
        self.store  # noqa: B018 - 503 before anything changes when the audit trail is down
        before = self._status()
        with self._reload_lock:
            self._reload_checked(scores=scores_path, plan=plan_dir, reload_model=reload_model)
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
        return await anyio.to_thread.run_sync(self._status)  # reads the store: off the loop

    def _status(self) -> Status:
        plan = self.state.plan if self.state else None
        record = None
        if plan is not None and self.link.healthy:
            try:
                record = self.store.plan(plan.plan_id)
            except Exception as exc:  # noqa: BLE001 - status must answer while the store is down
                reason = database_down(exc)
                if reason is None:
                    raise
                self.link.failed(reason)
        problems = [*self.problems, *filter(None, [self.link.describe()])]
        return Status.model_validate(
            self.refresher.extend_status(
                views.status(self.state, record, problems, ready=self.__is_ready__())
            )
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

    # -- CRM exports of the approved plan (docs/crm.md) ----------------------------------------
    @bentoml.api(route="/export_crm", input_spec=CrmExportRequest)
    @answers_errors
    def export_crm(
        self, format: str, all_rows: bool, team_role: str, associations, ctx: bentoml.Context
    ) -> Annotated[bytes, ContentType("application/zip")]:
        """The approved plan in a CRM's own load format: a zip of the files and manifest.json."""
        from serving.crm_export import ExportOptions
        from serving.crm_export_io import export_bundle, zip_bundle

        who = self._who(ctx)
        require_role(who, "manager", action="exporting the plan for the CRM")
        state = self._state()
        plan = views.require_plan(state)
        rows = [a.model_dump() for a in associations] if associations is not None else None
        options = ExportOptions(all_rows=all_rows, team_role=team_role, associations=rows)
        bundle = export_bundle(format, tables=state.tables, current=state.current_owner,
                               plan_id=plan.plan_id, store=self.store, options=options,
                               model_version=state.model_version)  # fmt: skip
        rules.record_export(
            self.store, who, state, only_changes=not all_rows, rows=bundle.manifest["rows"]
        )
        name = f"territory-{plan.plan_id}-{format}.zip"
        return Response(
            zip_bundle(bundle),
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    # -- goals and plan outcomes (KPI page; serving/goals.py) ------------------------------------
    def _goal_book(self):
        from serving.goals import GoalBook

        store = self.store
        book = getattr(self, "_goals", None)
        if book is None or book.engine is not store.engine:
            book = self._goals = GoalBook(store.engine, store.metadata.schema)
        return book

    @bentoml.api(route="/goals", input_spec=GoalsRequest)
    @answers_errors
    def goals(self, ctx: bentoml.Context) -> GoalsResponse:
        """Goals per rep of the served plan: the model's with its interval, and the one in force."""
        require_role(self._who(ctx), "manager", "job", action="goals")
        from serving.goals import goals_report

        return GoalsResponse.model_validate(goals_report(self._state(), self._goal_book()))

    @bentoml.api(route="/set_goal", input_spec=SetGoalRequest)
    @answers_errors
    def set_goal(self, rep_id: str, goal: float, note: str, ctx: bentoml.Context) -> GoalsResponse:
        """Set one rep's goal by hand (kept with who, when, the goal it replaced and the note)."""
        who = self._who(ctx)
        require_role(who, "manager", action="setting goals")
        from serving.goals import set_goal

        report = set_goal(self._state(), self._goal_book(), rep_id, goal, note, who.name)
        return GoalsResponse.model_validate(report)

    @bentoml.api(route="/export_goals", input_spec=GoalsRequest)
    @answers_errors
    def export_goals(self, ctx: bentoml.Context) -> Annotated[str, ContentType("text/csv")]:
        """The plan's goals as CSV (model goal, interval, goal in force, who set it)."""
        require_role(self._who(ctx), "manager", "job", action="exporting goals")
        from serving.goals import goals_csv, goals_report

        report = goals_report(self._state(), self._goal_book())
        return Response(
            goals_csv(report),
            media_type="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="goals-{report["plan_id"]}.csv"'
            },
        )

    @bentoml.api(route="/plan_outcomes", input_spec=GoalsRequest)
    @answers_errors
    def plan_outcomes(self, ctx: bentoml.Context) -> OutcomesResponse:
        """What the approved plan did since its effective date (or why it cannot be said yet)."""
        require_role(self._who(ctx), "manager", "job", action="plan outcomes")
        from serving.goals import outcomes_report

        state = self._state()
        plan = views.require_plan(state)
        record = self.store.plan(plan.plan_id)
        effective = record.effective_date if record and record.status == "approved" else None
        return OutcomesResponse.model_validate(outcomes_report(state, effective))

    # -- review page: triage, per-rep view, contests answered, locks, audit ---------------------
    @bentoml.api(route="/bulk_select", input_spec=BulkSelectRequest)
    @answers_errors
    def bulk_select(
        self, selector, action: str, note: str, confirm: bool, idempotency_key, ctx: bentoml.Context
    ) -> BulkSelectResponse:
        """Approve or reject every move the selector matches (by rep, region, reason or search),
        chosen on the server; all or nothing, decided moves skipped and counted."""
        from serving.review_actions import bulk_select

        who = self._who(ctx)
        require_role(who, "manager", action="deciding moves")
        key = self._write_key(
            ctx,
            idempotency_key,
            "bulk_select",
            who,
            sel=selector.model_dump(),
            action=action,
            note=note,
            confirm=confirm,
        )
        result = bulk_select(
            self.store,
            who,
            self._state(),
            self._view(),
            selector.model_dump(),
            action,
            note,
            confirm=confirm,
            key=key,
        )
        if confirm:
            self._wrote(action)
        return BulkSelectResponse.model_validate(result)

    @bentoml.api(route="/rep_plan", input_spec=RepPlanRequest)
    @answers_errors
    def rep_plan(self, rep_id: str, limit: int, ctx: bentoml.Context) -> RepPlan:
        """One rep under the plan: incoming and outgoing moves, net potential, and accounts,
        potential, workload and travel today / proposed / decided against the band."""
        from serving.rep_plan import rep_plan

        require_role(self._who(ctx), "manager", action="the per-rep plan view")
        state = self._state()
        record = self.store.plan(views.require_plan(state).plan_id)
        return RepPlan.model_validate(rep_plan(state, self._view(), record, rep_id, limit=limit))

    @bentoml.api(route="/balance")
    @answers_errors
    def balance(self, ctx: bentoml.Context) -> BalanceChart:
        """The balance chart: active reps, departed reps apart, the target band per metric."""
        require_role(self._who(ctx), "manager", "job", action="the balance chart")
        state = self._state()
        plan = views.require_plan(state)
        metrics = views.plan_metrics(state, self._view(), self.store.plan(plan.plan_id))
        return BalanceChart.model_validate(
            triage.balance_chart(state, metrics["reps"], plan.metrics)
        )

    @bentoml.api(route="/resolve_contest", input_spec=ResolveContestRequest)
    @answers_errors
    def resolve_contest(
        self,
        contest_id: int,
        outcome: str,
        rep_id,
        note: str,
        idempotency_key,
        ctx: bentoml.Context,
    ) -> ContestOut:
        """Accept a contest (keep the account with its owner, or override to rep_id: a decision
        and a lock for the next plan) or reject it with a note the rep reads."""
        from serving.decisions.contest_book import answer_contest

        who = self._who(ctx)
        require_role(who, "manager", action="answering contests")
        key = self._write_key(
            ctx,
            idempotency_key,
            "resolve_contest",
            who,
            id=contest_id,
            outcome=outcome,
            rep_id=rep_id,
            note=note,
        )
        record = answer_contest(
            self.store, who, self._state(), contest_id, outcome, rep_id=rep_id, note=note, key=key
        )
        self._wrote(f"contest.{outcome}")
        return record

    @bentoml.api(route="/contest_outcomes", input_spec=ContestOutcomesRequest)
    @answers_errors
    def contest_outcomes(self, account_id, ctx: bentoml.Context) -> ContestOutcomes:
        """A rep's own contests on the loaded plan with their outcome, and the plan's status and
        effective date (the widget shows both); managers see everyone's."""
        who = self._who(ctx)
        require_role(who, "rep", "manager", action="contest outcomes")
        if who.account_id is not None:  # a widget token opens one account only
            account_id = who.account_id
        plan = views.require_plan(self._state())
        record = self.store.plan(plan.plan_id)
        contests = self.store.contests(
            plan.plan_id,
            status=None,
            account_id=account_id,
            rep_id=who.rep_id if who.role == "rep" else None,
        )
        return ContestOutcomes(
            plan_id=plan.plan_id,
            plan_status=record.status if record else "proposed",
            effective_date=record.effective_date if record else None,
            contests=contests,
        )

    @bentoml.api(route="/locks", input_spec=LocksRequest)
    @answers_errors
    def locks(self, lock_days: int, ctx: bentoml.Context) -> LocksResponse:
        """Typed locks from overrides and accepted contests: save the answer as a file and run
        `territory plan --locks FILE` (docs: README, manager's tour)."""
        from serving.decisions.locks import decision_locks, locks_document
        from serving.decisions.tables import iso, now

        require_role(self._who(ctx), "manager", "job", action="decision locks")
        locks = decision_locks(self.store, lock_days=lock_days)
        return LocksResponse.model_validate(locks_document(locks, iso(now()) or ""))

    @bentoml.api(route="/audit_query", input_spec=AuditQueryRequest)
    @answers_errors
    def audit_query(
        self,
        account_id,
        rep_id,
        plan_id,
        action,
        actor,
        since,
        until,
        offset: int,
        limit: int,
        ctx: bentoml.Context,
    ) -> AuditPage:
        """The audit page: history per account, rep or plan, filtered, newest first."""
        from serving.audit import audit_entries

        require_role(self._who(ctx), "manager", action="the audit trail")
        entries, total = audit_entries(
            self.store,
            offset=offset,
            limit=limit,
            account_id=account_id,
            rep_id=rep_id,
            plan_id=plan_id,
            action=action,
            actor=actor,
            since=since,
            until=until,
        )
        return AuditPage(total=total, entries=entries)

    @bentoml.api(route="/audit_csv", input_spec=AuditFilter)
    @answers_errors
    def audit_csv(
        self, account_id, rep_id, plan_id, action, actor, since, until, ctx: bentoml.Context
    ) -> Annotated[str, ContentType("text/csv")]:
        """The filtered audit trail as CSV, streamed (who, what, when, previous, new, note)."""
        from starlette.responses import StreamingResponse

        from serving.audit import audit_csv

        require_role(self._who(ctx), "manager", action="the audit trail")
        filters = dict(
            account_id=account_id,
            rep_id=rep_id,
            plan_id=plan_id,
            action=action,
            actor=actor,
            since=since,
            until=until,
        )
        return StreamingResponse(
            audit_csv(self.store, **filters),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="territory-audit.csv"'},
        )

    # -- scenarios (serving/scenarios; docs/scenarios.md) --------------------------------------
    def _scenario_hub(self):
        """The scenario jobs' handle on the decisions database (opened on first use)."""
        hub = self.__dict__.get("_hub")
        if hub is None:
            from serving.scenarios import ScenarioHub

            self.store  # noqa: B018 - 503 with the reason while the database is down
            hub = self._hub = ScenarioHub(
                self.settings.database_url, self.settings.data_dir, self.settings.crm_source or ""
            )
        return hub

    @bentoml.api(route="/scenario_list", input_spec=ScenarioListRequest)
    @answers_errors
    def scenario_list(self, limit: int, ctx: bentoml.Context) -> dict:
        """Saved scenarios and the newest solve jobs (the Scenarios page's lists)."""
        require_role(self._who(ctx), "manager", "job", action="scenarios")
        return self._scenario_hub().listing(limit)

    @bentoml.api(route="/scenario_save", input_spec=ScenarioSaveRequest)
    @answers_errors
    def scenario_save(self, name: str, document, yaml, ctx: bentoml.Context) -> dict:
        """Save a scenario (from the form's JSON or a YAML file's text) with its author."""
        who = self._who(ctx)
        require_role(who, "manager", action="saving scenarios")
        from serving.scenarios.hub import parse_document

        return self._scenario_hub().save(
            self._state(), name, who.name, parse_document(document, yaml)
        )

    @bentoml.api(route="/scenario_solve", input_spec=ScenarioSolveRequest)
    @answers_errors
    def scenario_solve(
        self, scenario_id: int, document, yaml, time_limit_s, timeout_s: int, ctx: bentoml.Context
    ) -> ScenarioJobOut:
        """Solve a scenario in a worker process: answers at once with the job (or the cached
        one for the same scenario, data and model)."""
        who = self._who(ctx)
        require_role(who, "manager", "job", action="solving scenarios")
        from serving.scenarios.hub import parse_document

        doc = None if scenario_id else parse_document(document, yaml)
        job = self._scenario_hub().solve(
            self._state(),
            author=who.name,
            document=doc,
            scenario_id=scenario_id,
            time_limit_s=time_limit_s,
            timeout_s=timeout_s,
        )
        return ScenarioJobOut.model_validate(job)

    @bentoml.api(route="/scenario_job", input_spec=ScenarioJobRequest)
    @answers_errors
    def scenario_job(self, job_id: str, ctx: bentoml.Context) -> ScenarioJobOut:
        """A solve job's status, progress and (done) summary."""
        require_role(self._who(ctx), "manager", "job", action="scenario jobs")
        return ScenarioJobOut.model_validate(self._scenario_hub().job(job_id))

    @bentoml.api(route="/scenario_cancel", input_spec=ScenarioJobRequest)
    @answers_errors
    def scenario_cancel(self, job_id: str, ctx: bentoml.Context) -> ScenarioJobOut:
        """Cancel a queued or running solve (its worker process ends)."""
        require_role(self._who(ctx), "manager", "job", action="cancelling scenario jobs")
        return ScenarioJobOut.model_validate(self._scenario_hub().cancel(job_id))

    @bentoml.api(route="/scenario_compare", input_spec=ScenarioCompareRequest)
    @answers_errors
    def scenario_compare(self, job_ids: list[str], ctx: bentoml.Context) -> dict:
        """One to four finished solves side by side with the status quo."""
        require_role(self._who(ctx), "manager", "job", action="comparing scenarios")
        from serving.scenarios.compare import compare, read_folder

        state, hub = self._state(), self._scenario_hub()
        jobs = [hub.finished(j) for j in job_ids]
        return compare(state, jobs, [read_folder(state, j.result_path) for j in jobs])

    @bentoml.api(route="/scenario_adopt", input_spec=ScenarioAdoptRequest)
    @answers_errors
    def scenario_adopt(self, job_id: str, confirm: bool, ctx: bentoml.Context) -> Status:
        """Adopt a solved scenario as the proposed plan: a new plan version, served by /moves."""
        who = self._who(ctx)
        require_role(who, "manager", action="adopting a scenario")
        if not confirm:
            raise BadRequest("adopting replaces the plan /moves serves; send confirm: true.")
        from serving.scenarios.adopt import adopt
        from serving.scenarios.compare import read_folder

        hub, state = self._scenario_hub(), self._state()
        job = hub.finished(job_id)
        version = adopt(state, self.settings, job, read_folder(state, job.result_path), who.name)
        before = self._status()
        with self._reload_lock:
            self._reload_checked(scores=None, plan=str(version.folder), reload_model=False)
        hub.store.update(job_id, ("done",), adopted_plan_id=version.plan_id)
        after = self._status()
        rules.record_reload(self.store, who, before.model_dump(), after.model_dump())
        return after

    @bentoml.api(route="/plan_map", input_spec=PlanMapRequest)
    @answers_errors
    def plan_map(self, job_id, ctx: bentoml.Context) -> dict:
        """Map data: accounts with owner today and planned, rep homes, regions (or why none)."""
        require_role(self._who(ctx), "manager", "job", action="the plan map")
        from serving.scenarios.compare import read_folder
        from serving.scenarios.mapdata import plan_map

        state = self._state()
        if not job_id:
            return plan_map(state, None)
        job = self._scenario_hub().finished(job_id)
        folder = read_folder(state, job.result_path)
        return plan_map(state, dict(folder.planned_owner), job.document)

    @bentoml.api(route="/rep_book", input_spec=RepBookRequest)
    @answers_errors
    def rep_book(self, rep_id: str, calls: int, ctx: bentoml.Context) -> dict:
        """A rep's own book: call plan, accounts joining and leaving with when, workload band."""
        who = self._who(ctx)
        require_role(who, "rep", "manager", action="the rep book")
        rules.check_rep_view(who, rep_id)
        from serving.scenarios.book import rep_book

        state = self._state()
        view, record = self._card_view(), None
        if state.plan is not None and self.link.healthy:  # else: served from the snapshot
            view, record = self._view(), self.store.plan(state.plan.plan_id)
        return rep_book(state, rep_id, view, record, calls)

    @bentoml.api(route="/plan_tradeoff")
    @answers_errors
    def plan_tradeoff(self, ctx: bentoml.Context) -> PlanTradeoff:
        """The served plan's value at several disruption budgets (`territory plan --tradeoff`)."""
        require_role(self._who(ctx), "manager", "job", action="the value-versus-moves curve")
        from serving.tradeoff import tradeoff_of

        return PlanTradeoff.model_validate(tradeoff_of(views.require_plan(self._state())))


Territory.add_asgi_middleware(CrmCorsMiddleware)
# Added last, so it runs first: liveness, readiness, the key check and the size limit all come
# before BentoML reads a byte of the body (web.GuardMiddleware).
Territory.add_asgi_middleware(GuardMiddleware)

Territory.mount_asgi_app(kpis_app, path="/kpis")
# The API page at / and /docs: plain HTML from the OpenAPI document, no third-party script
# (BentoML's Swagger page loads a tag manager and CDN assets). Added after the guard, so it runs
# before it: the page is public like the OpenAPI JSON (serving.docs_page).
Territory.add_asgi_middleware(DocsPageMiddleware)

Territory.mount_asgi_app(scenarios_app, path="/scenarios")
Territory.mount_asgi_app(rep_app, path="/rep")
Territory.mount_asgi_app(map_app, path="/map")
