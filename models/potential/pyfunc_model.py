"""MLflow "model from code" entry point: logging a file path avoids pickling any Python object."""

import mlflow

from models.potential.packaging import PotentialPyfunc

mlflow.models.set_model(PotentialPyfunc())
