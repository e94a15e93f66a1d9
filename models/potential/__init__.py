"""Account potential: the LightGBM estimator, its feature matrix, batch scoring and tiers,
evaluation metrics and baselines, MLflow packaging, and account workload.
"""

from __future__ import annotations

from pathlib import Path

from models.potential.baselines import firmographic_rule, last_12_month_revenue, linear_model
from models.potential.behaviour import BehaviourCheck, behaviour_checks
from models.potential.calibration import (
    TOTAL_TOLERANCE,
    TotalCalibration,
    fit_total_calibration,
    scale_log_link_booster,
    total_ratio,
)
from models.potential.estimator import EmptyTrainingSetError, PotentialModel
from models.potential.evaluation import (
    calibration_by_decile,
    capture_at,
    conversion_metrics,
    normalized_gini,
    ranking_metrics,
)
from models.potential.leakage import LeakageError, find_suspects, leakage_message
from models.potential.matrix import check_columns, learn_categories, to_matrix
from models.potential.scoring import TIER_CUTS, percentile_rank, score_frame, tier_of
from models.potential.synthetic_accounts import synthetic_account_features
from models.potential.workload import account_workload, size_workload

PYFUNC_MODEL_FILE = str(Path(__file__).with_name("pyfunc_model.py"))
"""The MLflow "model from code" file logged with every model (nothing is pickled)."""

# MLflow is heavy to import: its packaging helpers load on first use.
_LAZY = {
    "load_potential_model": "models.potential.packaging",
    "write_model_dir": "models.potential.packaging",
}


def __getattr__(name: str):
    """Load the MLflow packaging helpers on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BehaviourCheck",
    "behaviour_checks",
    "PYFUNC_MODEL_FILE",
    "firmographic_rule",
    "last_12_month_revenue",
    "linear_model",
    "EmptyTrainingSetError",
    "LeakageError",
    "TOTAL_TOLERANCE",
    "TotalCalibration",
    "fit_total_calibration",
    "scale_log_link_booster",
    "total_ratio",
    "find_suspects",
    "leakage_message",
    "PotentialModel",
    "TIER_CUTS",
    "account_workload",
    "calibration_by_decile",
    "capture_at",
    "check_columns",
    "conversion_metrics",
    "learn_categories",
    "load_potential_model",
    "normalized_gini",
    "percentile_rank",
    "ranking_metrics",
    "score_frame",
    "size_workload",
    "synthetic_account_features",
    "tier_of",
    "to_matrix",
    "write_model_dir",
]
