import numpy as np
import pandas as pd
import pytest

from models.potential import PotentialModel, fit_total_calibration, scale_log_link_booster
from models.potential.calibration import MAX_GROWTH, growth_per_year


def _snapshots(growth: float, months: int = 12, accounts: int = 50) -> tuple[pd.Series, pd.Series]:
    dates = pd.date_range("2024-01-01", periods=months, freq="MS")
    years = (dates - dates[0]) / pd.Timedelta(days=365.25)
    as_of = pd.Series(np.repeat(dates, accounts))
    label = pd.Series(np.repeat(1000.0 * np.exp(growth * np.asarray(years)), accounts))
    return as_of, label


def test_growth_is_the_log_slope_of_the_mean_label():
    as_of, label = _snapshots(0.1)
    assert growth_per_year(as_of, label) == pytest.approx(0.1, abs=1e-6)
    assert growth_per_year(*_snapshots(2.0)) == MAX_GROWTH  # clipped
    assert growth_per_year(*_snapshots(0.1, months=2)) == 0.0  # too few snapshots


def test_factor_carries_the_level_to_the_target_date():
    as_of, label = _snapshots(0.1)
    flat = np.full(len(label), label.mean())  # in-sample total right, no trend
    mean_date = pd.Timestamp("2024-06-16")
    cal = fit_total_calibration(as_of, label, flat, mean_date + pd.Timedelta(days=365.25))
    assert cal.level == pytest.approx(1.0)
    assert cal.years_ahead == pytest.approx(1.0, abs=0.01)
    assert cal.factor == pytest.approx(np.exp(0.1), rel=0.01)


def test_scaling_a_log_link_booster_scales_every_prediction():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
    y = np.exp(X["a"]) * rng.gamma(2.0, 1.0, 400)
    model = PotentialModel(n_estimators=30, min_child_samples=10).fit(X, y)
    before = model.predict(X)
    scale_log_link_booster(model.booster_, 1.25)
    np.testing.assert_allclose(model.predict(X), before * 1.25, rtol=1e-9)
    again = PotentialModel.from_state(model.to_state())
    np.testing.assert_allclose(again.predict(X), before * 1.25, rtol=1e-9)
