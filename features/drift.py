"""Drift between the data a model was trained on and the data it scores now.

Per feature: the population stability index (PSI) over the reference's deciles (missing values
their own bin; categories as they come), the change in missing rate, and categories never seen in
training; the same PSI for the score. Pure functions on frames.

Why not a drift library: evidently 0.7.23 fails to import under our pandas 3.1
(``infer_dtype_from_object`` is gone), nannyml needs lightgbm < 4.6, deepchecks 0.19 fails to
import under scikit-learn 1.9 and frouros pins an older SciPy (measured 2026-12-04 against
requirements.lock; see docs/retraining.md). PSI is a few lines of numpy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

BINS = 10
EPS = 1e-4
PSI_WARN = 0.1
PSI_ALERT = 0.25
MISSING_WARN = 0.1


@dataclass(frozen=True)
class ColumnDrift:
    """Drift of one column: PSI, missing rates, unseen categories and a verdict."""

    column: str
    kind: str
    psi: float
    missing_reference: float
    missing_current: float
    new_categories: tuple[str, ...]
    level: str

    def record(self) -> dict:
        """A JSON-ready dict."""
        out = asdict(self)
        out["new_categories"] = list(self.new_categories)
        return out


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index of two bin-share vectors (smoothed so empty bins count)."""
    ref = np.clip(reference, EPS, None)
    cur = np.clip(current, EPS, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def _shares(codes: np.ndarray, n_bins: int) -> np.ndarray:
    counts = np.bincount(codes, minlength=n_bins).astype(float)
    return counts / max(1.0, counts.sum())


def numeric_psi(reference: pd.Series, current: pd.Series) -> float:
    """PSI over the reference's decile edges; missing values form one more bin."""
    ref = pd.to_numeric(reference, errors="coerce").to_numpy(dtype=float)
    cur = pd.to_numeric(current, errors="coerce").to_numpy(dtype=float)
    known = ref[~np.isnan(ref)]
    edges = np.unique(np.quantile(known, np.linspace(0, 1, BINS + 1)[1:-1])) if len(known) else []
    n_bins = len(edges) + 2  # value bins + missing

    def codes(values: np.ndarray) -> np.ndarray:
        out = np.searchsorted(edges, values, side="right")
        return np.where(np.isnan(values), n_bins - 1, out)

    return psi(_shares(codes(ref), n_bins), _shares(codes(cur), n_bins))


def categorical_psi(reference: pd.Series, current: pd.Series) -> tuple[float, tuple[str, ...]]:
    """PSI over the union of categories (missing is one), and the categories new in current."""
    ref = reference.astype("string").fillna("<missing>")
    cur = current.astype("string").fillna("<missing>")
    levels = sorted(set(ref.unique()) | set(cur.unique()))
    index = {v: i for i, v in enumerate(levels)}
    shares_ref = _shares(ref.map(index).to_numpy(dtype=int), len(levels))
    shares_cur = _shares(cur.map(index).to_numpy(dtype=int), len(levels))
    new = tuple(sorted(set(cur.unique()) - set(ref.unique()) - {"<missing>"}))
    return psi(shares_ref, shares_cur), new


def _level(value: float, missing_change: float, new: tuple[str, ...]) -> str:
    if value >= PSI_ALERT:
        return "alert"
    if value >= PSI_WARN or missing_change >= MISSING_WARN or new:
        return "warning"
    return "stable"


def column_drift(column: str, reference: pd.Series, current: pd.Series) -> ColumnDrift:
    """Drift of one column, numeric or categorical by its dtype."""
    numeric = pd.api.types.is_numeric_dtype(reference) and not pd.api.types.is_bool_dtype(reference)
    if numeric:
        value, new, kind = numeric_psi(reference, current), (), "numeric"
    else:
        (value, new), kind = categorical_psi(reference, current), "categorical"
    miss_ref, miss_cur = float(reference.isna().mean()), float(current.isna().mean())
    level = _level(value, abs(miss_cur - miss_ref), new)
    return ColumnDrift(column, kind, round(value, 6), miss_ref, miss_cur, new, level)


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: list[str],
    *,
    reference_score: np.ndarray | None = None,
    current_score: np.ndarray | None = None,
) -> dict:
    """Drift of every column (and the score, when both are given) as a JSON-ready report.

    ``status`` is the worst level seen; ``warnings`` words each column that is not stable.
    """
    rows = [column_drift(c, reference[c], current[c]) for c in columns if c in current.columns]
    missing = [c for c in columns if c not in current.columns]
    if reference_score is not None and current_score is not None:
        rows.append(column_drift("score", pd.Series(reference_score), pd.Series(current_score)))
    warnings = [_words(r) for r in rows if r.level != "stable"]
    warnings += [f"{c}: missing from the current data" for c in missing]
    levels = [r.level for r in rows] + ["alert"] * len(missing)
    status = "alert" if "alert" in levels else "warning" if "warning" in levels else "stable"
    return {
        "status": status,
        "thresholds": {"psi_warning": PSI_WARN, "psi_alert": PSI_ALERT, "missing": MISSING_WARN},
        "columns": [r.record() for r in rows],
        "missing_columns": missing,
        "warnings": warnings,
    }


def _words(row: ColumnDrift) -> str:
    parts = [f"PSI {row.psi:.2f}"]
    if abs(row.missing_current - row.missing_reference) >= MISSING_WARN:
        parts.append(f"missing {row.missing_reference:.0%} -> {row.missing_current:.0%}")
    if row.new_categories:
        shown = ", ".join(row.new_categories[:5])
        parts.append(f"new categories: {shown}" + (" ..." if len(row.new_categories) > 5 else ""))
    return f"{row.column} ({row.level}): " + "; ".join(parts)


def drift_summary(report: dict, *, worst: int = 5) -> dict:
    """The report in brief: status, the `worst` columns by PSI, thresholds and one line of text."""
    columns = sorted(report.get("columns", []), key=lambda c: -float(c.get("psi", 0.0)))
    top = [
        {"column": c["column"], "psi": round(float(c["psi"]), 4), "level": c["level"]}
        for c in columns[:worst]
    ]
    unstable = [c for c in columns if c.get("level") != "stable"]
    status = report.get("status", "unknown")
    thresholds = report.get("thresholds", {"psi_warning": PSI_WARN, "psi_alert": PSI_ALERT})
    if top:
        head = top[0]
        line = (
            f"drift {status}: {len(unstable)} of {len(columns)} columns not stable; worst "
            f"{head['column']} PSI {head['psi']:.2f} (warning >= {thresholds['psi_warning']}, "
            f"alert >= {thresholds['psi_alert']})"
        )
    else:
        line = f"drift {status}: no columns compared"
    when = report.get("current_as_of")
    if when:
        line += f"; current data as of {when} vs training reference {report.get('reference_as_of')}"
    return {
        "status": status,
        "worst": top,
        "thresholds": thresholds,
        "not_stable": len(unstable),
        "columns": len(columns),
        "warnings": list(report.get("warnings", []))[:10],
        "reference_as_of": report.get("reference_as_of"),
        "current_as_of": when,
        "line": line,
    }
