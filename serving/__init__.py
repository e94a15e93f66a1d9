"""Territory: serving."""
