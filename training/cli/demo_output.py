"""The demo's lines, as pure functions: each one is printed whole, on its own line (never wrapped),
so a URL or command copied from a log or a narrow terminal still works."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pandas as pd

STEP_COST_S: dict[str, tuple[tuple[int, float], ...]] = {
    "train": ((2_000, 70.0), (20_000, 120.0), (100_000, 205.0), (1_000_000, 300.0)),
    "score": ((20_000, 40.0), (100_000, 80.0), (1_000_000, 135.0)),
    "plan": ((2_000, 90.0), (20_000, 100.0), (100_000, 650.0), (1_000_000, 5_700.0)),
}
"""(accounts, seconds) measured on 2 busy cores (README's demo, bench/results/e2e.md at 100k and
1M); between and beyond them the estimate is a straight line through the nearest two. Training
is not linear in accounts: beyond ~60k accounts it fits a bounded sample of rows."""
WIDGET_REPS = 3


def estimate_s(command: str, accounts: int) -> float | None:
    """Expected seconds of a step on 2 cores (None for a step without a measured cost)."""
    points = STEP_COST_S.get(command)
    if points is None:
        return None
    sizes = [n for n, _ in points]
    right = min(max(1, sum(n < accounts for n in sizes)), len(points) - 1)
    (n0, s0), (n1, s1) = points[right - 1], points[right]
    return max(s0 + (s1 - s0) * (accounts - n0) / (n1 - n0), min(s for _, s in points) / 2)


def progress_line(title: str, elapsed_s: float, estimate: float | None) -> str:
    """`  train: 30 s elapsed, estimate ~100 s (about 70 s left)` (or `longer than estimated`)."""
    if estimate is None:
        return f"  {title}: {elapsed_s:.0f} s elapsed"
    left = estimate - elapsed_s
    tail = f"about {left:.0f} s left" if left > 0 else "longer than estimated, still working"
    return f"  {title}: {elapsed_s:.0f} s elapsed, estimate ~{estimate:.0f} s ({tail})"


def port_problem(port: int) -> str:
    """Why the demo stops before any long step, and how to pick another port."""
    return (
        f"error: port {port} on 127.0.0.1 is already in use (another `make demo` or server?). "
        f"Stop it, or pick another port: make demo PORT={port + 1}"
    )


def venv_note(exe: str) -> str:
    """One line on running `territory` outside make: the virtualenv's path or activating it."""
    here = Path(exe)
    with contextlib.suppress(ValueError):
        here = here.relative_to(Path.cwd())
    folder = here.parent
    return (
        f"commands below run {here}; to type `territory` yourself, first run "
        f"`source {folder / 'activate'}` (or call {here} directly)"
    )


def departed_note(reps_csv: Path, asked: int) -> str | None:
    """A word on reps.csv holding more rows than --reps (departed reps, kept for history)."""
    if not reps_csv.is_file():
        return None
    reps = pd.read_csv(reps_csv, dtype=str, keep_default_na=False)
    if len(reps) <= asked:
        return None
    active = reps["active"].str.lower().isin({"true", "1", "yes"}) if "active" in reps else None
    n_active = int(active.sum()) if active is not None else asked
    return (
        f"note: reps.csv has {len(reps)} rows for --reps {asked}: {n_active} active reps and "
        f"{len(reps) - n_active} who left during the simulated years (active=false), kept "
        "because they owned accounts and closed deals in the history."
    )


def rep_widget_lines(data: Path, base: str, n: int = WIDGET_REPS) -> list[str]:
    """A widget URL with a real account id for the first `n` active reps that own accounts."""
    assignments = data / "assignments.csv"
    if not assignments.is_file():
        return []
    owners = pd.read_csv(assignments, dtype=str, keep_default_na=False)
    current = owners[owners["end_date"] == ""].sort_values(["rep_id", "account_id"])
    lines = []
    for rep_id, group in current.groupby("rep_id", sort=True):
        account = group["account_id"].iloc[0]
        lines.append(f"rep {rep_id}'s widget: {base}/widget/?account={account}")
        if len(lines) == n:
            break
    return lines
