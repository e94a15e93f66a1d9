"""Runtime settings for the CLI and jobs (environment variables prefixed TERRITORY_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MODEL_NAME = "account-potential"


class TrainingSettings(BaseSettings):
    """Where data, MLflow runs and registered models live. Embedded (SQLite + files) by default."""

    model_config = SettingsConfigDict(env_prefix="TERRITORY_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="root of everything Territory writes")
    mlflow_tracking_uri: str | None = Field(
        default=None,
        # TERRITORY_ first, then MLflow's own variable; default sqlite:///<data_dir>/mlflow.db
        validation_alias=AliasChoices("TERRITORY_MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI"),
        description="any MLflow tracking URI; default sqlite:///<data_dir>/mlflow.db",
    )
    mlflow_experiment: str = "territory"
    model_name: str = MODEL_NAME

    @property
    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.data_dir / 'mlflow.db').resolve()}"

    @property
    def artifact_location(self) -> str:
        return (self.data_dir / "mlartifacts").resolve().as_uri()
