"""The one-paragraph account summary shown in the CRM sidebar, from an account's reasons."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

from models.explain.phrases import currency
from models.potential import TIER_CUTS

MAX_UP_IN_NARRATIVE = 3
RAISING = "Raising it: "
NOTHING_UP = "Nothing raises it above a typical account."
DATED = "Based on CRM data as of "


@lru_cache(maxsize=64)
def tier_description(tier: str) -> str:
    """'top 10%', 'top 30%', ..., 'bottom 40%' for a tier letter of TIER_CUTS."""
    cuts = dict((letter, cut) for cut, letter in TIER_CUTS)
    cut = cuts.get(tier)
    if cut is None:
        return "unranked"
    if cut > 0:
        return f"top {100 - cut:.0f}%"
    above = min(c for c, _ in TIER_CUTS if c > 0)
    return f"bottom {above:.0f}%"


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 97th."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def effect_text(reason: Mapping, objective: str) -> str:
    """'x1.8' for revenue, '+12 pts' for conversion."""
    if objective == "conversion":
        return f"{reason['probability_points']:+.0f} pts"
    return f"x{reason['effect_multiplier']:.2f}"


@lru_cache(maxsize=64)
def horizon_text(horizon_days: int) -> str:
    """'12 months' for 365 days, else whole months or days."""
    months = horizon_days / 30.44
    if abs(months - round(months)) < 0.1 and months >= 1:
        return "12 months" if round(months) == 12 else f"{round(months)} months"
    return f"{horizon_days} days"


def headline(
    tier: str,
    percentile: float,
    potential: float,
    objective: str,
    *,
    currency_symbol: str = "$",
    horizon_days: int = 365,
) -> str:
    """'Tier A (top 10%, 97th percentile): potential $120k of won revenue in the next 12 months.'"""
    place = ordinal(min(99, max(1, int(percentile))))
    rank = f"Tier {tier} ({tier_description(tier)}, {place} percentile)"
    horizon = horizon_text(horizon_days)
    if objective == "conversion":
        return f"{rank}: {potential * 100:.0f}% chance of a won deal in the next {horizon}."
    amount = currency(potential, currency_symbol)
    return f"{rank}: potential {amount} of won revenue in the next {horizon}."


def narrative(head: str, reasons: Sequence[Mapping], as_of: str, objective: str) -> str:
    """Headline, up to 3 reasons up, the main reason down, and the date of the inputs."""
    up = [r for r in reasons if r["direction"] == "up"][:MAX_UP_IN_NARRATIVE]
    down = [r for r in reasons if r["direction"] == "down"][:1]
    parts = [head]
    if up:
        parts.append(
            RAISING + "; ".join(f"{r['phrase']} ({effect_text(r, objective)})" for r in up) + "."
        )
    else:
        parts.append(NOTHING_UP)
    if down:
        parts.append(f"Holding it back: {down[0]['phrase']} ({effect_text(down[0], objective)}).")
    parts.append(f"{DATED}{as_of}.")
    return " ".join(parts)


def rebase_narrative(old: str, head: str, as_of: str) -> str | None:
    """`old` (a narrative() text) with a new headline and date, or None if it is not one."""
    if not isinstance(old, str):
        return None
    starts = [i for i in (old.find(" " + RAISING), old.find(" " + NOTHING_UP)) if i >= 0]
    end = old.rfind(" " + DATED)
    if not starts or end < min(starts):
        return None
    return f"{head}{old[min(starts) : end]} {DATED}{as_of}."
