"""Runtime settings of the service (environment variables prefixed TERRITORY_).

`territory serve` turns its options into these variables for the server process; the service
builds one ServingSettings in its __init__ and passes plain values down from there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL_URI = "models:/account-potential@champion"

Role = Literal["rep", "manager", "job"]


class ApiKeyEntry(BaseModel):
    """Who holds one API key: a display name, a role and, for reps, their CRM rep_id."""

    name: str
    role: Role
    rep_id: str | None = None


class ServingSettings(BaseSettings):
    """Where the service finds its model, scores, plan and database, and who may call it."""

    model_config = SettingsConfigDict(env_prefix="TERRITORY_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="root of everything Territory writes")
    mlflow_tracking_uri: str | None = Field(
        default=None, description="any MLflow tracking URI; default sqlite:///<data_dir>/mlflow.db"
    )
    model_uri: str = Field(default=DEFAULT_MODEL_URI, description="MLflow URI of the served model")
    crm_source: str | None = Field(
        default=None,
        description="CRM export directory or SQLAlchemy URL (`territory serve --data`)",
    )
    scores_path: Path | None = Field(
        default=None,
        description="output of `territory score` (.parquet or .csv); default <crm>/scores.*",
    )
    plan_dir: Path | None = Field(
        default=None,
        description="a `territory plan --out` directory; default: the newest under plans_root",
    )
    plans_root: Path | None = Field(
        default=None,
        description="directory whose subdirectories are plans; default <crm>/plans and <crm>/plan",
    )
    decisions_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the decisions store; default sqlite:///<data_dir>/decisions.db",
    )
    api_keys: dict[str, ApiKeyEntry] = Field(
        default_factory=dict, description='JSON: {"<key>": {"name": "Maria", "role": "manager"}}'
    )
    api_keys_file: Path | None = Field(default=None, description="JSON file in the api_keys shape")
    cors_origins: list[str] = Field(
        default_factory=list,
        description="CRM origins allowed to call the API from a browser (JSON list)",
    )
    frame_ancestors: list[str] = Field(
        default_factory=list,
        description="origins allowed to embed the widget; default cors_origins",
    )
    hubspot_client_secret: SecretStr | None = Field(
        default=None, description="HubSpot app client secret: enables the signed CRM card endpoint"
    )
    hubspot_max_age_s: int = Field(
        default=300, ge=1, description="reject signed requests older than this"
    )
    hubspot_account_property: str = Field(
        default="territory_account_id",
        description="HubSpot company property holding the account_id",
    )
    public_base_url: str | None = Field(
        default=None, description="https://host as HubSpot calls it (for signatures behind a proxy)"
    )
    predict_threads: int = Field(
        default=1, ge=1, description="LightGBM threads per prediction call"
    )
    plan_preview_time_limit_s: float = Field(default=20.0, gt=0, le=120)
    database_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=120,
        description="connect and statement timeout of the decisions database (PostgreSQL)",
    )
    health_check_s: float = Field(
        default=2.0, gt=0, le=60, description="how often the decisions store is pinged"
    )
    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="largest request body accepted (413 above it); bulk decisions fit easily",
    )

    reload_check_s: float = Field(
        default=60.0,
        ge=0,
        description="how often a new champion, scores file or drift report is looked for "
        "(0: only on POST /reload)",
    )
    scores_max_age_days: float = Field(
        default=7.0, gt=0, description="cards and pages warn when the scores are older than this"
    )
    data_max_age_days: float = Field(
        default=30.0,
        gt=0,
        description="cards and pages warn when the CRM data's latest record is older than this",
    )
    drift_path: Path | None = Field(
        default=None,
        description="drift report of the last `territory retrain`; default "
        "<data_dir>/monitoring/drift.json",
    )

    @property
    def drift_file(self) -> Path:
        return self.drift_path or self.data_dir / "monitoring" / "drift.json"

    @property
    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.data_dir / 'mlflow.db').resolve()}"

    @property
    def database_url(self) -> str:
        if self.decisions_url:
            return self.decisions_url
        return f"sqlite:///{(self.data_dir / 'decisions.db').resolve()}"

    @property
    def embed_origins(self) -> list[str]:
        return self.frame_ancestors or self.cors_origins
