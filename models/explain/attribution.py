"""TreeSHAP contributions turned into business concepts and the units people use.

All functions are vectorised over rows. `contributions` is LightGBM's `pred_contrib` output:
one column per feature in raw units (log for the revenue model, log-odds for conversion) and a
last column holding the base value, so `contributions.sum(axis=1)` is the raw score.

Revenue (log link): a driver with contribution phi multiplies the prediction by exp(phi). To say
it in currency, the gap between the prediction and the baseline exp(base) is split across
drivers in proportion to their contributions (the log-mean Divisia split):

    share_j = phi_j * (exp(base + T) - exp(base)) / T,  T = sum of all phi (limit exp(base) at T=0)

so the shares add up exactly to prediction - exp(base), and any group's share is the sum of its
members'. Conversion: the same proportional split of the calibrated probability gap, in points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.explain.catalogue import Catalogue

# Concepts whose effect is smaller than this in raw units (about 1 % on the prediction for
# revenue, 1 % on the odds for conversion) are noise to a reader and never shown as reasons.
MIN_RAW_EFFECT = 0.01


@dataclass(frozen=True)
class ConceptLayout:
    """Which concept each model feature belongs to, in the catalogue's concept order."""

    concepts: tuple[str, ...]
    member: np.ndarray  # concept index of each feature
    name_rank: np.ndarray  # alphabetical rank of each feature: the deterministic tie-break

    @classmethod
    def build(cls, feature_names: Sequence[str], catalogue: Catalogue) -> ConceptLayout:
        """Layout for a model's features; CatalogueError if any feature lacks an entry."""
        catalogue.require(feature_names)
        concepts = tuple(catalogue.concepts)
        member = np.array(
            [concepts.index(catalogue[f].concept) for f in feature_names], dtype=np.int64
        )
        name_rank = np.argsort(np.argsort(np.asarray(feature_names, dtype=object), kind="stable"))
        return cls(concepts=concepts, member=member, name_rank=name_rank.astype(np.int64))


def _split_scale(total: np.ndarray, gap: np.ndarray, slope_at_zero: np.ndarray) -> np.ndarray:
    """gap / total, with the limit `slope_at_zero` where the total is (numerically) zero."""
    tiny = np.abs(total) < 1e-12
    return np.where(tiny, slope_at_zero, gap / np.where(tiny, 1.0, total))


def revenue_allocation(contributions: np.ndarray) -> np.ndarray:
    """Currency share of each feature (rows x features); rows add up to prediction - exp(base)."""
    phi, base = contributions[:, :-1], contributions[:, -1]
    total = phi.sum(axis=1)
    baseline = np.exp(base)
    scale = _split_scale(total, baseline * np.expm1(total), baseline)
    return phi * scale[:, None]


def probability_allocation(contributions: np.ndarray, calibrator=None) -> np.ndarray:
    """Probability points (0-100) of each feature; rows add up to 100 * (p - p(base))."""
    phi, base = contributions[:, :-1], contributions[:, -1]
    total = phi.sum(axis=1)
    p_base, p = _sigmoid(base), _sigmoid(base + total)
    slope = p_base * (1 - p_base)
    if calibrator is not None:
        p_base, p = np.interp(p_base, *calibrator), np.interp(p, *calibrator)
    return 100.0 * phi * _split_scale(total, p - p_base, slope)[:, None]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def by_concept(per_feature: np.ndarray, layout: ConceptLayout) -> np.ndarray:
    """Sum feature columns (rows x features) into concept columns (rows x concepts)."""
    onehot = np.zeros((len(layout.member), len(layout.concepts)))
    onehot[np.arange(len(layout.member)), layout.member] = 1.0
    return per_feature @ onehot


def leading_features(
    phi: np.ndarray, concept_sums: np.ndarray, layout: ConceptLayout
) -> np.ndarray:
    """Per row and concept, the member feature pushing hardest in the concept's direction.

    Ties go to the alphabetically first feature name.
    """
    lead = np.zeros(concept_sums.shape, dtype=np.int64)
    for c in range(len(layout.concepts)):
        members = np.flatnonzero(layout.member == c)
        if len(members) == 0:
            continue
        members = members[np.argsort(layout.name_rank[members])]
        sub = phi[:, members]
        lead[:, c] = np.where(
            concept_sums[:, c] >= 0, members[sub.argmax(axis=1)], members[sub.argmin(axis=1)]
        )
    return lead


def rank_concepts(
    concept_sums: np.ndarray, lead: np.ndarray, layout: ConceptLayout, k: int, *, upward: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The k strongest concepts in one direction per row: (concept index, shown?) arrays (rows x k).

    Ordered by the size of the effect, ties by the leading feature's name; a slot is shown only
    when its effect reaches MIN_RAW_EFFECT in the asked direction.
    """
    k = min(k, concept_sums.shape[1])
    signed = concept_sums if upward else -concept_sums
    primary = np.where(signed >= MIN_RAW_EFFECT, -signed, np.inf)
    order = np.lexsort((layout.name_rank[lead], primary), axis=-1)[:, :k]
    shown = np.take_along_axis(primary, order, axis=1) < np.inf
    return order, shown


def global_importance(
    contributions: np.ndarray, feature_names: Sequence[str], catalogue: Catalogue
):
    """Managers' view: mean |contribution| and mean contribution per feature, strongest first.

    Columns: feature, concept, mean_abs_contribution, mean_contribution (raw units); ties by name.
    """
    import pandas as pd

    phi = contributions[:, :-1]
    table = pd.DataFrame(
        {
            "feature": list(feature_names),
            "concept": [catalogue[f].concept for f in feature_names],
            "mean_abs_contribution": np.abs(phi).mean(axis=0) if len(phi) else 0.0,
            "mean_contribution": phi.mean(axis=0) if len(phi) else 0.0,
        }
    )
    return table.sort_values(
        ["mean_abs_contribution", "feature"], ascending=[False, True], ignore_index=True
    )
