"""What the explainer derives once per fitted model and reuses across calls (and threads)."""

from __future__ import annotations

import hashlib
import json
import threading
import weakref
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np

from models.explain import pattern_shap, row_hash
from models.potential import PotentialModel


@dataclass(frozen=True)
class PreparedModel:
    """A fitted model's fingerprint, tree splits, split thresholds and a private booster copy.

    The copy matters: pattern_shap asks LightGBM for one tree at a time, and LightGBM keeps the
    asked iteration range on the booster during the call, so sharing the model's own booster
    with other callers (a service predicting at the same time) would hand them the wrong trees.
    """

    fingerprint: str
    booster: lgb.Booster | None
    trees: list[pattern_shap.TreeSplits]
    thresholds: list[np.ndarray]
    categorical: list[int]


def model_fingerprint(model: PotentialModel) -> str:
    """12 hex characters naming the fitted model (trees, iteration, categories, calibrator)."""
    state = model.to_state()
    state.pop("params")
    return hashlib.sha256(json.dumps(state, sort_keys=True, default=list).encode()).hexdigest()[:12]


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def _build(model: PotentialModel) -> PreparedModel:
    categorical = [j for j, n in enumerate(model.feature_names_) if n in model.categories_]
    if model.booster_ is None:
        return PreparedModel(model_fingerprint(model), None, [], [], categorical)
    dump = model.booster_.dump_model(num_iteration=model.best_iteration_)
    return PreparedModel(
        fingerprint=model_fingerprint(model),
        booster=lgb.Booster(model_str=model.booster_.model_to_string()),
        trees=pattern_shap.tree_splits(dump),
        thresholds=row_hash.split_thresholds(dump, len(model.feature_names_)),
        categorical=categorical,
    )


def prepare(model: PotentialModel) -> PreparedModel:
    """The PreparedModel of `model`, built on first use and kept while the model lives.

    Refitting the model (a new booster or best iteration) rebuilds it.
    """
    key = (id(model.booster_), model.best_iteration_)
    with _CACHE_LOCK:
        cached = _CACHE.get(model)
        if cached is not None and cached[0] == key:
            return cached[1]
        prepared = _build(model)
        _CACHE[model] = (key, prepared)
        return prepared
