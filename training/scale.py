"""Training at scale: how many snapshots and account rows a run fits on, and progress with an ETA.

A million-account export has ~19 monthly snapshots of ~1M rows each. Fitting four candidates and
refitting the chosen one on all of them took more than 45 minutes; the model does not need them:
labels of neighbouring monthly snapshots overlap by 11 of 12 months, and a 7-31-leaf booster
learns what it can from a few hundred thousand rows (bench/bench_train_scale.py measures the
holdout cost on the 20k world). So a run fits on at most ``max_train_rows`` account-snapshots:

- snapshots: monthly while the rows fit the budget, every 2 months up to 10x over it, quarterly
  beyond (fewer snapshots to build as well as to fit);
- accounts: each training snapshot keeps the same share of its accounts, drawn by a stable hash
  of (account_id, snapshot date), so every account can appear and each run is reproducible.
  Features are built only for those accounts (plus, at the validation date, the validation
  group), on a slice of the export; the cross-account features (book sizes, segment growth and
  medians, the win prior) come from the whole export's market context, so a sampled row's
  features are exactly those of a build over every account;
- the holdout snapshot stays whole (metrics on every account), and validation scores its whole
  held-out group; the refit takes the same share of every refit snapshot, so each weighs the
  same (total calibration reads per-date means and row counts).

Each stage reports a line with the elapsed time and an estimate of what is left.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_TRAIN_ROWS = 400_000
"""Account-snapshots fitted per run (selection and refit). The default 20k world (~330k rows)
trains on every row; 100k and 1M worlds sample."""
MAX_SNAPSHOT_STEP_MONTHS = 3


@dataclass(frozen=True)
class RowSample:
    """Which rows of the stacked snapshots a run fits on."""

    step_months: int
    fraction: float
    candidate_rows: int
    """account-snapshots before sampling (accounts x snapshots on the grid)"""

    @property
    def samples(self) -> bool:
        """True when rows are left out."""
        return self.fraction < 1.0

    def note(self, kept_rows: int) -> str:
        """One line for the run's warnings: what was sampled and why."""
        return (
            f"trained on {kept_rows:,} of {self.candidate_rows:,} account-snapshots "
            f"({self.fraction:.1%} of accounts per snapshot, a snapshot every "
            f"{self.step_months} month(s)) to bound the cost (max_train_rows); the holdout "
            "scores every account and validation every account of its held-out group."
        )


def snapshot_step(rows: int, max_rows: int | None) -> int:
    """Months between snapshots: 1 within the budget, 2 up to 10x over it, 3 beyond."""
    if not max_rows or rows <= max_rows:
        return 1
    return 2 if rows <= 10 * max_rows else MAX_SNAPSHOT_STEP_MONTHS


def row_sample(accounts: int, snapshots: int, step: int, max_rows: int | None) -> RowSample:
    """The share of accounts each snapshot keeps so that the run fits ``max_rows`` rows."""
    rows = accounts * snapshots
    fraction = 1.0 if not max_rows or rows <= max_rows else max_rows / rows
    return RowSample(step_months=step, fraction=fraction, candidate_rows=rows)


def sampled_accounts(account_ids, as_of: pd.Timestamp, fraction: float) -> np.ndarray:
    """True for the accounts kept at ``as_of``: a stable hash of (id, date) below ``fraction``."""
    ids = np.asarray(account_ids, dtype=object)
    if fraction >= 1.0:
        return np.ones(len(ids), dtype=bool)
    key = (pd.Timestamp(as_of).strftime("%Y%m%d") + "snapshot")[:16]
    hashed = pd.util.hash_array(ids, hash_key=key, categorize=False)
    return hashed < np.uint64(math.floor(fraction * float(2**64 - 1)))


class StageClock:
    """Progress lines ``stage i/n: elapsed, ETA`` sent to ``emit`` (the CLI prints them)."""

    def __init__(self, emit: Callable[[str], None], clock: Callable[[], float] = time.perf_counter):
        self.emit = emit
        self.clock = clock
        self.started = self.stage_started = clock()
        self.name, self.total = "", 0

    def stage(self, name: str, total: int = 0, estimate_s: float | None = None) -> None:
        """Start a stage of ``total`` steps (0: one step); announce it with an estimate if known."""
        now = self.clock()
        self.name, self.total, self.stage_started = name, total, now
        eta = f", ETA ~{estimate_s:.0f} s" if estimate_s is not None else ""
        self.emit(f"{name}: started at {now - self.started:.0f} s{eta}")

    def step(self, done: int) -> None:
        """Report ``done`` of the stage's steps with the time left at the pace so far."""
        now = self.clock()
        spent = now - self.stage_started
        left = spent / done * (self.total - done) if done else float("nan")
        self.emit(
            f"{self.name} {done}/{self.total}: {spent:.0f} s in stage, {now - self.started:.0f} s "
            f"elapsed, ETA {left:.0f} s"
        )


def refit_estimate(
    fit_seconds: float, fit_rows: int, fit_trees: int, refit_rows: int, refit_trees: int
) -> float:
    """Seconds a refit should take, scaled from the chosen candidate's fit (rows x trees)."""
    if fit_rows <= 0 or fit_trees <= 0:
        return float("nan")
    return fit_seconds * (refit_rows / fit_rows) * (refit_trees / fit_trees)
