"""Rep fit: how much more (or less) a rep is expected to win from an account than an average rep,
learned (``RepFitModel``) or transparent (``fallback_fit``), and the drivers of a move's fit change.
"""

from __future__ import annotations

from models.repfit.drivers import DRIVER_WORDS, DRIVERS, fit_drivers
from models.repfit.learned import FIT_RANGE, RepFitModel, RepFitParams, choose_rep_fit
from models.repfit.transparent import fallback_fit, knows_industry

__all__ = [
    "DRIVERS",
    "DRIVER_WORDS",
    "FIT_RANGE",
    "RepFitModel",
    "RepFitParams",
    "choose_rep_fit",
    "fallback_fit",
    "fit_drivers",
    "knows_industry",
]
