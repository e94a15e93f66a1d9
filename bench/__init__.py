"""Benchmarks (not timed tests): `python -m bench.<name>` writes tables to bench/results/."""
