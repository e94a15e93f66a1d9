"""Settings of the CRM integrations (TERRITORY_ variables), kept apart from ServingSettings so the
CRM pieces can grow without touching the service's own settings. Built once per service."""

from __future__ import annotations

import secrets

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class CrmSettings(BaseSettings):
    """Who may sign in from a CRM, how long a widget token lives, what the card shows."""

    model_config = SettingsConfigDict(env_prefix="TERRITORY_", env_file=".env", extra="ignore")

    widget_token_secret: SecretStr | None = Field(
        default=None,
        description="HMAC key of the widget tokens; set it (same value) on every replica. "
        "Default: random per process, so tokens die with a restart.",
    )
    widget_token_ttl_s: int = Field(
        default=900, ge=30, le=86_400, description="how long a widget token opens the widget"
    )
    hubspot_portal_ids: list[str] = Field(
        default_factory=list,
        description="HubSpot portal (account) ids allowed to call the card; empty = any portal "
        "whose request carries a valid signature (JSON list)",
    )
    card_currency: str = Field(
        default="USD", pattern=r"^[A-Z]{3}$", description="ISO 4217 code of the potential"
    )
    salesforce_canvas_secret: SecretStr | None = Field(
        default=None, description="consumer secret of the Salesforce connected app (Canvas)"
    )

    def token_secret(self) -> bytes:
        """The token key: the setting, else one random key for this settings object."""
        if self.widget_token_secret is not None:
            return self.widget_token_secret.get_secret_value().encode()
        if not hasattr(self, "_random_secret"):
            object.__setattr__(self, "_random_secret", secrets.token_bytes(32))
        return self._random_secret  # type: ignore[attr-defined]
