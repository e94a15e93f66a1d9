"""Domain errors of the models. Each message says what happened, the values and the next step."""

from features.errors import DataContractError, TerritoryError

__all__ = [
    "DataContractError",
    "FeatureMismatchError",
    "InfeasiblePlanError",
    "ModelNotFoundError",
    "TerritoryError",
]


class FeatureMismatchError(TerritoryError):
    """The frame to score does not have the features the model was trained on."""


class ModelNotFoundError(TerritoryError):
    """No registered model matches the requested URI or alias."""


class InfeasiblePlanError(TerritoryError):
    """The scenario's limits cannot all hold at once."""
