"""Rep fit: how much more (or less) a rep is expected to win from an account than an average rep,
learned (``RepFitModel``) or transparent (``fallback_fit``).
"""

from __future__ import annotations

from models.repfit.learned import RepFitModel, RepFitParams, choose_rep_fit
from models.repfit.transparent import fallback_fit

__all__ = ["RepFitModel", "RepFitParams", "choose_rep_fit", "fallback_fit"]
