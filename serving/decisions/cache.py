"""The decisions of one plan as the request path reads them: a snapshot kept in memory.

Every write appends audit rows (store.py), so the snapshot follows the audit trail: a check reads
only the audit rows added since the last one, and re-reads the latest decision and open-contest
count of just the accounts they name. A decision's cost does not grow with the plan's history
(the whole plan was re-read after every write before: 14.5 ms at 4,276 rows, issue 20).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import partial

import sqlalchemy as sa

from serving.decisions.records import Decision
from serving.decisions.store import DecisionStore
from serving.decisions.tables import record_of

LOOKBACK_ROWS = 16
"""Audit ids are handed out at insert, not at commit: on PostgreSQL a transaction can commit a
lower id after a check read a higher one. Each check re-reads this many rows below its mark."""


@dataclass(frozen=True)
class DecisionView:
    """The latest decision and open-contest count per account of one plan, at one moment."""

    plan_id: str
    decisions: dict[str, Decision]
    open_contests: dict[str, int]


class DecisionCache:
    """DecisionView kept in memory for the request path, brought up to date from the audit trail.

    Writes through this process call invalidate() (the next view() checks at once); writes by
    other processes (more workers, a second replica) show up within `check_every_s`. A check
    costs the audit rows added since the last one; a plan-wide row (approval, export, contests
    resolved plan-wide) and every `full_every_s` re-read the whole plan, the latter as a safety
    net for a transaction that committed long after a later one.

    Safe to share between threads (the health watcher and request threads read it at once): a
    read that began before a write and ends after the write's own read never replaces the newer
    snapshot, so a manager's committed decision cannot vanish from cards for a moment (it did:
    the watcher's older read landed last and stayed until the next check, or for the whole of a
    database outage that began in between).
    """

    def __init__(
        self,
        store: DecisionStore,
        plan_id: str,
        *,
        check_every_s: float = 1.0,
        full_every_s: float = 60.0,
    ) -> None:
        self._clock = time.monotonic
        self.store = store
        self.plan_id = plan_id
        self.check_every_s = check_every_s
        self.full_every_s = full_every_s
        self._view: DecisionView | None = None
        self._high_water = 0
        self._checked = 0.0
        self._full_at = 0.0
        self._stale = True
        self._lock = threading.Lock()

    @property
    def latest(self) -> DecisionView | None:
        """The newest snapshot read so far, without any I/O (None before the first read)."""
        return self._view

    def invalidate(self) -> None:
        """This process wrote: the next view() reads what the trail gained (not everything)."""
        self._stale = True

    def reset(self) -> None:
        """Forget the snapshot: the next view() re-reads the whole plan."""
        self._view = None

    def view(self) -> DecisionView:
        """The current snapshot, brought up to date when stale."""
        with self._lock:
            now = self._clock()
            fresh = now - self._checked < self.check_every_s
            if self._view is not None and fresh and not self._stale:
                return self._view
            self._checked, self._stale = now, False
            full = self._view is None or now - self._full_at >= self.full_every_s
            if full:
                self._full_at = now
            base, high_water = self._view, self._high_water
        work = self._read_all if full else partial(self._read_new, base, high_water)
        try:
            view, mark = self.store.read(work, what="reading decisions")
        except BaseException:
            self._stale = True  # the next view() tries again rather than serve the old one
            raise
        with self._lock:
            if self._view is None or mark >= self._high_water:
                self._view, self._high_water = view, mark
            return self._view  # a newer read landed first: keep it (see the class docstring)

    def _read_all(self, conn: sa.Connection) -> tuple[DecisionView, int]:
        mark = _audit_max(self.store, conn)  # first: whatever commits later is read next time
        decisions = self.store._latest_decisions(conn, self.plan_id)
        contests = _open_contests(self.store, conn, self.plan_id, None)
        return DecisionView(self.plan_id, decisions, contests), mark

    def _read_new(
        self, view: DecisionView, high_water: int, conn: sa.Connection
    ) -> tuple[DecisionView, int]:
        a = self.store.t["audit"]
        rows = conn.execute(
            sa.select(a.c.audit_id, a.c.plan_id, a.c.account_id).where(
                a.c.audit_id > high_water - LOOKBACK_ROWS
            )
        ).all()
        mark = max([high_water, *(r.audit_id for r in rows)])
        mine = [r for r in rows if r.plan_id == self.plan_id]
        if any(r.account_id is None for r in mine):  # plan-wide: approval, export, ...
            self._full_at = self._clock()
            return self._read_all(conn)
        accounts = sorted({r.account_id for r in mine})
        if not accounts:
            return view, mark
        decisions = dict(view.decisions)
        decisions.update(_latest_of(self.store, conn, self.plan_id, accounts))
        touched = set(accounts)
        contests = {a: n for a, n in view.open_contests.items() if a not in touched}
        contests.update(_open_contests(self.store, conn, self.plan_id, accounts))
        return DecisionView(self.plan_id, decisions, contests), mark


def _audit_max(store: DecisionStore, conn: sa.Connection) -> int:
    a = store.t["audit"]
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(a.c.audit_id), 0))).scalar_one())


def _latest_of(
    store: DecisionStore, conn: sa.Connection, plan_id: str, accounts: list[str]
) -> dict[str, Decision]:
    """The latest decision of each of `accounts` that has one (by index, per account)."""
    d = store.t["decisions"]
    latest = (
        sa.select(sa.func.max(d.c.decision_id))
        .where(d.c.plan_id == plan_id, d.c.account_id.in_(accounts))
        .group_by(d.c.account_id)
        .scalar_subquery()
    )
    rows = conn.execute(sa.select(d).where(d.c.decision_id.in_(latest))).mappings().all()
    return {row["account_id"]: record_of(Decision, row) for row in rows}


def _open_contests(
    store: DecisionStore, conn: sa.Connection, plan_id: str, accounts: list[str] | None
) -> dict[str, int]:
    """Open contests per account of the plan (of `accounts` only, when given)."""
    c = store.t["contests"]
    query = sa.select(c.c.account_id, sa.func.count()).where(
        c.c.plan_id == plan_id, c.c.status == "open"
    )
    if accounts is not None:
        query = query.where(c.c.account_id.in_(accounts))
    return {account: int(n) for account, n in conn.execute(query.group_by(c.c.account_id)).all()}
