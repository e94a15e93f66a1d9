"""Planning scenarios: the manager's limits, weights, locks and rep changes, as typed values.

A scenario is declarative (see docs/matcher.md for the YAML format). ``scenario_from_dict`` turns a
parsed mapping into a frozen ``Scenario`` and rejects unknown keys and out-of-range values with a
message that names the key, the value and the allowed range. Reading the YAML file is the CLI's job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from numbers import Integral
from typing import Any, Literal

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
    end on work counts and ``time_limit_s`` is a work budget the clock may exceed (at most
    10x + 60 s) on a slow or busy machine.
    Set it false for a hard wall-clock limit.

    ``candidates_per_account``: how many of its nearest suitable reps each account may take (plus
    its owner). ``"auto"`` (default) lists every rep of the region while accounts x reps stay
    within ``candidate_pair_budget``, else as many nearest reps as that budget allows, never fewer
    than ``MIN_AUTO_CANDIDATES``; an integer lists exactly that many. Measured on the sample world
    (20k accounts x 60 reps, bench/results/matcher.md): tight bands need the far reps, and with
    every rep listed the +-10% plan went from 93.4% to 95.5% of the oracle's value and from
    about 5 min to under one.
    """

    candidates_per_account: int | Literal["auto"] = "auto"
    candidate_pair_budget: int = 2_000_000
    time_limit_s: float = 60.0
    decompose: Literal["auto", "region", "none"] = "auto"
    max_reps_per_region: int = 250
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
    """Build a Scenario from parsed YAML; raise ScenarioError naming any bad key or value."""
    data = dict(data or {})
    _reject_unknown("scenario", data, _TOP_KEYS)
    limits = _limits(dict(data.get("limits") or {}))
    return Scenario(
        name=str(data.get("name", "default")),
        description=str(data.get("description", "")),
        as_of=_date(data.get("as_of"), "as_of"),
        limits=limits,
        weights=_build(Weights, dict(data.get("weights") or {}), "weights"),
        solver=_build(SolverSettings, dict(data.get("solver") or {}), "solver"),
        locks=tuple(_lock(item, i) for i, item in enumerate(data.get("locks") or [])),
        add_reps=tuple(_new_rep(item, i) for i, item in enumerate(data.get("add_reps") or [])),
        remove_reps=tuple(str(r) for r in data.get("remove_reps") or []),
    )


def _limits(raw: dict[str, Any]) -> Limits:
    band = raw.pop("balance_band", None)
    if band is not None:
        raw.setdefault("workload_band", band)
        raw.setdefault("potential_band", band)
    expertise = raw.pop("expertise", None)
    limits = _build(Limits, raw, "limits")
    for key in ("workload_band", "potential_band", "max_moved_share", "max_moved_potential_share"):
        _check_range(f"limits.{key}", getattr(limits, key), 0.0, 1.0)
    _check_range("limits.max_travel_km", limits.max_travel_km, 0.0, float("inf"))
    if expertise is not None:
        limits = replace(
            limits, expertise=_build(ExpertiseRule, dict(expertise), "limits.expertise")
        )
    return limits


def _build(cls: type, raw: dict[str, Any], where: str):
    names = {f.name for f in fields(cls)}
    _reject_unknown(where, raw, names)
    try:
        return cls(**{k: _cast(v) for k, v in raw.items()})
    except (TypeError, ValueError) as exc:
        raise ScenarioError(
            f"scenario {where}: {exc}. See docs/matcher.md for the format."
        ) from exc


def _cast(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _lock(item: Mapping[str, Any], i: int) -> Lock:
    item = dict(item)
    _reject_unknown(f"locks[{i}]", item, {"account_id", "rep_id", "reason", "expires"})
    for key in ("account_id", "rep_id"):
        if not item.get(key):
            raise ScenarioError(
                f"scenario locks[{i}] has no {key}: {item}. Give both account_id "
                "and rep_id (reason and expires are optional)."
            )
    return Lock(
        str(item["account_id"]),
        str(item["rep_id"]),
        str(item.get("reason", "")),
        _date(item.get("expires"), f"locks[{i}].expires"),
    )


def _new_rep(item: Mapping[str, Any], i: int) -> NewRep:
    item = dict(item)
    item.setdefault("rep_id", f"NEW-{i + 1:03d}")
    rep = _build(
        NewRep,
        {k: str(v) if k in ("rep_id", "name") else v for k, v in item.items()},
        f"add_reps[{i}]",
    )
    if rep.city is None and (rep.latitude is None or rep.longitude is None):
        raise ScenarioError(
            f"scenario add_reps[{i}] ({rep.rep_id}) has no home: give `city` or "
            "both `latitude` and `longitude`."
        )
    return replace(rep, industries=tuple(str(x).strip().lower() for x in rep.industries))


def _date(value: Any, where: str) -> pd.Timestamp | None:
    if value is None or value == "":
        return None
    try:
        return pd.Timestamp(value).normalize()
    except (TypeError, ValueError) as exc:
        raise ScenarioError(
            f"scenario {where}={value!r} is not a date; use ISO 8601 (2025-01-31)."
        ) from exc


def _reject_unknown(where: str, raw: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ScenarioError(
            f"scenario {where} has unknown key(s) {unknown}; allowed: "
            f"{sorted(allowed)}. See docs/matcher.md."
        )


def _check_range(where: str, value: float | None, low: float, high: float) -> None:
    if value is not None and not (low <= float(value) <= high):
        raise ScenarioError(
            f"scenario {where}={value} is outside [{low}, {high}]; "
            "fractions are written 0.05 for 5%."
        )
