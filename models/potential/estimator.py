"""PotentialModel: a scikit-learn-compatible LightGBM estimator of account potential.

Two objectives:
- ``revenue``: next-horizon won revenue. Tweedie loss (log link): the target is zero for most
  accounts and a skewed positive amount for the rest, which is the compound Poisson-gamma shape
  Tweedie models directly; the log link also makes every SHAP contribution a multiplicative effect.
- ``conversion``: whether the account closes any won deal in the horizon. Binary log loss, then an
  isotonic calibration fitted on the (later in time) validation fold when one is given.

Threads: ``num_threads=1`` by default. On this 2-core class of machine LightGBM with 2 OpenMP
threads ran 7-15x slower than with 1 whenever any other process was busy (measured: 200 trees on
57k rows, 3.5 s with 1 thread vs 23-52 s with 2); pass 0 (all cores) on a dedicated machine.
Prediction and contributions take a per-call ``num_threads`` too, and ``from_model_uri`` pins it
on a loaded model: a serving worker predicts with 1 thread whatever the model was trained with.
"""

from __future__ import annotations

from collections.abc import Sequence

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.isotonic import IsotonicRegression

from models.errors import TerritoryError
from models.potential.matrix import check_columns, learn_categories, to_matrix

OBJECTIVES = ("revenue", "conversion")


class EmptyTrainingSetError(TerritoryError, ValueError):
    """fit() got no rows or no columns."""


class PotentialModel(RegressorMixin, BaseEstimator):
    """LightGBM potential model over any frame of numeric and categorical columns.

    Learned attributes: ``booster_``, ``feature_names_``, ``categories_``, ``best_iteration_``,
    ``constant_`` (set instead of a booster when the target is constant), ``calibrator_``
    (isotonic map as (raw scores, probabilities) knots, conversion only).
    """

    def __init__(
        self,
        objective: str = "revenue",
        *,
        n_estimators: int = 400,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        max_depth: int = 6,
        min_child_samples: int = 40,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        tweedie_variance_power: float = 1.3,
        monotone_increasing: Sequence[str] = (),
        early_stopping_rounds: int = 50,
        feature_set: str = "custom",
        random_state: int = 7,
        num_threads: int = 1,
    ) -> None:
        self.objective = objective
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.tweedie_variance_power = tweedie_variance_power
        self.monotone_increasing = monotone_increasing
        self.early_stopping_rounds = early_stopping_rounds
        self.feature_set = feature_set
        self.random_state = random_state
        self.num_threads = num_threads

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y, eval_set: tuple[pd.DataFrame, object] | None = None):
        """Learn from X (DataFrame) and y; early-stop on `eval_set` (a later-in-time fold)."""
        y_arr = self._check_fit_inputs(X, y)
        self.feature_names_ = [str(c) for c in X.columns]
        self.n_features_in_ = len(self.feature_names_)
        self.categories_ = learn_categories(X)
        self.calibrator_ = None
        self.booster_ = None
        self.best_iteration_ = 0
        if np.all(y_arr == y_arr[0]):
            self.constant_ = float(y_arr[0])
            return self
        self.constant_ = None
        train = self._dataset(X, y_arr)
        callbacks = [lgb.log_evaluation(0)]
        valid_sets = []
        if eval_set is not None:
            X_val, y_val = eval_set
            valid_sets = [self._dataset(X_val, self._target(np.asarray(y_val, float)), train)]
            callbacks.append(lgb.early_stopping(self.early_stopping_rounds, verbose=False))
        self.booster_ = lgb.train(
            self._lgb_params(), train, self.n_estimators, valid_sets=valid_sets, callbacks=callbacks
        )
        self.best_iteration_ = self.booster_.best_iteration or self.booster_.current_iteration()
        if self.objective == "conversion" and eval_set is not None:
            raw = self.booster_.predict(
                self._matrix(eval_set[0]),
                num_iteration=self.best_iteration_,
                num_threads=self.num_threads,
            )
            iso = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1)
            iso.fit(raw, self._target(np.asarray(eval_set[1], float)))
            self.calibrator_ = (iso.X_thresholds_.tolist(), iso.y_thresholds_.tolist())
        return self

    def _check_fit_inputs(self, X: pd.DataFrame, y) -> np.ndarray:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective={self.objective!r}; choose one of {OBJECTIVES}")
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"X must be a pandas DataFrame, got {type(X).__name__}")
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise EmptyTrainingSetError(
                f"cannot fit on an empty frame ({X.shape[0]} rows x {X.shape[1]} columns); "
                "check the as_of date and that the export has accounts created before it."
            )
        y_arr = np.asarray(y, dtype=float)
        if y_arr.shape[0] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows but y has {y_arr.shape[0]}")
        if np.isnan(y_arr).any() or (y_arr < 0).any():
            raise ValueError("y must be non-negative with no missing values (won revenue or 0/1)")
        return self._target(y_arr)

    def _target(self, y: np.ndarray) -> np.ndarray:
        return (y > 0).astype(float) if self.objective == "conversion" else y

    def _lgb_params(self) -> dict:
        monotone = [
            1 if name in set(self.monotone_increasing) else 0 for name in self.feature_names_
        ]
        params = {
            "objective": "tweedie" if self.objective == "revenue" else "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "min_child_samples": self.min_child_samples,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1 if self.subsample < 1 else 0,
            "feature_fraction": self.colsample_bytree,
            "lambda_l2": self.reg_lambda,
            "monotone_constraints": monotone,
            "monotone_constraints_method": "advanced",
            "seed": self.random_state,
            "deterministic": True,
            "num_threads": self.num_threads,
            "verbosity": -1,
        }
        if self.objective == "revenue":
            params["tweedie_variance_power"] = self.tweedie_variance_power
        return params

    def _dataset(self, X: pd.DataFrame, y: np.ndarray, reference=None) -> lgb.Dataset:
        cat_idx = [i for i, n in enumerate(self.feature_names_) if n in self.categories_]
        return lgb.Dataset(
            self._matrix(X),
            y,
            feature_name=self.feature_names_,
            categorical_feature=cat_idx,
            reference=reference,
            free_raw_data=False,
            params={"verbosity": -1},
        )

    # -- prediction ------------------------------------------------------------------------
    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        check_columns(X, self.feature_names_, self.feature_set)
        return to_matrix(X, self.feature_names_, self.categories_)

    def _threads(self, num_threads: int | None) -> int:
        return self.num_threads if num_threads is None else num_threads

    def predict_matrix(
        self, matrix: np.ndarray, *, raw_score: bool = False, num_threads: int | None = None
    ) -> np.ndarray:
        """Predict from a matrix already in model column order (the fast, DataFrame-free path).

        Args:
            num_threads: LightGBM threads for this call (default: the model's ``num_threads``).
        """
        if self.constant_ is not None:
            return np.full(matrix.shape[0], self.constant_)
        out = self.booster_.predict(
            matrix,
            num_iteration=self.best_iteration_,
            raw_score=raw_score,
            num_threads=self._threads(num_threads),
        )
        if self.calibrator_ is not None and not raw_score:
            out = np.interp(out, *self.calibrator_)
        return out

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Expected revenue (revenue) or calibrated probability of a win (conversion)."""
        return self.predict_matrix(self._matrix(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """[P(no win), P(win)] per row; conversion objective only."""
        if self.objective != "conversion":
            raise AttributeError("predict_proba is only available for objective='conversion'")
        p = self.predict(X)
        return np.column_stack([1 - p, p])

    def contributions(
        self, X: pd.DataFrame | np.ndarray, *, num_threads: int | None = None
    ) -> np.ndarray:
        """Exact TreeSHAP contributions in raw (log-odds / log) units; last column = base value.

        Args:
            num_threads: LightGBM threads for this call (default: the model's ``num_threads``).
        """
        matrix = X if isinstance(X, np.ndarray) else self._matrix(X)
        if self.constant_ is not None:
            out = np.zeros((matrix.shape[0], len(self.feature_names_) + 1))
            out[:, -1] = np.log(self.constant_) if self.constant_ > 0 else -np.inf
            return out
        return self.booster_.predict(
            matrix,
            num_iteration=self.best_iteration_,
            pred_contrib=True,
            num_threads=self._threads(num_threads),
        )

    # -- serialisation (pure: text in, text out; packaging.py does the file and MLflow work) ----
    def to_state(self) -> dict:
        """Everything needed to rebuild the fitted model, as JSON-compatible data."""
        return {
            "params": self.get_params(),
            "feature_names": self.feature_names_,
            "categories": self.categories_,
            "best_iteration": self.best_iteration_,
            "constant": self.constant_,
            "calibrator": self.calibrator_,
            "booster": self.booster_.model_to_string() if self.booster_ is not None else None,
        }

    @classmethod
    def from_state(cls, state: dict) -> PotentialModel:
        """Rebuild a fitted model from `to_state()` output."""
        params = dict(state["params"])
        params["monotone_increasing"] = tuple(params.get("monotone_increasing", ()))
        model = cls(**params)
        model.feature_names_ = list(state["feature_names"])
        model.n_features_in_ = len(model.feature_names_)
        model.categories_ = {k: list(v) for k, v in state["categories"].items()}
        model.best_iteration_ = int(state["best_iteration"])
        model.constant_ = state["constant"]
        model.calibrator_ = tuple(state["calibrator"]) if state["calibrator"] else None
        booster = state["booster"]
        model.booster_ = lgb.Booster(model_str=booster) if booster is not None else None
        return model

    @classmethod
    def from_model_uri(cls, model_uri: str, *, num_threads: int | None = None) -> PotentialModel:
        """Load a model logged by `territory train` from an MLflow URI (models:/NAME@ALIAS,
        models:/NAME/VERSION, runs:/ID/model); ModelNotFoundError names the URI and the fix.

        Args:
            num_threads: LightGBM threads for every later call (serving passes 1); default: the
                value the model was trained with.
        """
        from models.potential.packaging import read_model_uri  # MLflow loads only when needed

        model = read_model_uri(model_uri)
        if num_threads is not None:
            model.set_params(num_threads=num_threads)
        return model
