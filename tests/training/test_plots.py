"""The training run's figures stay cheap on a large holdout."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from training.plots import CURVE_POINTS, capture_figure


def test_capture_curve_draws_a_bounded_number_of_points_that_end_at_full_capture():
    rng = np.random.default_rng(0)
    actual = rng.exponential(1.0, 200_000) * (rng.random(200_000) < 0.3)
    fig = capture_figure(actual, {"model": actual + rng.normal(0, 0.5, 200_000)})
    model, random = fig.axes[0].get_lines()[:2]
    x, y = model.get_data()
    assert len(x) <= CURVE_POINTS + 1
    assert (x[0], y[0]) == (0.0, 0.0) and x[-1] == 1.0 and abs(y[-1] - 1.0) < 1e-9
    assert np.all(np.diff(y) >= -1e-12)  # cumulative: never falls
    top20 = y[np.searchsorted(x, 0.2)]
    order = np.argsort(-(actual + 0))  # the exact top-20% share, for comparison
    exact = actual[order][: int(0.2 * len(actual))].sum() / actual.sum()
    assert top20 <= exact + 1e-9 and top20 > 0.3
    plt.close(fig)
