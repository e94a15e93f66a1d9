"""Exact TreeSHAP for many rows: LightGBM's own pred_contrib, once per tree and decision pattern.

A row's path-dependent TreeSHAP values for one tree depend only on which way the row goes at each
of that tree's splits (its decision pattern), and a model's values are the sum over its trees.
A shallow tree has few patterns (at most 2^6 for 7 leaves), so instead of running TreeSHAP for
every row and tree, this groups the rows of each tree by pattern, asks LightGBM's
`predict(pred_contrib=True, start_iteration=t, num_iteration=1)` for one row per pattern, and
hands every row its pattern's values. The result equals `pred_contrib` on all rows (to float
rounding, ~1e-15; tests check 1e-9) at roughly the cost of a prediction.

Decisions follow LightGBM's `Tree::NumericalDecision` / `CategoricalDecision`: a numerical split
sends x left when x <= threshold, except missing values (NaN for missing_type NaN, |x| <= 1e-35
for missing_type Zero, NaN read as 0 otherwise) which take the default side; a categorical split
sends x left when int(x) is in its category list, and NaN or negative x right.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np

ZERO_THRESHOLD = 1e-35  # LightGBM's kZeroThreshold
DIRECT_INDEX_MAX_SPLITS = 16  # up to 2^16 patterns: index arrays instead of sorting
# LightGBM's predict sets the booster's iteration range for the duration of the call
# (GBDT::InitPredict), so two threads asking one booster for different trees would get each
# other's trees. The calls are tiny (a few rows), so serialising them costs little.
_PREDICT_LOCK = threading.Lock()


@dataclass(frozen=True)
class Split:
    """One internal node: feature column, rule and missing-value handling."""

    feature: int
    threshold: float
    categories: np.ndarray | None  # categorical split: codes that go left
    default_left: bool
    missing_type: str  # "None", "Zero" or "NaN"


@dataclass(frozen=True)
class TreeSplits:
    """A tree's internal nodes and the output columns its contributions can touch."""

    index: int
    splits: tuple[Split, ...]
    columns: np.ndarray  # features used by the tree, then the base-value column


def _collect(node: dict, out: list[Split]) -> None:
    while "split_index" in node:
        threshold = node["threshold"]
        categorical = node["decision_type"] == "=="
        out.append(
            Split(
                feature=int(node["split_feature"]),
                threshold=float("nan") if categorical else float(threshold),
                categories=np.array([int(c) for c in str(threshold).split("||")])
                if categorical
                else None,
                default_left=bool(node["default_left"]),
                missing_type=str(node["missing_type"]),
            )
        )
        _collect(node["left_child"], out)
        node = node["right_child"]


def tree_splits(dump: dict) -> list[TreeSplits]:
    """The split layout of every tree in `booster.dump_model(...)` (one output per iteration)."""
    n_features = len(dump["feature_names"])
    layouts = []
    for tree in dump["tree_info"]:
        splits: list[Split] = []
        _collect(tree["tree_structure"], splits)
        used = sorted({s.feature for s in splits})
        layouts.append(
            TreeSplits(int(tree["tree_index"]), tuple(splits), np.array([*used, n_features]))
        )
    return layouts


def goes_left(split: Split, column: np.ndarray, nan: np.ndarray | None = None) -> np.ndarray:
    """LightGBM's decision at `split` for every value of `column` (True = left child)."""
    nan = np.isnan(column) if nan is None else nan
    if split.categories is not None:
        valid = ~nan & (column >= 0)
        codes = np.trunc(np.where(valid, column, -1.0)).astype(np.int64)
        return valid & np.isin(codes, split.categories)
    with np.errstate(invalid="ignore"):
        left = column <= split.threshold  # NaN compares False
    if split.missing_type == "NaN":
        missing = nan
    elif split.missing_type == "Zero":
        missing = nan | (np.abs(column) <= ZERO_THRESHOLD)
    else:  # NaN is read as 0.0
        if nan.any():
            left[nan] = split.threshold >= 0.0
        return left
    if missing.any():
        left[missing] = split.default_left
    return left


def pattern_codes(decisions: list[np.ndarray]) -> np.ndarray:
    """Each row's decisions packed into an integer (bit k = went left at split k); <= 63 splits."""
    dtype = np.uint8 if len(decisions) <= 8 else np.uint16 if len(decisions) <= 16 else np.uint64
    code = np.zeros(len(decisions[0]) if decisions else 0, dtype=dtype)
    for k, left in enumerate(decisions):
        code |= left.astype(dtype) << dtype(k)
    return code


def group_patterns(decisions: list[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """(first row of each distinct decision pattern, pattern number of every row)."""
    if len(decisions) <= DIRECT_INDEX_MAX_SPLITS:
        code = pattern_codes(decisions) if decisions else np.zeros(n, dtype=np.uint8)
        first = np.full(1 << len(decisions), -1, dtype=np.int64)
        first[code[::-1]] = np.arange(n - 1, -1, -1)  # the last write is the first occurrence
        present = np.flatnonzero(first >= 0)
        slot = np.empty(len(first), dtype=np.int64)
        slot[present] = np.arange(len(present))
        return first[present], slot[code]
    packed = np.ascontiguousarray(np.packbits(np.column_stack(decisions), axis=1))
    keys = packed.view(np.dtype((np.void, packed.shape[1])))[:, 0]
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return first, inverse.ravel()


def contributions(
    booster: lgb.Booster, matrix: np.ndarray, layouts: list[TreeSplits]
) -> np.ndarray:
    """pred_contrib of `matrix` (rows x features+1) computed once per tree and decision pattern."""
    n, n_features = matrix.shape
    out = np.zeros((n_features + 1, n))  # feature-major: each tree adds whole contiguous rows
    if n == 0:
        return out.T
    columns = np.asfortranarray(matrix)  # contiguous feature columns
    nan = {j: np.isnan(columns[:, j]) for j in {int(j) for t in layouts for j in t.columns[:-1]}}
    for tree in layouts:
        decisions = [goes_left(s, columns[:, s.feature], nan[s.feature]) for s in tree.splits]
        first, pattern = group_patterns(decisions, n)
        # One thread: a handful of rows per call, where OpenMP start-up (~10 ms on a busy box)
        # would cost more than the TreeSHAP itself (~35 us per call single-threaded).
        with _PREDICT_LOCK:
            table = booster.predict(
                matrix[first],
                start_iteration=tree.index,
                num_iteration=1,
                pred_contrib=True,
                num_threads=1,
            )
        for column in tree.columns:
            out[column] += table[:, column][pattern]
    return out.T
