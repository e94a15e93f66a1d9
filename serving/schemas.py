"""Typed requests and responses of the service (lists of records, never DataFrames).

EXAMPLE_REQUEST holds one valid body per endpoint; tests and docs/serving.md reuse it.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from serving.decisions.records import Action, AuditEntry, Contest, DecisionSummary, PlanRecord

AccountId = str
MoveStatus = Literal["proposed", "approved", "rejected", "overridden", "kept"]
"""kept: once the plan is approved, a rejected or undecided move (the account stays put)."""


MAX_ROW_ID = 2**63 - 1  # database row ids are 64-bit: a larger id is a 422, never a 500


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- requests ------------------------------------------------------------------------------------
class CardRequest(_Strict):
    account_id: AccountId = Field(min_length=1, max_length=128, description="CRM account id")


class RepViewRequest(_Strict):
    rep_id: str = Field(
        min_length=1, max_length=128, description="CRM rep id (reps may only ask for their own)"
    )
    limit: int = Field(
        default=50, ge=1, le=1000, description="accounts of the book to return, best first"
    )


class ScoreRequest(_Strict):
    account_ids: list[AccountId] = Field(
        min_length=1, max_length=500, description="CRM account ids"
    )
    top_k: int = Field(default=3, ge=0, le=10, description="reasons per account (explain only)")
    recompute: bool = Field(
        default=False, description="score from live features even if precomputed"
    )


class MovesRequest(_Strict):
    region: str | None = Field(default=None, description="only accounts in this region")
    rep_id: str | None = Field(
        default=None, description="only moves into or out of this rep's book"
    )
    reason_type: str | None = Field(
        default=None, description="only moves with a reason of this type"
    )
    status: MoveStatus | Literal["undecided", "contested"] | None = None
    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=100, ge=1, le=1000)
    q: str | None = Field(
        default=None, max_length=200, description="search: account id or name, rep id or name"
    )
    sort: str | None = Field(
        default=None,
        description="column: impact (default), potential, account, account_id, "
        "region, industry, tier, from_rep, to_rep, status (serving/triage.py SORTS)",
    )
    order: Literal["asc", "desc"] | None = Field(
        default=None, description="default desc for impact and potential, asc otherwise"
    )


IDEMPOTENCY_KEY_FIELD = Field(
    default=None,
    min_length=1,
    max_length=128,
    description="a unique key per write (or the Idempotency-Key header): a retry with the same key "
    "and body answers as the first call did and writes nothing; another body is refused (422)",
)


class DecisionRequest(_Strict):
    account_id: AccountId = Field(min_length=1, max_length=128)
    action: Action
    rep_id: str | None = Field(default=None, description="override only: the rep who should own it")
    note: str = Field(default="", max_length=2000)
    expected_decision_id: int | None = Field(
        default=None,
        ge=0,
        le=MAX_ROW_ID,
        description="decision id you saw (0 = none); 409 with the current state if someone "
        "decided since",
    )
    idempotency_key: str | None = IDEMPOTENCY_KEY_FIELD


class BulkDecisionRequest(_Strict):
    account_ids: list[AccountId] = Field(min_length=1, max_length=1000)
    action: Literal["approve", "reject"]
    note: str = Field(default="", max_length=2000)
    idempotency_key: str | None = IDEMPOTENCY_KEY_FIELD


class ContestRequest(_Strict):
    account_id: AccountId = Field(min_length=1, max_length=128)
    reason: str = Field(min_length=5, max_length=2000, description="why the move is wrong")
    idempotency_key: str | None = IDEMPOTENCY_KEY_FIELD


class ContestsRequest(_Strict):
    status: Literal["open", "resolved", "accepted", "rejected", "all"] = "open"


class AuditRequest(_Strict):
    account_id: AccountId | None = None
    limit: int = Field(default=200, ge=1, le=5000)


class PlanPreviewRequest(_Strict):
    scenario: dict[str, Any] = Field(
        description="the same keys as a `territory plan --scenario` file"
    )
    top_moves: int = Field(default=20, ge=0, le=500)


class ExportRequest(_Strict):
    only_changes: bool = Field(default=False, description="only accounts whose owner changes")


class ApprovePlanRequest(_Strict):
    note: str = Field(default="", max_length=2000)
    confirm: bool = Field(
        default=False,
        description="false: only show what approving applies (nothing written); true: approve",
    )
    effective_date: date | None = Field(
        default=None, description="when the plan takes effect (default: today)"
    )
    idempotency_key: str | None = IDEMPOTENCY_KEY_FIELD


class RollbackPlanRequest(_Strict):
    note: str = Field(min_length=1, max_length=2000, description="why the plan is rolled back")
    confirm: bool = Field(default=False, description="must be true: rolling back is deliberate")
    to_plan_id: str | None = Field(
        default=None, description="the earlier approved plan to restore (default: the last one)"
    )
    idempotency_key: str | None = IDEMPOTENCY_KEY_FIELD


class ReloadRequest(_Strict):
    scores_path: str | None = Field(
        default=None, description="a new scores file (default: the configured one)"
    )
    plan_dir: str | None = Field(
        default=None, description="a new plan directory (default: the newest)"
    )
    reload_model: bool = Field(
        default=True, description="re-resolve the model URI (picks up a new champion)"
    )


# -- responses -----------------------------------------------------------------------------------
class Reason(BaseModel):
    concept: str
    feature: str
    value: float | str | None = None
    phrase: str
    effect_multiplier: float | None = None
    revenue_share: float | None = None
    probability_points: float | None = None
    direction: str


class Potential(BaseModel):
    value: float = Field(description="expected won revenue in the next 12 months")
    percentile: float
    tier: str


class RepRef(BaseModel):
    rep_id: str
    name: str
    level: str | None = None


class MoveReason(BaseModel):
    type: str
    text: str
    value: float | None = None


# The stored records are the API shapes: declared once in serving/decisions/records.py.
DecisionOut = DecisionSummary
ContestOut = Contest
AuditEntryOut = AuditEntry


class MoveOut(BaseModel):
    account_id: str
    account_name: str
    region: str | None
    industry: str | None
    from_rep: RepRef | None
    to_rep: RepRef
    impact: float
    potential: float | None
    tier: str | None
    reasons: list[MoveReason]
    status: MoveStatus
    decision: DecisionOut | None
    open_contests: int
    explained: dict[str, Any] | None = Field(
        default=None,
        description="revenue now and with the new owner, net, limits, fit drivers "
        "(serving/move_explain.py); None for a plan folder written without move details",
    )
    for_you: str | None = Field(default=None, description="rep cards: what the move means for you")


class OwnerOut(BaseModel):
    current: RepRef | None
    recommended: RepRef | None
    move: MoveOut | None


class Freshness(BaseModel):
    source: Literal["precomputed", "computed on request"]
    scores_as_of: str | None
    scored_at: str | None
    scored_with: str | None
    data_latest: str
    plan_id: str | None
    plan_created_at: str | None
    loaded_at: str
    # ages and warnings (serving/freshness.py)
    scores_age_days: float | None = None
    data_age_days: float | None = None
    scores_model_version: str | None = Field(
        default=None, description="the model the scores file was made with"
    )
    scores_path: str | None = None
    warnings: list[str] = Field(default=[], description="scores or data older than the limits")


class AccountCard(BaseModel):
    account_id: str
    name: str
    industry: str | None
    region: str | None
    city: str | None
    potential: Potential
    owner: OwnerOut
    reasons: list[Reason]
    narrative: str
    freshness: Freshness
    model_version: str


class RepAccount(BaseModel):
    account_id: str
    name: str
    region: str | None
    potential: Potential | None
    reasons: list[Reason]
    leaving_to: RepRef | None = None


class RepView(BaseModel):
    rep: RepRef
    accounts_total: int
    potential_total: float
    accounts: list[RepAccount]
    joining: list[MoveOut]
    leaving: list[MoveOut]


class AccountScore(BaseModel):
    account_id: str
    potential: float
    percentile: float
    tier: str
    reasons: list[Reason] = []
    narrative: str = ""
    source: Literal["precomputed", "computed on request"]


class ScoreResponse(BaseModel):
    model_version: str
    scored_at: str | None = Field(default=None, description="when the scores file was made")
    scores_path: str | None = Field(default=None, description="the scores file that answered")
    scores_model_version: str | None = Field(
        default=None, description="the model the scores file was made with"
    )
    results: list[AccountScore]
    unknown_ids: list[str] = Field(description="ids not in the CRM data")


class MovesResponse(BaseModel):
    plan_id: str
    total: int
    moves: list[MoveOut]
    counts: dict[str, int]
    regions: list[str]
    reps: list[RepRef]
    reason_types: list[str]


class DecisionResponse(BaseModel):
    move: MoveOut


class BulkDecisionResponse(BaseModel):
    decided: int
    moves: list[MoveOut]
    skipped: list[MoveOut] = Field(
        default=[], description="moves someone had already decided: left as they were"
    )


class Applied(BaseModel):
    approved: list[str]
    overridden: list[str]
    rejected: list[str]
    undecided: list[str]
    undecided_become: str
    owner_changes: int


class PlanApproval(BaseModel):
    plan_id: str
    approved: bool = Field(description="false: a preview (confirm was false), nothing written")
    plan_status: str
    effective_date: str | None
    applies: Applied
    message: str


class PlanRollback(BaseModel):
    rolled_back: list[str]
    restored: PlanRecord


class ContestsResponse(BaseModel):
    plan_id: str
    contests: list[ContestOut]


class AuditResponse(BaseModel):
    entries: list[AuditEntryOut]


class RepBalance(BaseModel):
    rep_id: str
    name: str
    capacity: float | None
    before: dict[str, float | None]
    proposed: dict[str, float | None]
    decided: dict[str, float | None]


class PlanMetrics(BaseModel):
    plan_id: str
    status: str
    created_at: str
    path: str
    metrics: dict[str, Any]
    moves: dict[str, int]
    reps: list[RepBalance]
    report_md: str


class PlanPreview(BaseModel):
    status: str
    metrics: dict[str, Any]
    moves_total: int
    top_moves: list[MoveOut]
    reps: list[RepBalance]


class Whoami(BaseModel):
    name: str
    role: str
    rep_id: str | None


class Status(BaseModel):
    ready: bool
    model_uri: str | None
    model_version: str | None
    scores: int
    scores_path: str | None
    accounts: int
    plan_id: str | None
    plan_status: str | None
    problems: list[str]
    scored_at: str | None = None
    data_latest: str | None = None
    freshness: FreshnessInfo | None = None
    drift: DriftSummary | None = None
    reload: ReloadInfo | None = None


class ErrorBody(BaseModel):
    error: str
    status: int


EXAMPLE_REQUEST: dict[str, dict[str, Any]] = {
    "card": {"account_id": "A00001"},
    "rep_view": {"rep_id": "R001", "limit": 20},
    "score": {"account_ids": ["A00001", "A00002"]},
    "explain": {"account_ids": ["A00001"], "top_k": 3},
    "moves": {"region": None, "rep_id": None, "reason_type": None, "offset": 0, "limit": 50},
    "decide": {
        "account_id": "A00001",
        "action": "approve",
        "note": "agreed with the plan",
        "expected_decision_id": 0,
        "idempotency_key": "3f1c9a52-6a0e-4d39-9c1b-2f0c3b7d9e41",
    },
    "bulk_decide": {"account_ids": ["A00001", "A00002"], "action": "approve", "note": "batch"},
    "contest": {"account_id": "A00001", "reason": "I am closing a renewal with them next month"},
    "contests": {"status": "open"},
    "audit": {"account_id": "A00001", "limit": 50},
    "plan_metrics": {},
    "plan_preview": {
        "scenario": {
            "name": "wider bands",
            "limits": {"balance_band": 0.2, "max_moved_share": 0.1},
            "solver": {"time_limit_s": 10},
        },
        "top_moves": 10,
    },
    "export_plan": {"only_changes": True},
    "approve_plan": {"note": "Q3 territories", "confirm": True, "effective_date": "2026-07-01"},
    "rollback_plan": {"note": "the Q3 plan broke the enterprise team", "confirm": True},
    "reload": {"reload_model": True},
    "kpi_table": {"by": "rep", "start": "2025-07-01", "stop": "2026-07-01", "freq": "QS"},
}


# -- KPIs (kpi page) -----------------------------------------------------------------------------
class KpiRequest(_Strict):
    by: Literal["rep", "region", "company"] = Field(default="rep", description="grouping")
    start: str | None = Field(
        default=None, description="first day (ISO); default: 12 months before stop"
    )
    stop: str | None = Field(
        default=None, description="day after the period (ISO); default: the data's end"
    )
    freq: Literal["MS", "QS"] = Field(default="QS", description="trend periods: months or quarters")
    trend_periods: int = Field(default=8, ge=1, le=36, description="trend periods before stop")


class KpiRow(BaseModel):
    group: str
    name: str | None = None
    level: str | None = None
    period_start: str | None = None
    won_revenue: float
    won_deals: int
    lost_deals: int
    win_rate: float | None
    avg_deal_size: float | None
    sales_cycle_days: float | None
    open_pipeline: float
    accounts_owned: int
    accounts_active: int
    high_potential_accounts: int
    covered_accounts: int
    coverage: float | None
    capacity: float | None
    revenue_per_account: float | None
    revenue_per_capacity: float | None
    potential_in_period: float | None
    market_penetration: float | None
    satisfaction: float | None


class KpiResponse(BaseModel):
    by: str
    start: str
    stop: str
    rows: list[KpiRow]
    company: KpiRow
    trend: list[KpiRow] = Field(description="company KPIs per period, oldest first")
    notes: list[str]


# -- CRM exports (docs/crm.md) --------------------------------------------------------------------
class TerritoryAssociation(_Strict):
    """One ObjectTerritory2Association row as Data Loader exports it."""

    Id: str = Field(min_length=15, max_length=18)
    ObjectId: str = Field(min_length=15, max_length=18)
    Territory2Id: str = Field(min_length=15, max_length=18)


class CrmExportRequest(_Strict):
    format: Literal[
        "salesforce-owner", "salesforce-territory", "salesforce-team", "hubspot-import",
        "hubspot-batch",
    ] = Field(description="which CRM file layout (docs/crm.md)")  # fmt: skip
    all_rows: bool = Field(default=False, description="include accounts whose owner stays")
    team_role: str = Field(default="Account Manager", max_length=80)
    associations: list[TerritoryAssociation] | None = Field(
        default=None,
        max_length=10_000,
        description="salesforce-territory: the org's manual associations, for the delete file",
    )


# -- goals and plan outcomes (KPI page; serving/goals.py) -----------------------------------------
class GoalsRequest(_Strict):
    """No parameters: the served plan's goals."""


class SetGoalRequest(_Strict):
    rep_id: str = Field(min_length=1, max_length=200)
    goal: float = Field(ge=0, le=1e13, description="revenue goal for the next 12 months")
    note: str = Field(default="", max_length=2000, description="why the goal changes (required)")


class GoalRow(BaseModel):
    rep_id: str
    rep_name: str
    accounts: int
    potential: float
    model_goal: float | None
    goal_low: float | None
    goal_high: float | None
    goal: float | None = Field(description="the goal in force: the model's or a manager's")
    set_by: str = Field(description="`model`, or the manager who set it")
    note: str
    expected_revenue: float | None = None
    expected_attainment: float | None = None
    confidence: float


class GoalEdit(BaseModel):
    edit_id: int
    plan_id: str
    rep_id: str
    goal: float
    previous_goal: float | None
    note: str
    actor: str
    created_at: str


class GoalsResponse(BaseModel):
    plan_id: str
    holdout: str = Field(description="the year the calibration and intervals were measured on")
    scale: float = Field(description="actual / predicted on the holdout (applied to potential)")
    confidence: float
    book_size: int
    fairness: dict[str, float] = Field(description="spread of expected attainment across reps")
    rows: list[GoalRow]
    edits: list[GoalEdit] = Field(description="every manual edit, oldest first")


class OutcomesResponse(BaseModel):
    measurable: bool
    reason: str | None = None
    effective_date: str | None = None
    window: str | None = None
    lift: dict[str, float | int | str | None] | None = None
    reps: list[dict[str, float | int | str | bool | None]] | None = None


# -- review page: triage, per-rep view, contests answered, locks, audit (serving/triage.py) --------
class MovesSelector(_Strict):
    """Which moves a server-side bulk action takes: the queue's search and filters."""

    q: str | None = Field(default=None, max_length=200)
    region: str | None = None
    rep_id: str | None = Field(default=None, description="moves into or out of this rep's book")
    reason_type: str | None = None


class BulkSelectRequest(_Strict):
    selector: MovesSelector = Field(description="at least one of q, region, rep_id, reason_type")
    action: Literal["approve", "reject"]
    note: str = Field(default="", max_length=2000)
    confirm: bool = Field(
        default=False, description="false: only count what would be decided and skipped"
    )
    idempotency_key: str | None = IDEMPOTENCY_KEY_FIELD


class BulkSelectResponse(BaseModel):
    selected: int = Field(description="moves the selector matched")
    decided: int = Field(description="moves decided by this call (0 without confirm)")
    skipped: int = Field(description="moves someone had already decided: left as they were")
    skipped_ids: list[str] = Field(description="the first 200 skipped account ids")
    confirmed: bool
    message: str


class RepPlanRequest(_Strict):
    rep_id: str = Field(min_length=1, max_length=128)
    limit: int = Field(default=200, ge=1, le=2000, description="moves listed each way")


class RepFigure(BaseModel):
    before: float | None
    proposed: float | None
    decided: float | None
    band_low: float | None
    band_high: float | None
    in_band_proposed: bool | None
    in_band_decided: bool | None


class RepPlan(BaseModel):
    rep: RepRef
    active: bool
    plan_id: str
    band: float = Field(description="the balance band, a fraction of the active reps' mean")
    incoming_total: int
    outgoing_total: int
    incoming: list[MoveOut]
    outgoing: list[MoveOut]
    net_potential_proposed: float
    net_potential_decided: float
    figures: dict[str, RepFigure]


class BandOut(BaseModel):
    low: float
    mean: float
    high: float


class BalanceChart(BaseModel):
    band: float
    bands: dict[str, BandOut]
    active: list[RepBalance] = Field(description="active reps (the page sorts them)")
    departed: list[RepBalance] = Field(description="inactive reps that own or owned accounts")


class ResolveContestRequest(_Strict):
    contest_id: int = Field(ge=1, le=MAX_ROW_ID)
    outcome: Literal["keep", "override", "reject"] = Field(
        description="keep: accept, the account stays with its owner; override: accept, it goes "
        "to rep_id; reject: the move stands (note required)"
    )
    rep_id: str | None = Field(default=None, description="override only")
    note: str = Field(default="", max_length=2000)
    idempotency_key: str | None = IDEMPOTENCY_KEY_FIELD


class ContestOutcomesRequest(_Strict):
    account_id: AccountId | None = Field(default=None, description="only this account")


class ContestOutcomes(BaseModel):
    plan_id: str
    plan_status: str
    effective_date: str | None
    contests: list[ContestOut]


class LocksRequest(_Strict):
    lock_days: int = Field(default=365, ge=1, le=3650, description="how long each lock holds")


class LockOut(BaseModel):
    account_id: str
    rep_id: str
    reason: str
    expires: str
    source: str
    source_decision_id: int
    plan_id: str
    decided_by: str
    decided_at: str


class LocksResponse(BaseModel):
    schema_version: int
    generated_at: str
    locks: list[LockOut]


class AuditFilter(_Strict):
    account_id: AccountId | None = None
    rep_id: str | None = None
    plan_id: str | None = None
    action: str | None = Field(
        default=None, description="an action (decision.approve) or a family (decision, contest)"
    )
    actor: str | None = None
    since: str | None = Field(default=None, description="ISO date or time, inclusive")
    until: str | None = Field(default=None, description="ISO date or time, inclusive")


class AuditQueryRequest(AuditFilter):
    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=100, ge=1, le=1000)


class AuditPage(BaseModel):
    total: int
    entries: list[AuditEntryOut]


REVIEW_EXAMPLE_REQUEST: dict[str, dict[str, Any]] = {
    "moves": {"q": "acme", "sort": "potential", "order": "desc", "offset": 0, "limit": 50},
    "bulk_select": {
        "selector": {"rep_id": "R001"},
        "action": "approve",
        "note": "R001's moves agreed with their manager",
        "confirm": True,
    },
    "rep_plan": {"rep_id": "R001", "limit": 100},
    "balance": {},
    "resolve_contest": {"contest_id": 1, "outcome": "keep", "note": "renewal in flight"},
    "contest_outcomes": {"account_id": "A00001"},
    "locks": {"lock_days": 180},
    "audit_query": {"rep_id": "R001", "action": "decision", "limit": 100},
    "audit_csv": {"plan_id": "plan-0123abcd"},
}


# -- retraining: freshness, drift and reloads (serving/freshness.py, serving/watch.py) -----------
class FreshnessInfo(BaseModel):
    scores_age_days: float | None
    data_age_days: float | None
    scores_model_version: str | None
    scores_path: str | None
    warnings: list[str]


class DriftColumn(BaseModel):
    column: str
    psi: float
    level: str


class DriftSummary(BaseModel):
    status: str = Field(description="stable, warning or alert (the worst column)")
    worst: list[DriftColumn] = Field(description="the columns with the highest PSI")
    thresholds: dict[str, float]
    not_stable: int
    columns: int
    warnings: list[str]
    reference_as_of: str | None
    current_as_of: str | None
    line: str


class ReloadInfo(BaseModel):
    check_every_s: float = Field(description="0: only POST /reload reloads")
    checked_at: str | None
    reloaded_at: str | None
    failed_at: str | None = Field(description="the last failed reload (cleared by a good one)")
    error: str | None


Status.model_rebuild()


# -- scenarios (serving/scenarios: saved scenarios, solve jobs, comparison, map, rep book) --------
class ScenarioSaveRequest(_Strict):
    name: str = Field(min_length=1, max_length=128, description="what managers will call it")
    document: dict[str, Any] | None = Field(
        default=None, description="the same keys as a `territory plan --scenario` file"
    )
    yaml: str | None = Field(
        default=None, max_length=200_000, description="a scenario file's text instead"
    )


class ScenarioSolveRequest(_Strict):
    scenario_id: int = Field(
        default=0, ge=0, le=MAX_ROW_ID, description="a saved scenario (0: use document)"
    )
    document: dict[str, Any] | None = Field(default=None, description="an unsaved scenario")
    yaml: str | None = Field(default=None, max_length=200_000)
    time_limit_s: float | None = Field(
        default=None,
        ge=1,
        le=3600,
        description="solver budget in seconds (default: the scenario's)",
    )
    timeout_s: int = Field(
        default=900, ge=5, le=7200, description="the worker process is ended after this"
    )


class ScenarioJobRequest(_Strict):
    job_id: str = Field(min_length=1, max_length=32)


class ScenarioListRequest(_Strict):
    limit: int = Field(default=50, ge=1, le=500, description="newest jobs to list")


class ScenarioCompareRequest(_Strict):
    job_ids: list[str] = Field(min_length=1, max_length=4, description="finished solve jobs")


class ScenarioAdoptRequest(_Strict):
    job_id: str = Field(min_length=1, max_length=32)
    confirm: bool = Field(default=False, description="must be true: adopting replaces /moves")


class PlanMapRequest(_Strict):
    job_id: str | None = Field(
        default=None, max_length=32, description="a finished solve; none: the served plan"
    )


class RepBookRequest(_Strict):
    rep_id: str = Field(min_length=1, max_length=128, description="reps may ask only for their own")
    calls: int = Field(default=10, ge=1, le=100, description="accounts in the call plan")


class ScenarioJobOut(BaseModel):
    """A solve job: its state lives in the decisions database (any replica answers it)."""

    model_config = ConfigDict(extra="allow")
    job_id: str
    name: str
    author: str
    status: str
    progress: str
    fraction: float
    created_at: str
    finished_at: str | None = None
    summary: dict[str, Any] | None = None
    error: str | None = None
    cached: bool = False


class PlanPreviewJob(BaseModel):
    """/plan_preview now queues a solve job and answers at once; poll it (same body) until
    ``job_status`` is done, then the preview fields are filled."""

    job_id: str
    job_status: str
    progress: str
    fraction: float
    status: str = Field(description="the plan's status once done, else the job's")
    metrics: dict[str, Any] = Field(default_factory=dict)
    moves_total: int = 0
    top_moves: list[MoveOut] = Field(default_factory=list)
    reps: list[RepBalance] = Field(default_factory=list)
    error: str | None = None


class TradeoffPoint(BaseModel):
    max_moved_share: float = Field(description="at most this share of accounts moved by choice")
    status: str
    objective: float | None = Field(description="plan value per year; None: no plan meets it")
    moves_by_choice: int | None
    moved_share: float | None = None
    solve_s: float | None = None
    chosen: bool = Field(description="the served plan's own budget")


class PlanTradeoff(BaseModel):
    plan_id: str
    points: list[TradeoffPoint]
    note: str = ""
