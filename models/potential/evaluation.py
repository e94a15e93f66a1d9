"""Ranking and calibration metrics for potential scores (pure functions on arrays)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import brier_score_loss, roc_auc_score


def _order(score: np.ndarray) -> np.ndarray:
    """Indices by descending score; ties broken by position so results are deterministic."""
    return np.lexsort((np.arange(len(score)), -np.asarray(score, dtype=float)))


def capture_at(actual, score, fraction: float) -> float:
    """Share of total `actual` held by the top `fraction` of rows ranked by `score`."""
    actual = np.asarray(actual, dtype=float)
    total = actual.sum()
    if total <= 0:
        return float("nan")
    k = max(1, int(round(fraction * len(actual))))
    return float(actual[_order(score)[:k]].sum() / total)


def gini(actual, score) -> float:
    """Gini of `actual` ordered by `score` (area between the capture curve and the diagonal)."""
    actual = np.asarray(actual, dtype=float)
    if actual.sum() <= 0:
        return float("nan")
    captured = np.cumsum(actual[_order(score)]) / actual.sum()
    return float(captured.mean() - (len(actual) + 1) / (2 * len(actual)))


def normalized_gini(actual, score) -> float:
    """Gini of `score` divided by the Gini of the perfect ranking (1.0 = perfect order)."""
    best = gini(actual, actual)
    return float(gini(actual, score) / best) if best and not np.isnan(best) else float("nan")


def spearman(actual, score) -> float:
    """Spearman rank correlation between `actual` and `score` (NaN when either is constant)."""
    if np.ptp(np.asarray(actual, float)) == 0 or np.ptp(np.asarray(score, float)) == 0:
        return float("nan")
    return float(spearmanr(actual, score).statistic)


def calibration_by_decile(actual, predicted) -> pd.DataFrame:
    """Predicted vs actual totals per decile of the prediction (decile 10 = highest)."""
    predicted = np.asarray(predicted, dtype=float)
    ranks = pd.Series(predicted).rank(method="first")
    decile = np.ceil(ranks / len(predicted) * 10).clip(1, 10).astype(int)
    frame = pd.DataFrame(
        {"decile": decile, "predicted": predicted, "actual": np.asarray(actual, float)}
    )
    table = frame.groupby("decile").agg(
        accounts=("actual", "size"), predicted=("predicted", "sum"), actual=("actual", "sum")
    )
    table["ratio"] = table["predicted"] / table["actual"].replace(0, np.nan)
    return table.reset_index()


def ranking_metrics(actual, score) -> dict[str, float]:
    """capture_top10, capture_top20, normalized_gini and spearman of one score."""
    return {
        "capture_top10": capture_at(actual, score, 0.10),
        "capture_top20": capture_at(actual, score, 0.20),
        "normalized_gini": normalized_gini(actual, score),
        "spearman": spearman(actual, score),
    }


def conversion_metrics(actual, probability) -> dict[str, float]:
    """AUC and Brier score of a win probability against whether any revenue was won."""
    won = (np.asarray(actual, dtype=float) > 0).astype(int)
    if won.min() == won.max():
        return {"auc": float("nan"), "brier": float(brier_score_loss(won, probability))}
    return {
        "auc": float(roc_auc_score(won, probability)),
        "brier": float(brier_score_loss(won, probability)),
    }
