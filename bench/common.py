"""What several benchmarks share: the default sample world they measure on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DEFAULT_WORLD = Path("data/bench_world")
DEFAULT_WORLD_ARGS = ("--accounts", "20000", "--reps", "60", "--years", "3", "--seed", "7")


def ensure_default_world(world: Path = DEFAULT_WORLD, seed: int = 7) -> Path:
    """Write the default sample world (20k accounts, 60 reps, 3 years, seed 7; another ``seed``
    for a robustness check) unless it exists."""
    if not world.exists():
        exe = Path(sys.executable).parent / "territory"
        args = [*DEFAULT_WORLD_ARGS[:-1], str(seed)]
        subprocess.run([str(exe), "sample", *args, "--out", str(world)], check=True)
    return world
