"""Feature values written in the units people use, and catalogue phrases filled in with them."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from models.explain.catalogue import Catalogue, FeatureEntry

TEN_FOLD = math.log(10.0)


def is_missing(value: object) -> bool:
    """True for None, NaN and pandas' NA (a missing feature is never shown as zero)."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN and pd.NA (whose != is NA -> TypeError on bool)
    except TypeError:
        return True


def currency(value: float, symbol: str = "$") -> str:
    """$950, $4.2k, $42k, $1.2M, $3.4B (sign kept)."""
    sign, v = ("-" if value < 0 else ""), abs(value)
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if v >= scale * 0.9995:
            scaled = v / scale
            text = f"{scaled:.1f}" if scaled < 10 else f"{scaled:,.0f}"
            return f"{sign}{symbol}{text.removesuffix('.0')}{suffix}"
    return f"{sign}{symbol}{v:,.0f}"


def count(value: float) -> str:
    """1,200 for whole numbers, one decimal otherwise."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def days(value: float) -> str:
    """A duration: '12 days', '5 months', '3.2 years'."""
    if value < 60:
        n = round(value)
        return "1 day" if n == 1 else f"{n} days"
    if value < 730:
        return f"{round(value / 30.44)} months"
    return f"{value / 365.25:.1f} years"


def growth(log_change: float) -> str:
    """A log change as 'up 12%', 'down 8%', 'flat', 'up more than 10x'."""
    if log_change > TEN_FOLD:
        return "up more than 10x"
    pct = math.expm1(log_change) * 100
    if abs(pct) < 0.5:
        return "flat"
    return f"up {pct:,.0f}%" if pct > 0 else f"down {-pct:,.0f}%"


def ratio(value: float) -> str:
    """3.0x, 12x."""
    return f"{value:.1f}x" if value < 10 else f"{value:,.0f}x"


FORMATS: dict[str, Callable[[float], str]] = {
    "count": count,
    "days": days,
    "ratio": ratio,
    "percent": lambda v: f"{v * 100:.0f}%",
    "growth": growth,
    "flag": lambda v: "yes" if v else "no",
    "km": lambda v: f"{v:,.0f} km",
    "number": lambda v: f"{v:,.3g}",
}


def format_value(unit: str, value: object, currency_symbol: str = "$") -> str:
    """`value` written in `unit` ('' for a missing value)."""
    if is_missing(value):
        return ""
    if unit == "category":
        return str(value)
    if unit == "currency":
        return currency(float(value), currency_symbol)
    return FORMATS[unit](float(value))


def _detail(entry: FeatureEntry, row: Mapping[str, object], catalogue: Catalogue) -> str:
    values = {name: row[name] for name in entry.detail_fields}
    if any(is_missing(v) or v == 0 for v in values.values()):
        return ""
    text = {
        n: format_value(catalogue[n].unit, v, catalogue.currency_symbol) for n, v in values.items()
    }
    return ", " + entry.detail.format(**text)  # type: ignore[union-attr]


def render(
    entry: FeatureEntry, value: object, row: Mapping[str, object], catalogue: Catalogue
) -> str:
    """The entry's phrase for `value`; `row` supplies other features named by the template."""
    if is_missing(value):
        return entry.missing_phrase
    if value == 0 and entry.zero is not None:
        return entry.zero
    if value == 1 and entry.one is not None:
        return entry.one
    if entry.unit == "flag" and value == 0:
        return f"{entry.label[:1].upper()}{entry.label[1:]}: no"
    fields = {"value": format_value(entry.unit, value, catalogue.currency_symbol)}
    for name in entry.template_fields:
        fields[name] = format_value(catalogue[name].unit, row[name], catalogue.currency_symbol)
    phrase = entry.template.format(**fields)
    return phrase + _detail(entry, row, catalogue) if entry.detail else phrase
