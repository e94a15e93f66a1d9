"""generate_world: config in, contract tables and hidden truth out (pure, seeded)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from features.sample_world.accounts import DAYS_PER_YEAR, draw_accounts
from features.sample_world.config import SampleConfig, WorldParams, check_config
from features.sample_world.frames import WHOLE, IdStart, crm_tables, id_series
from features.sample_world.history import month_bounds, simulate_history
from features.sample_world.places import us_cities
from features.sample_world.truth import Truth, build_truth
from features.tables import CrmTables

ProgressCallback = Callable[[str, int, int], None]
"""Called as (stage, completed, total) while a world is generated."""

STAGES = ("accounts", "history", "tables", "truth")


@dataclass(frozen=True)
class SampleWorld:
    """A generated CRM export and the truth behind it."""

    config: SampleConfig
    params: WorldParams
    tables: CrmTables
    truth: Truth


def history_window(config: SampleConfig) -> tuple[int, int]:
    """(first day, last day) of history as days since 1970-01-01: `years` years up to end_date."""
    end_day = int(np.datetime64(config.end_date, "D").astype(np.int64))
    end = np.datetime64(config.end_date, "D")
    start = (end.astype("datetime64[M]") - 12 * config.years + 1).astype("datetime64[D]")
    return int(start.astype(np.int64)), end_day


def generate_world(
    config: SampleConfig,
    params: WorldParams | None = None,
    progress: ProgressCallback | None = None,
    start: IdStart = WHOLE,
) -> SampleWorld:
    """Generate a sample world; the same config and params always give the same world.

    Args:
        start: where this world's ids begin, when it is one block of a larger world
            (features/sample_world/blocks.py); the world is otherwise the same.
    """
    check_config(config)
    params = params or WorldParams()
    report = progress or (lambda stage, done, total: None)
    rng = np.random.default_rng(config.seed)
    start_day, end_day = history_window(config)
    cities = us_cities()
    report("accounts", 0, 1)
    accounts = draw_accounts(config, params, cities, start_day, end_day, rng)
    report("accounts", 1, 1)
    n_months = len(month_bounds(start_day, end_day))
    done = iter(range(1, n_months + 1))
    history = simulate_history(
        config,
        params,
        accounts,
        cities,
        (start_day, end_day),
        rng,
        on_month=lambda: report("history", next(done), n_months),
    )
    ids = (
        start.ids("A", len(accounts)),
        start.ids("R", len(history.roster)),
    )
    tables = crm_tables(accounts, history, ids, cities, params, rng, start)
    # The tables now hold every event; drop the raw arrays so 1M-account worlds peak lower.
    history = dataclasses.replace(history, opportunities={}, activities={})
    report("tables", 1, 1)
    truth = build_truth(accounts, history, id_series(ids[0]), id_series(ids[1]), params, config)
    report("truth", 1, 1)
    return SampleWorld(config=config, params=params, tables=tables, truth=truth)


def years_between(start_day: int, end_day: int) -> float:
    """Length of [start_day, end_day] in years."""
    return (end_day - start_day + 1) / DAYS_PER_YEAR
