"""Progress of a long CLI step: a start line with an estimate, a line every few seconds with the
elapsed time against it, and the time it took (plain lines, readable in a log)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from training.cli.demo_output import estimate_s, progress_line

TICK_S = 15.0


@contextmanager
def ticking(
    step: str, accounts: int, say: Callable[[str], None] | None = None, every_s: float = TICK_S
) -> Iterator[None]:
    """Announce `step` with its estimate for `accounts`, tick every `every_s`, report the time."""
    if say is None:
        from training.cli.console import console

        def say(line: str) -> None:
            console.print(line, soft_wrap=True, highlight=False, markup=False)

    estimate = estimate_s(step, accounts)
    say(f"{step}: {accounts:,} accounts, estimate ~{estimate:.0f} s on 2 cores")
    start, done = time.perf_counter(), threading.Event()

    def tick() -> None:
        while not done.wait(every_s):
            say(progress_line(step, time.perf_counter() - start, estimate))

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=1)
    say(f"{step}: done in {time.perf_counter() - start:.0f} s (estimate ~{estimate:.0f} s)")
