"""The sample world: a seeded, contract-valid CRM export plus the hidden truth that generated it.

    world = generate_world(SampleConfig(n_accounts=20_000, n_reps=60, years=3, seed=7))
    world.tables          # CrmTables, as a loader would return them
    world.truth.accounts  # true_potential, its components, expected_revenue_current_owner
    pair_value(world.truth.accounts, world.truth.reps, world.params, account_ids, rep_ids)

See docs/sample_world.md for the generative model.
"""

from features.sample_world.calibration import (
    CALIBRATION_LABELS,
    CALIBRATION_TARGETS,
    calibration_report,
    out_of_range,
)
from features.sample_world.config import (
    DEFAULT_END_DATE,
    INDUSTRIES,
    REGIONS,
    SampleConfig,
    SampleConfigError,
    WorldParams,
    check_config,
)
from features.sample_world.oracle import expected_revenue_between, window_oracle
from features.sample_world.truth import Truth
from features.sample_world.value import pair_multiplier, pair_value, potential_between
from features.sample_world.world import STAGES, SampleWorld, generate_world, history_window
from features.sample_world.writer import load_truth, write_world

__all__ = [
    "CALIBRATION_LABELS",
    "CALIBRATION_TARGETS",
    "DEFAULT_END_DATE",
    "INDUSTRIES",
    "REGIONS",
    "STAGES",
    "SampleConfig",
    "SampleConfigError",
    "SampleWorld",
    "Truth",
    "WorldParams",
    "calibration_report",
    "check_config",
    "expected_revenue_between",
    "generate_world",
    "history_window",
    "load_truth",
    "out_of_range",
    "pair_multiplier",
    "pair_value",
    "potential_between",
    "window_oracle",
    "write_world",
]
