"""The service's parts without a server: keys, HubSpot signatures, plans, decisions, scores."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import os
import threading
import time
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from models.potential import tier_of
from serving import schemas
from serving.auth import KeyRing, generate_keys, read_keys_file, require_role, write_keys_file
from serving.decisions import DecisionCache, DecisionStore
from serving.errors import BadRequest, Forbidden, NotReady, Unauthenticated
from serving.hubspot import canonical_uri, card_payload, sign_v3, verify_v3
from serving.plans import choose_plan_dir, find_plan_dirs, plan_id_of, read_plan
from serving.settings import ApiKeyEntry
from serving.store import ScoreTable


# -- keys and roles -------------------------------------------------------------------------------
def test_keyring_authenticates_by_bearer_or_header_and_rejects_the_rest():
    ring = KeyRing(
        {
            "k" * 20: ApiKeyEntry(name="M", role="manager"),
            "r" * 20: ApiKeyEntry(name="R", role="rep", rep_id="R1"),
        }
    )
    assert ring.authenticate({"authorization": "Bearer " + "k" * 20}).role == "manager"
    assert ring.authenticate({"x-api-key": "r" * 20}).rep_id == "R1"
    with pytest.raises(Unauthenticated, match="no API key"):
        ring.authenticate({})
    with pytest.raises(Unauthenticated, match="not recognised"):
        ring.authenticate({"authorization": "Bearer " + "x" * 20})


def test_keyring_refuses_short_keys_and_reps_without_rep_id():
    with pytest.raises(BadRequest, match="at least 16"):
        KeyRing({"short": ApiKeyEntry(name="M", role="manager")})
    with pytest.raises(BadRequest, match="no rep_id"):
        KeyRing({"r" * 20: ApiKeyEntry(name="R", role="rep")})


def test_require_role_names_the_role_needed():
    ring = KeyRing({"j" * 20: ApiKeyEntry(name="Job", role="job")})
    who = ring.authenticate({"x-api-key": "j" * 20})
    require_role(who, "job", action="x")
    with pytest.raises(
        Forbidden, match="needs role manager or rep; your key \\(Job\\) has role job"
    ):
        require_role(who, "manager", "rep", action="exporting")


def test_generated_keys_round_trip_through_an_owner_only_file(tmp_path):
    keys = generate_keys([("R1", "Ana"), ("R2", "Bo")])
    assert sorted(e["role"] for e in keys.values()) == ["job", "manager", "rep", "rep"]
    assert all(len(k) >= 40 for k in keys)
    path = write_keys_file(tmp_path / "keys.json", keys)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    ring = KeyRing.from_sources({}, path)
    assert len(ring) == 4 and read_keys_file(path)[next(iter(keys))].role == "manager"
    with pytest.raises(BadRequest, match="does not exist"):
        read_keys_file(tmp_path / "missing.json")


# -- HubSpot --------------------------------------------------------------------------------------
def reference_signature(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """HubSpot's v3 recipe written out independently of serving.hubspot."""
    message = f"{method}{uri}".encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def test_signature_matches_the_documented_recipe():
    uri = "https://territory.example.com/crm/hubspot/card?userEmail=a@b.com&associatedObjectId=5"
    assert sign_v3("s3cret", "GET", uri, b"", "1700000000000") == reference_signature(
        "s3cret", "GET", uri, b"", "1700000000000"
    )
    body = b'{"x": 1}'
    assert sign_v3("s3cret", "post", uri, body, "1") == reference_signature(
        "s3cret", "POST", uri, body, "1"
    )


def test_canonical_uri_decodes_only_the_listed_escapes():
    assert (
        canonical_uri("https://h/p?email=a%40b.com&u=http%3A%2F%2Fx%2fy&s=a%20b")
        == "https://h/p?email=a@b.com&u=http://x/y&s=a%20b"
    )


def test_verify_accepts_fresh_valid_and_rejects_old_future_or_wrong():
    now = int(time.time() * 1000)
    uri = "https://h/crm/hubspot/card?associatedObjectId=1"
    good = {
        "x-hubspot-signature-v3": sign_v3("s", "GET", uri, b"", str(now)),
        "x-hubspot-request-timestamp": str(now),
    }
    verify_v3("s", method="GET", uri=uri, body=b"", headers=good, now_ms=now)
    with pytest.raises(Unauthenticated, match="replay"):
        verify_v3("s", method="GET", uri=uri, body=b"", headers=good, now_ms=now + 301_000)
    with pytest.raises(Unauthenticated, match="replay"):
        verify_v3("s", method="GET", uri=uri, body=b"", headers=good, now_ms=now - 301_000)
    verify_v3("s", method="GET", uri=uri, body=b"", headers=good, now_ms=now + 299_000)
    with pytest.raises(Unauthenticated, match="does not match"):
        verify_v3("s", method="GET", uri=uri + "2", body=b"", headers=good, now_ms=now)
    with pytest.raises(Unauthenticated, match="Unix milliseconds"):
        verify_v3(
            "s",
            method="GET",
            uri=uri,
            body=b"",
            headers={**good, "x-hubspot-request-timestamp": "soon"},
            now_ms=now,
        )


def test_card_payload_shape():
    card = {
        "potential": {"value": 1234.5, "percentile": 91.2, "tier": "A"},
        "owner": {
            "current": {"name": "Ana"},
            "recommended": {"name": "Bo"},
            "move": {"status": "proposed", "reasons": [{"text": "Bo knows energy"}]},
        },
        "reasons": [{"phrase": "$35k in open pipeline"}],
        "freshness": {"scores_as_of": "2026-06-30"},
    }
    result = card_payload(card, 42, "https://t/widget/?account=A1")["results"][0]
    assert result["objectId"] == 42 and result["link"] == "https://t/widget/?account=A1"
    values = {p["label"]: p["value"] for p in result["properties"]}
    assert (
        values["Potential (12 months)"] == "1234.50"
        and values["Recommended owner"] == "Bo (proposed)"
    )
    assert values["Why move"] == "Bo knows energy" and values["Reason 1"] == "$35k in open pipeline"
    assert {p["dataType"] for p in result["properties"]} <= {
        "CURRENCY",
        "NUMERIC",
        "STRING",
        "DATE",
    }


# -- plan files -----------------------------------------------------------------------------------
def write_plan_files(directory, owners: dict[str, tuple[str | None, str]], plan_id=None):
    """A plan folder through the one writer: account -> (current rep, planned rep)."""
    from models.planning import Move, MoveReasons, Plan, metrics_document, write_plan_folder

    accounts = list(owners)
    assignments = pd.DataFrame(
        {
            "account_id": accounts,
            "rep_id": [owners[a][1] for a in accounts],
            "current_rep": [owners[a][0] for a in accounts],
            "change": "moved",
            "potential": 100.0,
            "workload": [float(i + 1) for i in range(len(accounts))],
            "fit": 1.0,
            "expected_value": 100.0,
            "distance_km": 0.0,
            "region": "all",
        }
    )
    moves = tuple(
        Move(a, frm, to, "move" if frm else "new", MoveReasons(12.5, 0, 2.0, 0, 0, 0), "s")
        for a, (frm, to) in owners.items()
        if frm != to
    )
    plan = Plan("optimal", {a: to for a, (_, to) in owners.items()}, 1.0, 1.0, 0.0, moves)
    plan = dataclasses.replace(plan, assignments=assignments)
    extra = {"plan_id": plan_id} if plan_id else {}
    write_plan_folder(plan, directory, metrics_document(plan, "t", extra), "# Plan\n")
    return directory


def test_read_plan_round_trips_the_written_folder(tmp_path):
    d = write_plan_files(
        tmp_path / "p", {"A1": ("R1", "R2"), "A2": ("R1", "R1"), "A3": (None, "R1")}
    )
    plan = read_plan(d, {"A1": "R9", "A4": "R3"})
    assert plan.planned_owner == {"A1": "R2", "A2": "R1", "A3": "R1"}
    assert plan.current_owner == {"A1": "R1", "A2": "R1", "A4": "R3"}  # the plan's own wins
    assert plan.workload == {"A1": 1.0, "A2": 2.0, "A3": 3.0}
    assert list(plan.moves) == ["A1", "A3"] and plan.moves["A1"].from_rep_id == "R1"
    assert plan.moves["A1"].impact == 10.5  # fit 12.5 - continuity 2.0
    assert [r.type for r in plan.moves["A3"].reasons] == ["new", "fit", "continuity"]
    assert plan.reason_types == ["continuity", "fit", "new"]
    assert plan.metrics["schema_version"] == 1 and plan.report_md == "# Plan\n"
    assert plan.plan_id == plan_id_of(d) and plan.plan_id.startswith("plan-")


def test_read_plan_takes_the_plan_id_from_metrics(tmp_path):
    d = write_plan_files(tmp_path / "p", {"A1": ("R1", "R2")}, plan_id="q3-west")
    assert read_plan(d, {}).plan_id == "q3-west" == plan_id_of(d)


def test_read_plan_errors_name_the_file_the_column_and_fix(tmp_path):
    with pytest.raises(NotReady, match="no assignments.csv"):
        read_plan(tmp_path, {})
    d = write_plan_files(tmp_path / "p", {"A1": ("R1", "R2")})
    frame = pd.read_csv(d / "assignments.csv").rename(columns={"rep_id": "planned_rep_id"})
    frame.to_csv(d / "assignments.csv", index=False)
    with pytest.raises(NotReady, match=r"assignments.csv: column\(s\) \['rep_id'\] missing"):
        read_plan(d, {})
    d = write_plan_files(tmp_path / "q", {"A1": ("R1", "R2")})
    moves = pd.read_csv(d / "moves.csv")
    moves.assign(fit_value="lots").to_csv(d / "moves.csv", index=False)
    with pytest.raises(NotReady, match=r"moves.csv: column 'fit_value' holds non-numbers .*A1"):
        read_plan(d, {})
    moves.assign(kind="swap").to_csv(d / "moves.csv", index=False)
    with pytest.raises(NotReady, match=r"column 'kind' holds \['swap'\]; it takes move"):
        read_plan(d, {})
    doc = json.loads((d / "metrics.json").read_text())
    (d / "metrics.json").write_text(json.dumps({**doc, "schema_version": 0}))
    with pytest.raises(NotReady, match="schema_version is 0; .* rerun `territory plan --out"):
        read_plan(d, {})


def test_choose_plan_dir_takes_the_newest_not_superseded(tmp_path):
    old = write_plan_files(tmp_path / "plans" / "old", {"A1": ("R1", "R1")})
    new = write_plan_files(tmp_path / "plans" / "new", {"A1": ("R1", "R2")})
    os.utime(old / "assignments.csv", (1, 1))
    found = find_plan_dirs([tmp_path / "plans"])
    assert choose_plan_dir(found, {}) == new.resolve()
    assert choose_plan_dir(found, {plan_id_of(new): "superseded"}) == old.resolve()
    assert choose_plan_dir([], {}) is None


# -- decisions store ------------------------------------------------------------------------------
def decide(store, account="A1", action="approve", final="R2", **kw):
    return store.decide(
        plan_id="p1",
        account_id=account,
        action=action,
        from_rep_id="R1",
        proposed_rep_id="R2",
        final_rep_id=final,
        note=kw.pop("note", ""),
        actor="M (manager)",
        role="manager",
        model_version="v1",
        **kw,
    )


def test_sqlite_store_is_append_only_with_audit_and_survives_reopen(tmp_path, exercise_store):
    url = f"sqlite:///{tmp_path / 'd.db'}"
    store = DecisionStore(url)
    exercise_store(store)
    store.close()
    reopened = DecisionStore(url)
    assert reopened.decisions("p1")["A1"].action == "reject"
    assert len(reopened.audit()) == 5 and reopened.plan("p1").status == "approved"


def test_decision_cache_sees_writes_from_other_processes(tmp_path):
    url = f"sqlite:///{tmp_path / 'd.db'}"
    ours, theirs = DecisionStore(url), DecisionStore(url)
    ours.register_plan("p1", "/plans/p1")
    cache = DecisionCache(ours, "p1", check_every_s=0.0)
    assert cache.view().decisions == {}
    decide(theirs)
    assert cache.view().decisions["A1"].action == "approve"
    slow = DecisionCache(ours, "p1", check_every_s=3600)
    first = slow.view()
    decide(theirs, action="reject", final="R1")
    assert slow.view() is first  # within the check interval: no query at all
    slow.invalidate()
    assert slow.view().decisions["A1"].action == "reject"


def _contest(store, account):
    store.contest(
        plan_id="p1",
        account_id=account,
        rep_id="R1",
        reason="deal closing",
        actor="R (rep, R1)",
        model_version="v1",
    )


def test_decision_cache_reads_only_what_the_trail_gained(tmp_path, monkeypatch):
    # A decision's cost must not grow with the plan's history (issue 20): after a write, the
    # snapshot follows the new audit rows and never re-reads the whole plan.
    store = DecisionStore(f"sqlite:///{tmp_path / 'd.db'}")
    store.register_plan("p1", "/plans/p1")
    for i in range(30):
        decide(store, account=f"H{i}")
    cache = DecisionCache(store, "p1", check_every_s=3600, full_every_s=3600)
    assert len(cache.view().decisions) == 30

    def whole_plan(*_):
        raise AssertionError("re-read the whole plan after a single-account write")

    monkeypatch.setattr(store, "_latest_decisions", whole_plan)
    first = decide(store, account="A1")
    cache.invalidate()
    assert cache.view().decisions["A1"] == first and len(cache.view().decisions) == 31
    _contest(store, "A2")
    cache.invalidate()
    assert cache.view().open_contests == {"A2": 1}
    second = decide(store, account="A2", action="reject", final="R1")
    cache.invalidate()
    view = cache.view()
    assert view.decisions["A2"] == second and view.open_contests == {}  # the decision resolved it
    assert view.decisions["H0"] == store.decision("p1", "H0")  # untouched accounts kept
    monkeypatch.undo()
    store.approve_plan("p1", actor="M (manager)", role="manager", model_version="v1", note="go")
    cache.invalidate()  # a plan-wide row: the whole plan is read again
    assert len(cache.view().decisions) == 32


def test_decision_cache_keeps_a_write_when_an_older_read_lands_last(tmp_path):
    # The health watcher and a /decide thread refresh at once: the watcher's read began before
    # the decision committed and ended after /decide's own read. The older read must not replace
    # the newer snapshot (it did, and a database outage right after kept it on every card).
    store = DecisionStore(f"sqlite:///{tmp_path / 'd.db'}")
    store.register_plan("p1", "/plans/p1")
    cache = DecisionCache(store, "p1", check_every_s=3600, full_every_s=3600)
    assert cache.view().decisions == {}
    inside, release = threading.Event(), threading.Event()
    read = store.read

    def slow_read(work, *, what):
        result = read(work, what=what)  # reads the trail before the decision commits
        inside.set()
        assert release.wait(10)
        return result

    store.read = slow_read
    cache.invalidate()
    watcher = threading.Thread(target=cache.view)
    watcher.start()
    assert inside.wait(10)
    store.read = read
    written = decide(store)
    cache.invalidate()
    assert cache.view().decisions["A1"] == written  # the writer's own read, newest so far
    release.set()
    watcher.join(10)
    assert cache.latest.decisions["A1"] == written  # the older read, landing last, is not kept
    assert cache.view().decisions["A1"] == written


def test_decision_cache_catches_a_lower_id_committed_late(tmp_path):
    # PostgreSQL hands out ids at insert: a transaction can commit id 9 after a check saw id 10.
    store = DecisionStore(f"sqlite:///{tmp_path / 'd.db'}")
    store.register_plan("p1", "/plans/p1")
    audit = store.t["audit"]
    row = {"at": datetime.now(UTC), "actor": "x", "role": "job", "action": "note", "note": ""}
    store.write(lambda conn: conn.execute(audit.insert().values(audit_id=10, **row)), what="t")
    cache = DecisionCache(store, "p1", check_every_s=0.0, full_every_s=3600)
    assert cache.view().decisions == {}
    late = decide(store, account="A9")  # its audit row gets id 11: move it below the mark
    store.write(
        lambda conn: conn.execute(audit.update().where(audit.c.audit_id == 11).values(audit_id=9)),
        what="t",
    )
    assert cache.view().decisions["A9"] == late  # nothing above the mark, yet it is read


# -- scores ---------------------------------------------------------------------------------------
def test_tier_and_percentile_follow_the_batch_rules():
    assert tier_of(np.array([95, 90, 80, 50, 10])).tolist() == ["A", "B", "B", "C", "D"]
    table = ScoreTable(
        pd.DataFrame(
            {
                "account_id": ["a", "b", "c", "d"],
                "potential": [1.0, 2.0, 3.0, 4.0],
                "percentile": [25.0, 50.0, 75.0, 100.0],
                "tier": ["D", "C", "B", "A"],
            }
        )
    )
    assert (
        table.percentile_of(2.5) == 60.0
        and table.percentile_of(100.0) == 100.0
        and table.percentile_of(0) == 20.0
    )
    assert table.get("zz") is None and table.get("b").tier == "C" and table.get("b").reasons == []


def test_on_request_scores_match_the_batch_job(tables, champion, scores_path):
    from features.pipeline import build_account_features
    from models.potential import load_potential_model
    from serving.store import OnDemandScorer

    model, _ = load_potential_model(champion)
    scores = pd.read_csv(scores_path, dtype={"account_id": str})
    as_of = pd.Timestamp(scores["as_of"].iloc[0])
    scorer = OnDemandScorer(model, build_account_features(tables, as_of), as_of, threads=1)
    table = ScoreTable(scores)
    ids = scores["account_id"].head(5).tolist()
    fresh = scorer.score(ids, table)
    stored = scores.set_index("account_id").loc[ids]
    np.testing.assert_allclose([fresh[a].potential for a in ids], stored["potential"], rtol=1e-9)
    assert [[r["concept"] for r in fresh[a].reasons] for a in ids] == [
        [r["concept"] for r in json.loads(c)] for c in stored["top_reasons"]
    ]
    assert all(fresh[a].computed_on_request for a in ids)


# -- schemas --------------------------------------------------------------------------------------
REQUEST_MODELS = {
    "card": schemas.CardRequest,
    "rep_view": schemas.RepViewRequest,
    "score": schemas.ScoreRequest,
    "explain": schemas.ScoreRequest,
    "moves": schemas.MovesRequest,
    "decide": schemas.DecisionRequest,
    "bulk_decide": schemas.BulkDecisionRequest,
    "contest": schemas.ContestRequest,
    "contests": schemas.ContestsRequest,
    "audit": schemas.AuditRequest,
    "plan_preview": schemas.PlanPreviewRequest,
    "export_plan": schemas.ExportRequest,
    "approve_plan": schemas.ApprovePlanRequest,
    "rollback_plan": schemas.RollbackPlanRequest,
    "reload": schemas.ReloadRequest,
    "kpi_table": schemas.KpiRequest,
}


@pytest.mark.parametrize("endpoint", sorted(schemas.EXAMPLE_REQUEST))
def test_every_example_request_is_valid(endpoint):
    body = schemas.EXAMPLE_REQUEST[endpoint]
    if endpoint == "plan_metrics":
        assert body == {}
        return
    REQUEST_MODELS[endpoint].model_validate(body)


# -- territory serve ------------------------------------------------------------------------------
def test_serve_generates_keys_once_for_active_reps(crm_dir, tables, tmp_path):
    from serving.__main__ import ensure_keys
    from serving.settings import ServingSettings

    settings = ServingSettings(data_dir=tmp_path, api_keys={}, api_keys_file=None)
    path = ensure_keys(settings, str(crm_dir), None)
    keys = json.loads(path.read_text())
    active = tables.reps.loc[tables.reps["active"].fillna(True).astype(bool), "rep_id"]
    assert sorted(e["rep_id"] for e in keys.values() if e["role"] == "rep") == sorted(active)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert (
        ensure_keys(settings, str(crm_dir), None) == path and json.loads(path.read_text()) == keys
    )


def test_serve_refuses_missing_paths(crm_dir, tmp_path):
    from typer.testing import CliRunner

    from training.cli import app

    result = CliRunner().invoke(
        app, ["serve", "--data", str(crm_dir), "--scores", str(tmp_path / "nope.parquet")]
    )
    assert result.exit_code == 2 and "does not exist" in result.output


def test_on_request_card_runs_treeshap_once_per_account(tables, champion, monkeypatch):
    from features.pipeline import build_account_features
    from models.potential import PotentialModel
    from serving.store import OnDemandScorer

    model = PotentialModel.from_model_uri(champion, num_threads=1)
    as_of = tables.default_as_of()
    scorer = OnDemandScorer(model, build_account_features(tables, as_of), as_of, threads=1)
    from models.explain import explainer

    calls = {"explainer": 0, "other_contrib": 0, "predict": 0, "inside": False}
    real_predict, real_contrib = model.booster_.predict, explainer.contributions

    def predict(*args, **kwargs):
        if kwargs.get("pred_contrib") and not calls["inside"]:
            calls["other_contrib"] += 1
        calls["predict"] += not kwargs.get("pred_contrib")
        return real_predict(*args, **kwargs)

    def contributions(*args, **kwargs):
        calls["explainer"] += 1
        calls["inside"] = True
        try:
            return real_contrib(*args, **kwargs)
        finally:
            calls["inside"] = False

    monkeypatch.setattr(model.booster_, "predict", predict)
    monkeypatch.setattr(explainer, "contributions", contributions)
    table = ScoreTable(pd.DataFrame(columns=["account_id", "potential", "percentile", "tier"]))
    account = str(scorer.features.index[0])
    entry = scorer.score([account], table)[account]
    assert entry.computed_on_request and entry.reasons
    assert (calls["explainer"], calls["other_contrib"], calls["predict"]) == (1, 0, 1)


def test_balance_totals_sum_per_rep_with_planning_metrics():
    from models.planning import per_rep_totals

    sums = per_rep_totals(np.array([0, 1, 0, -1]), 3, {"potential": np.array([1.0, 2, 3, 4])})
    assert sums["potential"].tolist() == [4.0, 2.0, 0.0]
    assert sums["accounts"].tolist() == [2.0, 1.0, 0.0]
