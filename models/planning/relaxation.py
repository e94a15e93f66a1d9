"""What makes an infeasible scenario feasible: YAML values checked by re-solving.

Every set limit is loosened together, one step per round, until the solver finds a plan; then each
limit the plan does not need is put back (one solve each). The advice names the `limits:` keys and
values, and every combination it offers was solved, never guessed from the conflicts' text. A band
of 0 is said to be 0, with the smallest value that worked (no "grow by 13382%").
"""

from __future__ import annotations

from dataclasses import dataclass, replace

RELAXABLE = (
    "workload_band",
    "potential_band",
    "max_moved_share",
    "max_moved_potential_share",
    "max_travel_km",
)
"""The `limits:` keys tried, in the order they are restored when not needed."""
BAND_STEPS = (0.05, 0.10, 0.15, 0.20, 0.30, 0.40, 0.50, 0.75, 1.0)
SHARE_STEPS = (0.10, 0.15, 0.20, 0.30, 0.40, 0.50, 0.75, 1.0)
MAX_ROUNDS = 10
RESOLVE_TIME_LIMIT_S = 10.0
"""Solver budget of each re-solve: an infeasible solve runs to its limit, and a dozen may run."""


@dataclass(frozen=True)
class LimitChange:
    """One `limits:` key and the value that, with the others, gave a feasible plan."""

    key: str
    was: float
    now: float | None

    def yaml(self) -> str:
        """`limits.key: value` as the user writes it (null switches the limit off)."""
        now = "null" if self.now is None else f"{self.now:g}"
        if self.was == 0:
            return (
                f"limits.{self.key}: {now} (was 0: no rep may differ from the mean at all; "
                f"{now} is the smallest tried value that works)"
            )
        return f"limits.{self.key}: {now} (was {self.was:g})"


@dataclass(frozen=True)
class Relaxation:
    """Limit values checked by re-solving: the plan's status and moves with them."""

    changes: tuple[LimitChange, ...]
    status: str
    moves: int
    solves: int

    def sentences(self) -> list[str]:
        """The advice: each YAML key and value, then how it was checked."""
        return [
            "set " + "; ".join(c.yaml() for c in self.changes),
            f"checked by re-solving with exactly these values: {self.status}, {self.moves} moves "
            f"({self.solves} solves).",
        ]


def _next_value(key: str, value: float) -> float | None:
    """One step looser: the next band or share on the ladder, 1.5x the travel, else off."""
    if key == "max_travel_km":
        return value * 1.5
    steps = BAND_STEPS if key.endswith("_band") else SHARE_STEPS
    return next((s for s in steps if s > value + 1e-12), None)


def relax_until_feasible(scenario, solve, max_rounds: int = MAX_ROUNDS) -> Relaxation | None:
    """Loosen every set limit in RELAXABLE one step per round and re-solve until a plan exists,
    then put back each limit the plan does not need (one more solve each). ``solve(scenario)``
    returns a Plan. None when no tried combination is feasible."""
    original = scenario.limits
    budget = min(scenario.solver.time_limit_s, RESOLVE_TIME_LIMIT_S)
    scenario = replace(scenario, solver=replace(scenario.solver, time_limit_s=budget))
    set_keys = [k for k in RELAXABLE if getattr(original, k) is not None]
    if not set_keys:
        return None
    values = {k: getattr(original, k) for k in set_keys}
    solves, plan = 0, None
    for _ in range(max_rounds):
        values = {k: None if v is None else _next_value(k, v) for k, v in values.items()}
        plan = solve(replace(scenario, limits=replace(original, **values)))
        solves += 1
        if plan.feasible:
            break
    if plan is None or not plan.feasible:
        return None
    for key in set_keys:
        trial = {**values, key: getattr(original, key)}
        if trial == values:
            continue
        again = solve(replace(scenario, limits=replace(original, **trial)))
        solves += 1
        if again.feasible:
            values, plan = trial, again
    changes = tuple(
        LimitChange(k, getattr(original, k), values[k])
        for k in set_keys
        if values[k] != getattr(original, k)
    )
    return Relaxation(changes, plan.status, len(plan.moves), solves)
