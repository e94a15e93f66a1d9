"""The review flow's store-level rules on SQLite, no server: contests answered in one transaction
(accept keep / override, reject with a note), the locks they make (latest decision wins, none from
rolled-back plans), the audit filters and CSV, and the locks file `territory plan --locks` reads.
"""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest

from models.planning import scenario_from_dict
from serving.audit import audit_csv, audit_entries
from serving.decisions import DecisionStore, MoveChoice
from serving.decisions.contest_book import resolve_contest
from serving.decisions.locks import decision_locks, locks_document
from serving.errors import BadRequest, Conflict, NotFound
from training.decision_locks import (
    LocksFileError,
    read_locks_file,
    report_section,
    with_decision_locks,
)

WHO = {"actor": "Maria (manager)", "role": "manager", "model_version": "v1"}


@pytest.fixture
def store(tmp_path) -> DecisionStore:
    store = DecisionStore(f"sqlite:///{tmp_path / 'decisions.db'}")
    store.register_plan("p1", "/plans/p1")
    return store


def contest(store, account="A1", rep="R1", plan="p1"):
    return store.contest(
        plan_id=plan,
        account_id=account,
        rep_id=rep,
        reason="renewal due",
        actor=f"Rep ({rep})",
        model_version="v1",
    )


def answer(store, contest_id, outcome, final=None, note="", account="A1"):
    choice = None if outcome == "reject" else MoveChoice(account, "R1", "R2", final or "R1")
    return resolve_contest(
        store, contest_id=contest_id, outcome=outcome, choice=choice, note=note, **WHO
    )


def test_accept_keep_is_a_decision_and_a_lock(store):
    opened = contest(store)
    other = contest(store, rep="R2")  # the other rep's contest on the same move closes too
    done = answer(store, opened.contest_id, "keep", note="finish the renewal")
    assert done.status == "accepted" and done.decision_id
    assert "finish the renewal" in done.resolution
    decision = store.decisions("p1")["A1"]
    assert decision.decision_id == done.decision_id and decision.action == "reject"
    assert decision.final_rep_id == "R1"
    closed = {c.contest_id: c for c in store.contests("p1", status=None)}
    assert closed[other.contest_id].status == "resolved"
    [lock] = decision_locks(store, lock_days=30)
    assert (lock.account_id, lock.rep_id, lock.source) == ("A1", "R1", "contest")
    assert lock.source_decision_id == done.decision_id
    day = pd.Timestamp(decision.decided_at[:10])
    assert lock.expires == (day + pd.Timedelta(days=30)).date().isoformat()
    actions = [e.action for e in store.audit(plan_id="p1")]
    assert actions[:3] == ["contest.accept", "contest.resolve", "decision.reject"]


def test_reject_needs_a_note_and_changes_no_owner(store):
    opened = contest(store)
    with pytest.raises(BadRequest, match="needs a note"):
        answer(store, opened.contest_id, "reject")
    done = answer(store, opened.contest_id, "reject", note="the plan stands")
    assert done.status == "rejected" and done.decision_id is None
    assert store.decisions("p1") == {} and decision_locks(store) == []
    with pytest.raises(Conflict, match="already rejected"):
        answer(store, opened.contest_id, "keep")
    with pytest.raises(NotFound, match="contest 999"):
        answer(store, 999, "keep")


def test_overrides_lock_and_a_later_decision_lifts_the_lock(store):
    store.decide(
        plan_id="p1",
        account_id="A2",
        action="override",
        from_rep_id="R1",
        proposed_rep_id="R2",
        final_rep_id="R3",
        note="knows the buyer",
        **WHO,
    )
    [lock] = decision_locks(store)
    assert (lock.rep_id, lock.source) == ("R3", "override") and "knows the buyer" in lock.reason
    store.decide(
        plan_id="p1",
        account_id="A2",
        action="approve",
        from_rep_id="R1",
        proposed_rep_id="R2",
        final_rep_id="R2",
        note="",
        **WHO,
    )
    assert decision_locks(store) == []
    document = locks_document(decision_locks(store), "2026-12-04T00:00:00+00:00")
    assert document["schema_version"] == 1 and document["locks"] == []


def test_no_locks_from_a_rolled_back_plan(store):
    opened = contest(store)
    answer(store, opened.contest_id, "override", final="R3")
    store.approve_plan("p1", note="", **WHO)
    assert [lock.rep_id for lock in decision_locks(store)] == ["R3"]
    store.register_plan("p2", "/plans/p2")
    store.approve_plan("p2", note="", **WHO)
    store.rollback_plan(note="back", to_plan_id=None, **WHO)  # p2 rolled back, p1 restored
    assert [lock.rep_id for lock in decision_locks(store)] == ["R3"]
    store.register_plan("p3", "/plans/p3")
    store.approve_plan("p3", note="", **WHO)
    store.rollback_plan(note="back again", to_plan_id=None, **WHO)  # p3 back, p1 restored
    statuses = store.plan_statuses()
    assert statuses["p1"] == "approved"
    with pytest.raises(Conflict, match="approved"):
        contest(store, account="A9")


def test_audit_filters_and_csv(store):
    opened = contest(store, account="A1", rep="R7")
    answer(store, opened.contest_id, "keep", note="ok")
    store.record(actor="Job", role="job", action="service.reload", new={"plan_id": "p1"})
    entries, total = audit_entries(store, account_id="A1")
    assert [e.action for e in entries] == ["contest.accept", "decision.reject", "contest.open"]
    assert total == 3
    by_rep, _ = audit_entries(store, rep_id="R7")
    assert {e.action for e in by_rep} >= {"contest.open", "contest.accept"}
    contests, _ = audit_entries(store, action="contest")
    assert {e.action for e in contests} == {"contest.open", "contest.accept"}
    exact, _ = audit_entries(store, action="service.reload")
    assert [e.actor for e in exact] == ["Job"]
    future, n = audit_entries(store, since="2999-01-01")
    assert future == [] and n == 0
    with pytest.raises(BadRequest, match="not ISO 8601"):
        audit_entries(store, until="next week")
    text = "".join(audit_csv(store, account_id="A1"))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["action"] for r in rows] == [e.action for e in entries]
    assert json.loads(rows[0]["new_value"])["outcome"] == "keep"


def test_locks_file_reaches_the_scenario_and_the_report(tmp_path):
    path = tmp_path / "locks.json"
    lock = {
        "account_id": "A1",
        "rep_id": "R3",
        "reason": "contest 1 accepted: renewal",
        "expires": "2027-12-04",
        "source": "contest",
        "source_decision_id": 7,
    }
    path.write_text(
        json.dumps({"schema_version": 1, "locks": [lock, {**lock, "account_id": "A2"}]})
    )
    locks = read_locks_file(path)
    mine = scenario_from_dict({"locks": [{"account_id": "A2", "rep_id": "R9"}]})
    scenario = with_decision_locks(mine, locks, pd.Timestamp("2026-06-30"))
    assert [(x.account_id, x.rep_id) for x in scenario.locks] == [("A2", "R9"), ("A1", "R3")]
    assert scenario.as_of == pd.Timestamp("2026-06-30")  # expiry is checked against it
    assert scenario.locks[1].active_on(scenario.as_of) and "decision 7" in scenario.locks[1].reason
    section = report_section(locks, [])
    assert "## Locks from decisions" in section and "| A1 | R3 | contest | 7 |" in section
    path.write_text(json.dumps({"schema_version": 9, "locks": []}))
    with pytest.raises(LocksFileError, match="schema_version 9"):
        read_locks_file(path)
    path.write_text(json.dumps({"schema_version": 1, "locks": [{"account_id": "A1"}]}))
    with pytest.raises(LocksFileError, match="lack account_id or rep_id"):
        read_locks_file(path)
    with pytest.raises(LocksFileError, match="does not exist"):
        read_locks_file(tmp_path / "missing.json")
