"""Figures logged with every training run (returned as matplotlib figures; the caller saves
them)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def calibration_figure(calibration: pd.DataFrame):
    """Predicted vs actual revenue per decile of the prediction."""
    fig, ax = plt.subplots(figsize=(6, 4))
    x = calibration["decile"].to_numpy()
    ax.bar(x - 0.2, calibration["predicted"], width=0.4, label="predicted")
    ax.bar(x + 0.2, calibration["actual"], width=0.4, label="actual")
    ax.set(
        xlabel="decile of predicted potential (10 = highest)",
        ylabel="revenue in horizon",
        title="Calibration by decile (holdout)",
    )
    ax.legend()
    fig.tight_layout()
    return fig


CURVE_POINTS = 2001


def capture_figure(actual: np.ndarray, scores: dict[str, np.ndarray]):
    """Cumulative share of actual revenue captured by the top x% of accounts, per score."""
    fig, ax = plt.subplots(figsize=(6, 4))
    actual = np.asarray(actual, dtype=float)
    share = np.arange(1, len(actual) + 1) / len(actual)
    # drawn through at most ~2,000 points: a line (and the legend's placement) over every one of
    # a 1M-account holdout took minutes of the run's MLflow logging
    shown = np.unique(np.linspace(0, len(actual) - 1, CURVE_POINTS).astype(int))
    for name, score in scores.items():
        order = np.lexsort((np.arange(len(score)), -np.asarray(score, float)))
        captured = np.cumsum(actual[order]) / actual.sum()
        ax.plot(np.r_[0.0, share[shown]], np.r_[0.0, captured[shown]], label=name)
    ax.plot([0, 1], [0, 1], ls=":", color="grey", label="random")
    ax.axvline(0.2, color="grey", lw=0.5)
    ax.set(
        xlabel="share of accounts (ranked by score)",
        ylabel="share of revenue captured",
        title="Capture curve (holdout)",
    )
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def shap_summary_figure(contributions: np.ndarray, features: pd.DataFrame, max_display: int = 15):
    """SHAP beeswarm of the model's own TreeSHAP contributions (last column = base value)."""
    import shap

    numeric = features.apply(lambda c: pd.factorize(c)[0] if c.dtype.kind not in "fiub" else c)
    shap.summary_plot(
        contributions[:, :-1],
        numeric.astype(float),
        feature_names=list(features.columns),
        max_display=max_display,
        show=False,
    )
    fig = plt.gcf()
    fig.tight_layout()
    return fig


def top_shap_features(contributions: np.ndarray, names, k: int = 3) -> list[str]:
    """The k features with the largest mean |SHAP contribution| (ties by name)."""
    strength = np.abs(contributions[:, :-1]).mean(axis=0)
    order = sorted(range(len(strength)), key=lambda j: (-strength[j], str(names[j])))
    return [str(names[j]) for j in order[:k]]


def shap_dependence_figure(contributions: np.ndarray, features: pd.DataFrame, feature: str):
    """One feature's value against its SHAP contribution; missing values drawn apart at the left."""
    j = list(features.columns).index(feature)
    values, effect = features[feature], contributions[:, j]
    fig, ax = plt.subplots(figsize=(6, 4))
    missing = values.isna().to_numpy()
    if values.dtype.kind in "fiub":
        x = values.to_numpy(dtype=float)
    else:
        codes, labels = pd.factorize(values, sort=True)
        x = codes.astype(float)
        ticks = [str(v) for v in labels]
        ax.set_xticks(range(len(labels)), ticks, rotation=45, ha="right", fontsize=7)
    ax.scatter(x[~missing], effect[~missing], s=6, alpha=0.4, label="observed")
    if missing.any():
        seen = x[~missing]
        left = seen.min() - 0.05 * (np.ptp(seen) or 1.0) if len(seen) else 0.0
        ax.scatter(
            np.full(missing.sum(), left),
            effect[missing],
            s=6,
            alpha=0.4,
            color="grey",
            marker="x",
            label=f"missing ({missing.sum()})",
        )
    ax.axhline(0, color="grey", lw=0.5)
    ax.set(
        xlabel=feature, ylabel="SHAP contribution (raw score units)", title=f"Dependence: {feature}"
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
