"""Explanations: exact TreeSHAP, units that add up, stable reasons, reuse of unchanged accounts."""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from models.errors import FeatureMismatchError
from models.explain import (
    OUTPUT_COLUMNS,
    REASON_KEYS,
    CatalogueError,
    attribution,
    explain_frame,
    hash_rows,
    load_catalogue,
    model_fingerprint,
    parse_catalogue,
)
from models.potential import PotentialModel, score_frame, synthetic_account_features, to_matrix

AS_OF = "2025-06-30"


@pytest.fixture(scope="module")
def data():
    return synthetic_account_features(3000, seed=3)


def _fit(objective: str, X: pd.DataFrame, y: np.ndarray) -> PotentialModel:
    model = PotentialModel(
        objective,
        n_estimators=80,
        num_leaves=7,
        max_depth=3,
        min_child_samples=40,
        learning_rate=0.1,
        num_threads=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return model.fit(X[:2400], y[:2400], eval_set=(X[2400:], y[2400:]))


@pytest.fixture(scope="module")
def revenue(data):
    return _fit("revenue", *data)


@pytest.fixture(scope="module")
def conversion(data):
    return _fit("conversion", *data)


@pytest.fixture(scope="module")
def explained(revenue, data):
    return explain_frame(revenue, data[0].iloc[:400], AS_OF)


def replace_params(model: PotentialModel, **params) -> PotentialModel:
    state = model.to_state()
    state["params"] = {**state["params"], **params}
    return PotentialModel.from_state(state)


def _matrix(model, X):
    return to_matrix(X, model.feature_names_, model.categories_)


# --- exact TreeSHAP ------------------------------------------------------------------------------
def test_contributions_match_shap_tree_explainer(revenue, data):
    import shap

    matrix = _matrix(revenue, data[0].iloc[:300])
    ours = revenue.contributions(matrix)
    explainer = shap.TreeExplainer(revenue.booster_)
    np.testing.assert_allclose(explainer.shap_values(matrix), ours[:, :-1], atol=1e-6)
    assert explainer.expected_value == pytest.approx(ours[0, -1], abs=1e-6)


def test_contributions_match_shaps_own_treeshap_algorithm(data):
    """shap delegates LightGBM models to pred_contrib; forcing its own C++ TreeSHAP (numeric
    features only: its categorical bitmasks differ) gives an independent check."""
    import shap

    X, y = data
    columns = [
        "employees",
        "won_revenue_last_365d",
        "activities_last_365d",
        "days_since_last_activity",
    ]
    model = PotentialModel(n_estimators=60, num_leaves=7, max_depth=3, num_threads=1).fit(
        X[columns], y
    )
    matrix = _matrix(model, X[columns].iloc[:300])
    explainer = shap.TreeExplainer(model.booster_)
    explainer.model.model_type = "internal"  # use shap's tree traversal instead of LightGBM's
    np.testing.assert_allclose(
        explainer.shap_values(matrix), model.contributions(matrix)[:, :-1], atol=1e-6
    )


@pytest.mark.parametrize("objective", ["revenue", "conversion"])
def test_contributions_add_up_to_the_raw_score(objective, revenue, conversion, data):
    model = revenue if objective == "revenue" else conversion
    matrix = _matrix(model, data[0].iloc[:300])
    raw = model.predict_matrix(matrix, raw_score=True)
    np.testing.assert_allclose(model.contributions(matrix).sum(axis=1), raw, rtol=0, atol=1e-9)


# --- units ---------------------------------------------------------------------------------------
def test_revenue_shares_add_up_to_prediction(revenue, data):
    matrix = _matrix(revenue, data[0].iloc[:300])
    contrib = revenue.contributions(matrix)
    shares = attribution.revenue_allocation(contrib)
    np.testing.assert_allclose(
        np.exp(contrib[:, -1]) + shares.sum(axis=1), revenue.predict_matrix(matrix), rtol=1e-9
    )
    layout = attribution.ConceptLayout.build(revenue.feature_names_, load_catalogue())
    np.testing.assert_allclose(
        attribution.by_concept(shares, layout).sum(axis=1), shares.sum(axis=1), rtol=1e-12
    )


def test_revenue_allocation_limits():
    base = math.log(1000.0)
    cancelling = np.array([[0.7, -0.7, 0.0, base]])  # total 0: prediction = baseline
    np.testing.assert_allclose(attribution.revenue_allocation(cancelling), [[700.0, -700.0, 0.0]])
    single = np.array([[math.log(2.0), 0.0, 0.0, base]])  # one driver doubles it: all +1000 is its
    np.testing.assert_allclose(attribution.revenue_allocation(single), [[1000.0, 0.0, 0.0]])


def test_probability_points_add_up_to_calibrated_probability(conversion, data):
    matrix = _matrix(conversion, data[0].iloc[:300])
    contrib = conversion.contributions(matrix)
    points = attribution.probability_allocation(contrib, conversion.calibrator_)
    base = 1 / (1 + np.exp(-contrib[:, -1]))
    p_base = np.interp(base, *conversion.calibrator_) if conversion.calibrator_ else base
    np.testing.assert_allclose(
        p_base + points.sum(axis=1) / 100, conversion.predict_matrix(matrix), atol=1e-9
    )


# --- reasons and narrative -----------------------------------------------------------------------
def test_output_shape_and_records(explained, data):
    assert tuple(explained.columns) == OUTPUT_COLUMNS
    assert explained["account_id"].tolist() == data[0].index[:400].tolist()
    assert (explained["as_of"] == AS_OF).all()
    json.dumps(explained["reasons"].tolist())  # JSON-able as is
    for reasons in explained["reasons"]:
        ups = [r for r in reasons if r["direction"] == "up"]
        downs = [r for r in reasons if r["direction"] == "down"]
        assert reasons == ups + downs and len(ups) <= 3 and len(downs) <= 1
        assert [r["effect_multiplier"] for r in ups] == sorted(
            (r["effect_multiplier"] for r in ups), reverse=True
        )
        assert all(r["effect_multiplier"] > 1 for r in ups) and all(
            r["effect_multiplier"] < 1 for r in downs
        )
        assert all(tuple(r) == REASON_KEYS and r["probability_points"] is None for r in reasons)
        assert len({r["concept"] for r in reasons}) == len(reasons)


def test_reason_values_are_the_accounts_values(explained, data):
    X = data[0]
    for account, reasons in zip(explained["account_id"], explained["reasons"], strict=True):
        for r in reasons:
            actual = X.at[account, r["feature"]]
            if pd.isna(actual):
                assert r["value"] is None
                assert r["phrase"] == load_catalogue()[r["feature"]].missing_phrase
            else:
                assert r["value"] == (
                    actual if isinstance(actual, str) else pytest.approx(float(actual))
                )


def test_narrative_has_tier_potential_reasons_and_date(explained, revenue, data):
    scores = score_frame(revenue, data[0].iloc[:400]).set_index("account_id")
    for _, row in explained.head(50).iterrows():
        tier = scores.at[row["account_id"], "tier"]
        assert row["narrative"].startswith(f"Tier {tier} (")
        assert "of won revenue in the next 12 months" in row["narrative"]
        assert row["narrative"].endswith(f"Based on CRM data as of {AS_OF}.")
        for r in [r for r in row["reasons"] if r["direction"] == "up"][:3]:
            assert r["phrase"] in row["narrative"]


def test_headline_uses_given_scores(revenue, data):
    X = data[0].iloc[:5]
    scores = pd.DataFrame(
        {"account_id": X.index, "potential": 123_000.0, "percentile": 97.0, "tier": "A"}
    )
    out = explain_frame(revenue, X, AS_OF, scores=scores)
    expected = "Tier A (top 10%, 97th percentile): potential $123k of won revenue in the next 12"
    assert out["narrative"].str.startswith(expected).all()


def test_conversion_reasons_are_in_probability_points(conversion, data):
    out = explain_frame(conversion, data[0].iloc[:100], AS_OF, horizon_days=180)
    assert out["narrative"].str.contains(r"% chance of a won deal in the next 6 months\.").all()
    records = [r for reasons in out["reasons"] for r in reasons]
    assert records and all(
        r["revenue_share"] is None and r["probability_points"] is not None for r in records
    )
    assert all(
        (r["probability_points"] >= 0) == (r["direction"] == "up")
        for r in records
        if r["probability_points"]
    )


def test_top_k_and_json_output(revenue, data):
    out = explain_frame(
        revenue, data[0].iloc[:50], AS_OF, top_k=1, top_down=0, reasons_as_json=True
    )
    parsed = [json.loads(text) for text in out["reasons"]]
    assert all(len(r) <= 1 and all(x["direction"] == "up" for x in r) for r in parsed)


# --- stability -----------------------------------------------------------------------------------
def test_same_input_same_reasons_in_any_row_order(revenue, data, explained):
    X = data[0].iloc[:400]
    shuffled = explain_frame(revenue, X.sample(frac=1.0, random_state=1), AS_OF).set_index(
        "account_id"
    )
    again = explain_frame(revenue, X, AS_OF)
    assert again.equals(explained)
    assert (
        shuffled.loc[explained["account_id"], "reasons"].tolist() == explained["reasons"].tolist()
    )


def test_ties_are_broken_by_feature_name():
    catalogue = parse_catalogue(
        {
            "concepts": {"a": "A", "b": "B", "c": "C"},
            "features": {
                name: {"concept": concept, "unit": "count", "label": name, "template": "{value}"}
                for name, concept in [("zeta", "a"), ("alpha", "b"), ("mid", "c"), ("beta", "b")]
            },
        }
    )
    layout = attribution.ConceptLayout.build(["zeta", "alpha", "mid", "beta"], catalogue)
    phi = np.array(
        [[0.5, 0.25, 0.5, 0.25]]
    )  # concepts a=0.5 (zeta), b=0.5 (alpha|beta tie), c=0.5 (mid)
    sums = attribution.by_concept(phi, layout)
    lead = attribution.leading_features(phi, sums, layout)
    assert lead[0].tolist() == [0, 1, 2]  # b's tie between alpha and beta -> alpha
    order, shown = attribution.rank_concepts(sums, lead, layout, 3, upward=True)
    assert order[0].tolist() == [1, 2, 0] and shown.all()  # alpha < mid < zeta
    order, shown = attribution.rank_concepts(sums, lead, layout, 3, upward=False)
    assert not shown.any()


# --- reuse of unchanged accounts -----------------------------------------------------------------
def test_unchanged_accounts_reuse_previous_explanations(revenue, data, explained):
    X = data[0].iloc[:400]
    again = explain_frame(revenue, X, AS_OF, previous=explained)
    assert again["reused"].all()
    assert again.drop(columns="reused").equals(explained.drop(columns="reused"))


def test_reuse_after_a_day_equals_recomputation(revenue, data, explained):
    X = data[0].iloc[:400].copy()
    day_counters = [c for c in X.columns if c.startswith("days_") or c.endswith("_days")]
    X[day_counters] = X[day_counters] + 1.0  # a day later, nothing else happened
    X.iloc[:40, X.columns.get_loc("won_revenue_last_365d")] += 25_000.0  # 10% won a deal
    later = explain_frame(revenue, X, "2025-07-01", previous=explained)
    fresh = explain_frame(revenue, X, "2025-07-01")
    moved = (later["split_hash"] != explained["split_hash"]).to_numpy()
    assert moved[:40].mean() > 0.5 and not later["reused"][moved].any()
    assert later["reused"].mean() > 0.5
    assert later.drop(columns="reused").equals(fresh.drop(columns="reused"))
    assert (later["input_hash"] != explained["input_hash"]).all()


def test_same_split_hash_means_same_contributions(revenue, data):
    X = data[0].iloc[:400]
    nudged = X.copy()
    nudged["account_age_days"] += 0.5
    frames = explain_frame(revenue, X, AS_OF), explain_frame(revenue, nudged, AS_OF)
    same = (frames[0]["split_hash"] == frames[1]["split_hash"]).to_numpy()
    assert same.any()
    a, b = (revenue.contributions(_matrix(revenue, f)) for f in (X, nudged))
    np.testing.assert_array_equal(a[same], b[same])


def test_another_model_never_reuses(revenue, data, explained):
    X, y = data
    other = _fit("revenue", X, y * 1.1)
    assert model_fingerprint(other) != model_fingerprint(revenue)
    assert not explain_frame(other, X.iloc[:400], AS_OF, previous=explained)["reused"].any()


def test_reuse_reads_reasons_stored_as_json(revenue, data):
    X = data[0].iloc[:60]
    stored = explain_frame(revenue, X, AS_OF, reasons_as_json=True)
    again = explain_frame(revenue, X, AS_OF, previous=stored, reasons_as_json=True)
    assert again["reused"].all() and again["reasons"].tolist() == stored["reasons"].tolist()


def test_threads_give_the_same_result(revenue, data, explained):
    for method in ("patterns", "pred_contrib"):  # 25 chunks over 4 threads: races would show
        threaded = explain_frame(
            revenue, data[0].iloc[:400], AS_OF, n_jobs=4, chunk_rows=16, method=method
        )
        assert threaded.equals(explained)


def test_row_hash_is_exact_and_nan_safe():
    m = np.array([[1.0, np.nan, -0.0], [1.0, np.nan, 0.0], [1.0, 2.0, 0.0]])
    h = hash_rows(m, ["a", "b", "c"])
    assert h[0] == h[1] != h[2]
    assert hash_rows(m, ["a", "b", "d"])[0] != h[0]


# --- errors and edge cases -----------------------------------------------------------------------
def test_missing_feature_column_is_refused(revenue, data):
    with pytest.raises(FeatureMismatchError, match="employees"):
        explain_frame(revenue, data[0].drop(columns="employees").iloc[:5], AS_OF)


def test_uncatalogued_feature_of_the_feature_set_is_refused(revenue, data):
    catalogue = load_catalogue()
    kept = {k: v for k, v in catalogue.entries.items() if k != "employees"}
    model = replace_params(revenue, feature_set="account_potential_v1")
    with pytest.raises(CatalogueError, match="account_potential_v1 lack.*'employees'"):
        explain_frame(model, data[0].iloc[:5], AS_OF, catalogue=replace(catalogue, entries=kept))


def test_extra_account_column_gets_a_plain_phrase(data):
    X, y = data
    extra = X[["employees"]].assign(shoe_size=np.where(y > 0, 46.0, 38.0))
    model = PotentialModel(n_estimators=20, num_threads=1, feature_set="account_potential_v1")
    model.fit(extra, y)
    reasons = explain_frame(model, extra.iloc[:50], AS_OF)["reasons"]
    phrases = {r["phrase"] for rs in reasons for r in rs if r["feature"] == "shoe_size"}
    assert phrases and phrases <= {"Shoe size: 46", "Shoe size: 38"}


def test_constant_model_has_no_reasons(data):
    X, _ = data
    model = PotentialModel(n_estimators=5, num_threads=1).fit(X.iloc[:50], np.full(50, 7.0))
    out = explain_frame(model, X.iloc[:3], AS_OF)
    assert out["reasons"].tolist() == [[], [], []]
    assert out["narrative"].str.contains("Nothing raises it above a typical account.").all()


def test_global_importance_ranks_features(revenue, data):
    contrib = revenue.contributions(_matrix(revenue, data[0].iloc[:300]))
    table = attribution.global_importance(contrib, revenue.feature_names_, load_catalogue())
    assert list(table.columns) == [
        "feature",
        "concept",
        "mean_abs_contribution",
        "mean_contribution",
    ]
    assert table["mean_abs_contribution"].is_monotonic_decreasing
    assert table.iloc[0]["feature"] in revenue.feature_names_


def test_exact_reuse_keeps_reasons_and_updates_headline_and_date(revenue, data, explained):
    X = data[0].iloc[:400]
    scores = pd.DataFrame(
        {"account_id": X.index, "potential": 5_000.0, "percentile": 50.0, "tier": "C"}
    )
    later = explain_frame(revenue, X, "2025-07-31", previous=explained, scores=scores)
    fresh = explain_frame(revenue, X, "2025-07-31", scores=scores)
    assert later["reused"].all()
    assert later.drop(columns="reused").equals(fresh.drop(columns="reused"))


def test_rebase_narrative_matches_a_fresh_one():
    from models.explain import headline, narrative, rebase_narrative

    reasons = [
        {"phrase": "Won $4.2k. Really", "direction": "up", "effect_multiplier": 1.5},
        {"phrase": "No current owner on record", "direction": "down", "effect_multiplier": 0.8},
    ]
    old = narrative(headline("B", 75.0, 9_000.0, "revenue"), reasons, "2025-06-30", "revenue")
    new_head = headline("A", 95.0, 90_000.0, "revenue")
    expected = narrative(new_head, reasons, "2025-07-01", "revenue")
    assert rebase_narrative(old, new_head, "2025-07-01") == expected
    assert rebase_narrative("hand-written text", new_head, "2025-07-01") is None
    assert rebase_narrative(float("nan"), new_head, "2025-07-01") is None
