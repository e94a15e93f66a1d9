"""Planning scenarios: the manager's limits, weights, locks and rep changes, as typed values.

A scenario is declarative (see docs/matcher.md for the YAML format). ``scenario_from_dict`` turns a
parsed mapping into a frozen ``Scenario`` and rejects unknown keys and out-of-range values with a
message that names the key, the value and the allowed range. Reading the YAML file is the CLI's job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from difflib import get_close_matches
from numbers import Integral
from typing import Any, Literal, get_args, get_origin, get_type_hints

import pandas as pd

from models.errors import TerritoryError

MIN_AUTO_CANDIDATES = 20
"""Fewest candidates per account ``"auto"`` lists on a large region (the issue's sparse K)."""


class ScenarioError(TerritoryError):
    """A scenario file has an unknown key or a value outside its allowed range."""


@dataclass(frozen=True)
class Lock:
    """Keep ``account_id`` with ``rep_id`` until ``expires`` (None: no expiry)."""

    account_id: str
    rep_id: str
    reason: str = ""
    expires: pd.Timestamp | None = None

    def active_on(self, day: pd.Timestamp) -> bool:
        return self.expires is None or day <= self.expires


@dataclass(frozen=True)
class NewRep:
    """A rep the scenario adds (a hire). ``city`` is resolved to coordinates by the plan recipe."""

    rep_id: str
    name: str = ""
    latitude: float | None = None
    longitude: float | None = None
    city: str | None = None
    region: str | None = None
    level: str = "AE"
    industries: tuple[str, ...] = ()
    capacity: float | None = None
    tenure_years: float = 0.0


@dataclass(frozen=True)
class ExpertiseRule:
    """High-potential accounts go only to experienced or industry-matching reps.

    An account is high-potential when its potential is at least ``potential_threshold`` or, if that
    is unset, in the top ``1 - potential_quantile`` share. A rep qualifies with ``min_tenure_years``
    of tenure, or (when ``industry_match``) with the account's industry among its industries.
    """

    potential_threshold: float | None = None
    potential_quantile: float = 0.9
    min_tenure_years: float = 3.0
    industry_match: bool = True


@dataclass(frozen=True)
class Limits:
    """Hard limits; None switches a limit off. Bands are fractions of the mean (0.10 = +-10%)."""

    workload_band: float | None = 0.10
    potential_band: float | None = 0.10
    max_moved_share: float | None = None
    max_moved_potential_share: float | None = None
    max_travel_km: float | None = None
    default_capacity: float | None = None
    expertise: ExpertiseRule | None = None
    budget_grows_to_need: bool = False
    """Raise the disruption budget to what keeping every rep within capacity and bands needs,
    when that is more (models.planning.regions.grown_budget); the plan says by how much."""


@dataclass(frozen=True)
class Weights:
    """Objective weights, in the currency of potential.

    ``travel_cost_per_km``: yearly cost of one km between a rep's base and an account.
    ``continuity_cost_share``: revenue lost when an account changes rep, as a share of its
    potential (published field studies: 13-18% of the account's annual sales).
    ``same_industry_continuity_factor``: multiplier on that loss when the new rep knows the
    account's industry (an assumption: halve it by default).
    """

    travel_cost_per_km: float = 2.0
    continuity_cost_share: float = 0.15
    same_industry_continuity_factor: float = 0.5


@dataclass(frozen=True)
class SolverSettings:
    """How the plan is searched; ``decompose`` splits the plan by region (see docs/matcher.md).

    ``deterministic`` (default) makes the same input give the same plan on any machine: phases
    end on work counts and ``time_limit_s`` is a work budget the clock may exceed on a slow or
    busy machine (at most 10x + 60 s, plus 500 s per million candidate pairs of a region: the
    work itself grows with the region, models.solver.engine.safety_limit_s).
    Set it false for a hard wall-clock limit.

    ``candidates_per_account``: how many of its nearest suitable reps each account may take (plus
    its owner). ``"auto"`` (default) lists every rep of the region while accounts x reps stay
    within ``candidate_pair_budget``, else as many nearest reps as that budget allows, never fewer
    than ``MIN_AUTO_CANDIDATES``; an integer lists exactly that many. Measured on the sample world
    (20k accounts x 60 reps, bench/results/matcher.md): tight bands need the far reps, and with
    every rep listed the +-10% plan went from 93.4% to 95.5% of the oracle's value and from
    about 5 min to under one.

    ``max_accounts_per_region``: when the plan is split by region, a region whose reps own more
    accounts than this, or that balancing fills past it, is split again by where its reps live
    (``Midwest-1``, ``Midwest-2``...).
    Measured on a 300k-account sample world: a 97k-account region's rounding and repair stalled
    (violation 31,300 -> 5,300 after 380 rounds), while a 62k-account part of a geographic split
    reached a feasible plan in 76 rounds (10 s).
    """

    candidates_per_account: int | Literal["auto"] = "auto"
    candidate_pair_budget: int = 2_000_000
    time_limit_s: float = 60.0
    decompose: Literal["auto", "region", "none"] = "auto"
    max_reps_per_region: int = 250
    max_accounts_per_region: int = 50_000
    exact_max_pairs: int = 50_000
    lns_steps: int = 50
    deterministic: bool = True

    def __post_init__(self) -> None:
        k = self.candidates_per_account
        if k != "auto" and (isinstance(k, bool) or not isinstance(k, Integral) or k < 1):
            raise ValueError(f"candidates_per_account={k!r} must be a whole number >= 1 or 'auto'")
        budget = self.candidate_pair_budget
        if isinstance(budget, bool) or not isinstance(budget, Integral) or budget < 1:
            raise ValueError(f"candidate_pair_budget={budget!r} must be a whole number >= 1")

    def candidates_for(self, n_accounts: int, n_reps: int) -> int:
        """Candidates per account for a region of this size (see ``candidates_per_account``)."""
        if self.candidates_per_account != "auto":
            return int(self.candidates_per_account)
        fits = self.candidate_pair_budget // max(n_accounts, 1)
        return int(max(1, min(n_reps, max(MIN_AUTO_CANDIDATES, fits))))


@dataclass(frozen=True)
class Scenario:
    """Everything a plan depends on besides the data."""

    name: str = "default"
    description: str = ""
    as_of: pd.Timestamp | None = None
    limits: Limits = field(default_factory=Limits)
    weights: Weights = field(default_factory=Weights)
    solver: SolverSettings = field(default_factory=SolverSettings)
    locks: tuple[Lock, ...] = ()
    add_reps: tuple[NewRep, ...] = ()
    remove_reps: tuple[str, ...] = ()


_TOP_KEYS = {
    "name",
    "description",
    "as_of",
    "limits",
    "weights",
    "solver",
    "locks",
    "add_reps",
    "remove_reps",
}


def scenario_from_dict(data: Mapping[str, Any] | None) -> Scenario:
    """Build a Scenario from parsed YAML; raise ScenarioError naming every bad key or value.

    Each problem names its key path (``limits.balance_band``), the value, what is allowed and,
    for a misspelled key, the closest allowed one. All problems are reported at once.
    """
    problems: list[str] = []
    if data is not None and not isinstance(data, Mapping):
        raise ScenarioError(
            f"a scenario file must be a mapping of sections (limits:, weights:, ...), not "
            f"{type(data).__name__} {data!r}. See docs/scenarios/default.yaml."
        )
    data = dict(data or {})
    _reject_unknown("", data, _TOP_KEYS, problems)
    limits = _limits(_section(data, "limits", problems), problems)
    scenario = Scenario(
        name=str(data.get("name", "default")),
        description=str(data.get("description", "")),
        as_of=_date(data.get("as_of"), "as_of", problems),
        limits=limits,
        weights=_build(Weights, _section(data, "weights", problems), "weights", problems),
        solver=_build(SolverSettings, _section(data, "solver", problems), "solver", problems),
        locks=tuple(
            _lock(item, i, problems) for i, item in enumerate(_items(data, "locks", problems))
        ),
        add_reps=tuple(
            _new_rep(item, i, problems) for i, item in enumerate(_items(data, "add_reps", problems))
        ),
        remove_reps=tuple(str(r) for r in _items(data, "remove_reps", problems)),
    )
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise ScenarioError(
            f"the scenario has {len(problems)} problem(s):\n{listed}\n"
            "See docs/matcher.md (scenario format) and docs/scenarios/default.yaml."
        )
    return scenario


def _section(data: dict[str, Any], key: str, problems: list[str]) -> dict[str, Any]:
    raw = data.get(key)
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problems.append(f"{key}: expected a mapping of settings, got {raw!r}")
        return {}
    return dict(raw)


def _items(data: dict[str, Any], key: str, problems: list[str]) -> list[Any]:
    raw = data.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(f"{key}: expected a list (one `- ` item per entry), got {raw!r}")
        return []
    return raw


def _limits(raw: dict[str, Any], problems: list[str]) -> Limits:
    band = raw.pop("balance_band", None)
    if band is not None and _number("limits.balance_band", band, 0.0, 1.0, problems):
        raw.setdefault("workload_band", band)
        raw.setdefault("potential_band", band)
    expertise = raw.pop("expertise", None)
    for key in ("workload_band", "potential_band", "max_moved_share", "max_moved_potential_share"):
        if key in raw and not _number(f"limits.{key}", raw[key], 0.0, 1.0, problems):
            raw.pop(key)
    grows = raw.get("budget_grows_to_need")
    if grows is not None and not isinstance(grows, bool):
        problems.append(
            f"limits.budget_grows_to_need={grows!r} is not true or false; write true or false"
        )
        raw.pop("budget_grows_to_need")
    if "max_travel_km" in raw and not _number(
        "limits.max_travel_km", raw["max_travel_km"], 0.0, float("inf"), problems
    ):
        raw.pop("max_travel_km")
    limits = _build(Limits, raw, "limits", problems)
    if expertise is not None:
        if not isinstance(expertise, Mapping):
            problems.append(f"limits.expertise: expected a mapping, got {expertise!r}")
        else:
            rule = _build(ExpertiseRule, dict(expertise), "limits.expertise", problems)
            limits = replace(limits, expertise=rule)
    return limits


def _build(cls: type, raw: dict[str, Any], where: str, problems: list[str]):
    names = {f.name for f in fields(cls)}
    _reject_unknown(where, raw, names, problems)
    hints = get_type_hints(cls)
    kept = {}
    for key, value in raw.items():
        if key not in names:
            continue
        if _numeric(hints[key]) and value is not None and not _is_number(value):
            problems.append(f"{where}.{key}={value!r} is not a number; write a number")
            continue
        kept[key] = _cast(value)
    try:
        return cls(**kept)
    except (TypeError, ValueError) as exc:
        problems.append(f"{where}: {exc}")
        return cls()


def _numeric(annotation: Any) -> bool:
    """Whether a field's type is a plain number (optionally None); fields that also take a word
    (``int | Literal["auto"]``) check themselves."""
    args = set(get_args(annotation)) or {annotation}
    words = any(get_origin(a) is Literal for a in args)
    return bool(args & {int, float}) and str not in args and not words


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(where: str, value: Any, low: float, high: float, problems: list[str]) -> bool:
    """Check a numeric setting; record a problem and return False when it is not one in range."""
    if value is None:
        return True
    if not _is_number(value):
        problems.append(
            f"{where}={value!r} is not a number; allowed {low:g} to {high:g} "
            "(fractions as 0.10 for 10%)"
        )
        return False
    if not low <= float(value) <= high:
        problems.append(
            f"{where}={value} is outside [{low:g}, {high:g}]; fractions are written 0.05 for 5%"
        )
        return False
    return True


def _cast(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _lock(item: Any, i: int, problems: list[str]) -> Lock | None:
    if not isinstance(item, Mapping):
        problems.append(f"locks[{i}]: expected account_id/rep_id, got {item!r}")
        return None
    item = dict(item)
    _reject_unknown(f"locks[{i}]", item, {"account_id", "rep_id", "reason", "expires"}, problems)
    missing = [key for key in ("account_id", "rep_id") if not item.get(key)]
    if missing:
        problems.append(
            f"locks[{i}] has no {' or '.join(missing)}: {item}. Give both account_id and rep_id "
            "(reason and expires are optional)"
        )
        return None
    return Lock(
        str(item["account_id"]),
        str(item["rep_id"]),
        str(item.get("reason", "")),
        _date(item.get("expires"), f"locks[{i}].expires", problems),
    )


def _new_rep(item: Any, i: int, problems: list[str]) -> NewRep | None:
    if not isinstance(item, Mapping):
        problems.append(f"add_reps[{i}]: expected a mapping (rep_id, city, ...), got {item!r}")
        return None
    item = dict(item)
    item.setdefault("rep_id", f"NEW-{i + 1:03d}")
    rep = _build(
        NewRep,
        {k: str(v) if k in ("rep_id", "name") else v for k, v in item.items()},
        f"add_reps[{i}]",
        problems,
    )
    if rep.city is None and (rep.latitude is None or rep.longitude is None):
        problems.append(
            f"add_reps[{i}] ({rep.rep_id}) has no home: give `city` or both `latitude` and "
            "`longitude`"
        )
    return replace(rep, industries=tuple(str(x).strip().lower() for x in rep.industries))


def _date(value: Any, where: str, problems: list[str]) -> pd.Timestamp | None:
    if value is None or value == "":
        return None
    try:
        return pd.Timestamp(value).normalize()
    except (TypeError, ValueError):
        problems.append(f"{where}={value!r} is not a date; use ISO 8601 (2025-01-31)")
        return None


def _reject_unknown(
    where: str, raw: Mapping[str, Any], allowed: set[str], problems: list[str]
) -> None:
    for key in sorted(set(raw) - allowed, key=str):
        close = get_close_matches(str(key), sorted(allowed), n=1, cutoff=0.6)
        hint = f"; did you mean `{close[0]}`?" if close else f"; allowed: {sorted(allowed)}"
        path = f"{where}.{key}" if where else str(key)
        problems.append(f"{path}: unknown key{hint}")
