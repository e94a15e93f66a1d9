"""Stable 64-bit hashes of feature rows, exact and as the model's splits see them.

`input_hash` changes whenever any input value changes. `split_hash` changes only when a value
crosses one of the model's split thresholds (or a category or missingness changes): two rows with
the same split hash take the same branch at every node of every tree, so their TreeSHAP
contributions are identical. Day counters (days since the last activity, account age) move every
day but cross a threshold rarely, so the split hash is what lets a daily batch reuse yesterday's
explanations exactly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

# LightGBM treats |x| <= kZeroThreshold as zero (missing, for missing_type=Zero splits): keep that
# band in a bin of its own so no bin straddles it.
_ZERO_BAND = (np.nextafter(-1e-35, -np.inf), 1e-35)
_MISSING_BIN = -1
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, vectorised (uint64 arithmetic wraps, which is what we want)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _seed(names: Sequence[str]) -> np.uint64:
    digest = hashlib.blake2b("\x1f".join(names).encode(), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


def hash_rows(matrix: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """uint64 hash of each row of a float matrix; the column names are part of the hash.

    NaNs hash equal whatever their payload, and -0.0 equals 0.0, so equal values give equal hashes.
    """
    values = np.where(np.isnan(matrix), np.nan, matrix + 0.0)  # canonical NaN, -0.0 -> 0.0
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    with np.errstate(over="ignore"):
        h = np.full(len(matrix), _seed(names), dtype=np.uint64)
        for j in range(bits.shape[1]):
            h = _mix(h ^ _mix(bits[:, j] + np.uint64(j)))
    return h


def hex_digests(hashes: np.ndarray) -> list[str]:
    """16-character hex text of each uint64 hash (JSON- and CSV-safe)."""
    return [f"{h:016x}" for h in hashes.tolist()]


def _walk(node: dict, out: dict[int, set]) -> None:
    while "split_feature" in node:
        threshold = node["threshold"]
        if isinstance(threshold, int | float):
            out.setdefault(node["split_feature"], set()).add(float(threshold))
        _walk(node["left_child"], out)
        node = node["right_child"]


def split_thresholds(model_dump: dict, n_features: int) -> list[np.ndarray]:
    """Sorted numerical split thresholds per feature (plus the zero band) from `dump_model()`."""
    found: dict[int, set] = {}
    for tree in model_dump["tree_info"]:
        _walk(tree["tree_structure"], found)
    return [np.array(sorted(found.get(j, set()) | set(_ZERO_BAND))) for j in range(n_features)]


def split_bins(
    matrix: np.ndarray, thresholds: list[np.ndarray], categorical: Sequence[int]
) -> np.ndarray:
    """Each value's bin between consecutive thresholds; categories keep their code; NaN -> -1.

    LightGBM sends x left at a numerical split when x <= threshold, so bin i holds
    thresholds[i-1] < x <= thresholds[i]: every x in one bin goes the same way at every split.
    """
    bins = np.empty(matrix.shape, dtype=np.float64)
    is_categorical = set(categorical)
    for j in range(matrix.shape[1]):
        column = matrix[:, j]
        placed = (
            column if j in is_categorical else np.searchsorted(thresholds[j], column, side="left")
        )
        bins[:, j] = np.where(np.isnan(column), _MISSING_BIN, placed)
    return bins
