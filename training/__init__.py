"""Territory: training."""
