import numpy as np
import pandas as pd

from models.potential import find_suspects, leakage_message
from models.potential.leakage import single_feature_gini


def _case(leak: bool):
    rng = np.random.default_rng(1)
    label = rng.gamma(0.5, 1000.0, 2000) * (rng.random(2000) < 0.4)
    features = pd.DataFrame(
        {
            "employees": label * rng.lognormal(0, 2.0, 2000) + rng.gamma(1, 50, 2000),
            "region": rng.choice(["east", "west"], 2000),
        }
    )
    if leak:
        features["lifetime_value"] = label * 1.1 + rng.normal(0, 1, 2000).clip(0)
    gain = pd.Series(1.0, index=features.columns)
    comparison = pd.DataFrame(
        {"model": ["potential_model", "oracle_x"], "normalized_gini": [0.6, 1.0]}
    )
    return comparison, features, label, gain


def test_single_feature_gini_takes_the_better_sign():
    label = np.array([0, 0, 10, 20.0])
    frame = pd.DataFrame({"up": [1, 2, 3, 4.0], "down": [4, 3, 2, 1.0], "text": list("abcd")})
    alone = single_feature_gini(frame, label)
    assert alone["up"] == alone["down"] == 1.0
    assert "text" not in alone


def test_a_clean_frame_has_no_suspects_and_oracles_are_ignored():
    reasons, suspects = find_suspects(*_case(leak=False))
    assert reasons == [] and suspects == []


def test_a_leaked_column_is_named():
    reasons, suspects = find_suspects(*_case(leak=True))
    assert [s.column for s in suspects] == ["lifetime_value"]
    message = leakage_message(reasons, suspects)
    assert "lifetime_value" in message and "--allow-leakage" in message


def test_a_too_good_model_without_one_culprit_names_the_strongest_columns():
    comparison, features, label, gain = _case(leak=False)
    comparison.loc[0, "normalized_gini"] = 0.99
    reasons, suspects = find_suspects(comparison, features, label, gain)
    assert "potential_model" in reasons[0]
    assert [s.column for s in suspects] == ["employees"]
