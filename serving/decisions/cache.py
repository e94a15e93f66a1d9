"""The decisions of one plan as the request path reads them: a snapshot kept in memory."""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa

from serving.decisions.records import Decision
from serving.decisions.store import DecisionStore


@dataclass(frozen=True)
class DecisionView:
    """The latest decision and open-contest count per account of one plan, at one moment."""

    plan_id: str
    decisions: dict[str, Decision]
    open_contests: dict[str, int]


class DecisionCache:
    """DecisionView kept in memory for the request path, re-read only when the audit trail grew.

    Writes through this process call invalidate(); writes by other processes (more workers, a
    second replica) show up within `check_every_s`, found by one cheap max(audit_id) query.
    """

    def __init__(self, store: DecisionStore, plan_id: str, *, check_every_s: float = 1.0) -> None:
        self._clock = time.monotonic
        self.store = store
        self.plan_id = plan_id
        self.check_every_s = check_every_s
        self._view: DecisionView | None = None
        self._high_water = -1
        self._checked = 0.0

    def invalidate(self) -> None:
        """Forget the snapshot: the next view() reads the store again."""
        self._view = None

    def view(self) -> DecisionView:
        """The current snapshot, re-read when stale and the audit trail has grown."""
        now = self._clock()
        if self._view is not None and now - self._checked < self.check_every_s:
            return self._view
        self._checked = now
        mark = self._audit_high_water()
        if self._view is None or mark != self._high_water:
            self._view = DecisionView(
                self.plan_id,
                self.store.decisions(self.plan_id),
                self.store.open_contest_counts(self.plan_id),
            )
            self._high_water = mark
        return self._view

    def _audit_high_water(self) -> int:
        a = self.store.t["audit"]
        query = sa.select(sa.func.coalesce(sa.func.max(a.c.audit_id), 0))
        return int(
            self.store.read(lambda conn: conn.execute(query).scalar_one(), what="reading decisions")
        )
