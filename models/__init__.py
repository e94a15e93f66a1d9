"""Territory: models."""
