"""Territory: features."""
