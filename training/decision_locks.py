"""Locks from managers' decisions for `territory plan --locks FILE`: the document the service's
POST /locks answers (serving/decisions/locks.py), read back into the scenario's typed locks.

Each lock keeps an account with the rep a manager chose (an override, or an accepted contest)
until it expires; the plan's report lists them with the decision they came from.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import TerritoryError
from models.planning import Scenario, scenario_from_dict

SUPPORTED_SCHEMA = 1
LOCK_KEYS = ("account_id", "rep_id", "reason", "expires", "source", "source_decision_id")


class LocksFileError(TerritoryError):
    """A locks file that is not what POST /locks writes."""


def read_locks_file(path: Path) -> list[dict[str, Any]]:
    """The locks of `path` (JSON from POST /locks); LocksFileError names the problem and fix."""
    if not path.exists():
        raise LocksFileError(
            f"locks file {path} does not exist; save the answer of POST /locks (manager or job "
            "key) to it, or drop --locks."
        )
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise LocksFileError(f"locks file {path} is not JSON ({exc}); save POST /locks.") from None
    if not isinstance(doc, dict) or doc.get("schema_version") != SUPPORTED_SCHEMA:
        version = doc.get("schema_version") if isinstance(doc, dict) else None
        raise LocksFileError(
            f"locks file {path} has schema_version {version!r}; this build reads "
            f"{SUPPORTED_SCHEMA} (the answer of POST /locks)."
        )
    locks = doc.get("locks")
    bad = [
        i
        for i, lock in enumerate(locks or [])
        if not isinstance(lock, dict) or not lock.get("account_id") or not lock.get("rep_id")
    ]
    if not isinstance(locks, list) or bad:
        raise LocksFileError(
            f"locks file {path}: locks[{bad[:5] if bad else ''}] lack account_id or rep_id; "
            "regenerate it with POST /locks."
        )
    return [{k: lock.get(k) for k in LOCK_KEYS} for lock in locks]


def with_decision_locks(
    scenario: Scenario, locks: list[dict[str, Any]], plan_date: pd.Timestamp
) -> Scenario:
    """The scenario with the decisions' locks added (a scenario lock on the same account wins:
    the scenario file is the manager's explicit word for this run).

    `plan_date` is the date the planner plans for (the scenario's as_of, else the data's last
    day); it is set as the scenario's as_of when that is empty, because the matcher checks lock
    expiry against scenario.as_of only and would otherwise treat every dated lock as expired.
    """
    if scenario.as_of is None:
        scenario = replace(scenario, as_of=pd.Timestamp(plan_date).normalize())
    mine = {lock.account_id for lock in scenario.locks}
    items = [
        {
            "account_id": str(lock["account_id"]),
            "rep_id": str(lock["rep_id"]),
            "reason": f"{lock.get('reason') or ''} (decision {lock.get('source_decision_id')})",
            "expires": lock.get("expires"),
        }
        for lock in locks
        if lock["account_id"] not in mine
    ]
    added = scenario_from_dict({"locks": items}).locks  # the scenario's own lock parser
    return replace(scenario, locks=scenario.locks + added)


def report_section(locks: list[dict[str, Any]], ignored: list[str]) -> str:
    """The report's list of decision locks (what the next plan kept, and why)."""
    if not locks:
        return ""
    lines = [
        "",
        "## Locks from decisions",
        "",
        f"{len(locks)} account(s) kept with the rep a manager chose (`--locks`):",
        "",
        "| account | rep | source | decision | expires | reason |",
        "|---|---|---|---:|---|---|",
    ]
    for lock in locks:
        reason = str(lock.get("reason") or "").replace("|", "/")
        lines.append(
            f"| {lock['account_id']} | {lock['rep_id']} | {lock.get('source') or ''} | "
            f"{lock.get('source_decision_id') or ''} | {lock.get('expires') or ''} | {reason} |"
        )
    if ignored:
        lines += ["", "Not applied: " + "; ".join(ignored)]
    return "\n".join(lines) + "\n"
