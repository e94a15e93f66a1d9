"""Promotion gates: a challenger becomes champion only if every gate passes.

Used by ``territory retrain`` and by ``territory train --promote`` (unless ``--force``). The
champion is scored on the challenger's holdout (the newest labelled snapshot), so both are judged
on the same accounts and the same label window. The champion may have seen part of that window in
its own refit, which favours it: the gate errs towards keeping what is served.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.potential import PotentialModel, behaviour_checks, normalized_gini
from training.lineage import Lineage
from training.train import TrainingResult

BASELINES = ("last_12m_revenue", "firmographic_rule", "linear_model")


@dataclass(frozen=True)
class GatePolicy:
    """Thresholds of the gates.

    Attributes:
        max_drop: the challenger's holdout normalised Gini may trail the champion's by at most
            this much (absolute).
        calibration: allowed range of predicted total / actual total on the holdout.
    """

    max_drop: float = 0.01
    calibration: tuple[float, float] = (0.7, 1.3)


@dataclass(frozen=True)
class Gate:
    """One gate's verdict and the numbers behind it."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Champion:
    """The model currently serving: its registered version, the model and its lineage."""

    version: str
    model: PotentialModel
    lineage: Lineage | None


def _metric(result: TrainingResult, model: str) -> float:
    return float(result.comparison.set_index("model").loc[model, "normalized_gini"])


def baseline_gate(result: TrainingResult) -> Gate:
    """The challenger ranks the holdout better than every baseline computed in the same run."""
    ours = _metric(result, "potential_model")
    best_name = max(BASELINES, key=lambda b: _metric(result, b))
    best = _metric(result, best_name)
    return Gate(
        "beats_baselines",
        ours > best,
        f"holdout gini {ours:.3f} vs best baseline {best_name} {best:.3f}",
    )


def validation_gate(result: TrainingResult) -> Gate:
    """The model chosen on the later validation period beat the baselines there too."""
    notes = [w for w in result.warnings if "does not beat the baseline" in w]
    return Gate(
        "beats_baselines_on_validation",
        bool(result.beats_baselines),
        notes[0] if notes else "beat every baseline on the validation period",
    )


def calibration_gate(result: TrainingResult, policy: GatePolicy) -> Gate:
    """Predicted total within the allowed range of the actual total on the holdout."""
    actual = float(result.holdout["label"].sum())
    predicted = float(result.holdout["predicted"].sum())
    if result.config.objective == "conversion":
        actual = float((result.holdout["label"] > 0).sum())
    ratio = predicted / actual if actual > 0 else float("inf")
    low, high = policy.calibration
    return Gate(
        "calibration",
        low <= ratio <= high,
        f"predicted / actual total on the holdout {ratio:.2f} (allowed {low:.2f}-{high:.2f})",
    )


def feature_gate(result: TrainingResult) -> Gate:
    """Every feature the model uses has values in the newest data."""
    frame = result.holdout
    empty = [f for f in result.model.feature_names_ if f not in frame or frame[f].isna().all()]
    return Gate(
        "features_present",
        not empty,
        f"features with no values in the holdout: {empty[:8]}" if empty else "all present",
    )


def behaviour_gate(result: TrainingResult) -> Gate:
    """The served model passes the behavioural checks on real holdout rows."""
    checks = behaviour_checks(result.model, result.holdout)
    failed = [c for c in checks if not c.passed]
    detail = "; ".join(c.detail for c in (failed or checks))
    return Gate("behaviour", not failed, detail)


def champion_gates(
    result: TrainingResult, champion: Champion | None, lineage: Lineage, policy: GatePolicy
) -> list[Gate]:
    """Lineage and metric gates against the current champion (both pass when there is none)."""
    if champion is None:
        return [
            Gate("same_lineage", True, "no champion yet"),
            Gate("not_worse_than_champion", True, "no champion yet"),
        ]
    if champion.lineage is None:
        same = Gate("same_lineage", True, f"champion v{champion.version} records no lineage")
    else:
        same = Gate(
            "same_lineage",
            champion.lineage.data_source == lineage.data_source
            and champion.lineage.feature_set == lineage.feature_set
            and champion.lineage.objective == lineage.objective,
            f"champion v{champion.version}: {champion.lineage.data_source} "
            f"({champion.lineage.feature_set}, {champion.lineage.objective}); challenger: "
            f"{lineage.data_source} ({lineage.feature_set}, {lineage.objective})",
        )
    return [same, _versus_champion(result, champion, policy)]


def _versus_champion(result: TrainingResult, champion: Champion, policy: GatePolicy) -> Gate:
    frame = result.holdout
    missing = [f for f in champion.model.feature_names_ if f not in frame]
    ours = _metric(result, "potential_model")
    if missing:
        return Gate(
            "not_worse_than_champion",
            True,
            f"champion v{champion.version} cannot score today's features (missing {missing[:5]})",
        )
    theirs = normalized_gini(frame["label"].to_numpy(), champion_scores(champion, frame))
    return Gate(
        "not_worse_than_champion",
        ours >= theirs - policy.max_drop,
        f"holdout gini: challenger {ours:.3f}, champion v{champion.version} {theirs:.3f} "
        f"(allowed drop {policy.max_drop:.3f})",
    )


def champion_scores(champion: Champion, frame: pd.DataFrame) -> np.ndarray:
    """The champion's predictions for the rows of ``frame``."""
    return champion.model.predict(frame[champion.model.feature_names_])


def all_gates(
    result: TrainingResult, champion: Champion | None, lineage: Lineage, policy: GatePolicy
) -> list[Gate]:
    """Every gate, in the order they are reported."""
    return [
        baseline_gate(result),
        validation_gate(result),
        *champion_gates(result, champion, lineage, policy),
        calibration_gate(result, policy),
        feature_gate(result),
        behaviour_gate(result),
    ]
