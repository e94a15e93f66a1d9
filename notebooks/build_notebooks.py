"""Writes the notebooks from their cell sources (run once after editing; outputs stay stripped).

    .venv/bin/python notebooks/build_notebooks.py

Each notebook reads TERRITORY_NOTEBOOK_DATA (default data/demo), so tests execute them on a
small sample world.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent
SETUP = """import os
from pathlib import Path
import pandas as pd
DATA = Path(os.environ.get("TERRITORY_NOTEBOOK_DATA", "../data/demo"))
assert DATA.exists(), f"{DATA} not found: run `make demo` (or `territory sample --out {DATA}`) first"
"""

NOTEBOOKS = {
    "01-explore-crm-data.ipynb": [
        new_markdown_cell(
            "# 01 · Explore the CRM data\nThe export as Territory sees it after loading and validation: "
            "tables, the quarantine report, and the shape of the revenue the model will learn."
        ),
        new_code_cell(SETUP),
        new_code_cell(
            "from features.loaders import load_crm\nloaded = load_crm(DATA)\ntables = loaded.tables\n"
            "{name: len(getattr(tables, name)) for name in ['accounts', 'reps', 'opportunities', 'activities', 'assignments']}"
        ),
        new_code_cell("tables.accounts.head()"),
        new_code_cell("opps = tables.opportunities\nopps['stage'].value_counts(normalize=True)"),
        new_markdown_cell(
            "Revenue is concentrated: the share of won revenue held by the top 20% of accounts."
        ),
        new_code_cell(
            "won = opps[opps.stage == 'won'].groupby('account_id')['amount'].sum().sort_values(ascending=False)\n"
            "share_top20 = won.head(int(0.2 * len(tables.accounts))).sum() / won.sum()\n"
            "assert 0 < share_top20 <= 1\nround(share_top20, 3)"
        ),
        new_code_cell(
            "won_by_year = opps[opps.stage == 'won'].assign(year=lambda d: d.closed_at.dt.year).groupby('year')['amount'].sum()\n"
            "ax = won_by_year.plot.bar(title='won revenue by year')"
        ),
    ],
    "02-potential-model.ipynb": [
        new_markdown_cell(
            "# 02 · The potential model\nPoint-in-time features, forward model selection, "
            "the holdout against baselines (and the oracle on a sample world), and what drives scores."
        ),
        new_code_cell(SETUP),
        new_code_cell(
            "from features.loaders import load_crm\nfrom features.pipeline import build_account_features\n"
            "tables = load_crm(DATA).tables\nas_of = tables.latest_date()\n"
            "features = build_account_features(tables, as_of)\nfeatures.describe().T.head(15)"
        ),
        new_code_cell(
            "from features.sample_world.writer import load_truth\nfrom training.train import TrainConfig, train_potential\n"
            "truth = DATA / 'truth'\noracle = load_truth(truth).oracle_potential if truth.exists() else None\n"
            "result = train_potential(tables, TrainConfig(), oracle=oracle)\nresult.selection"
        ),
        new_code_cell("result.comparison"),
        new_code_cell(
            "cmp = result.comparison.set_index('model')['capture_top20']\n"
            "assert cmp['potential_model'] > cmp['firmographic_rule']\ncmp / cmp['last_12m_revenue']"
        ),
        new_code_cell(
            "from training.plots import calibration_figure\nfig = calibration_figure(result.calibration)"
        ),
        new_code_cell(
            "from training.plots import shap_summary_figure\nsample = features.sample(min(1000, len(features)), random_state=0)\n"
            "fig = shap_summary_figure(result.model.contributions(sample[result.model.feature_names_]), sample[result.model.feature_names_])"
        ),
    ],
    "03-plan.ipynb": [
        new_markdown_cell(
            "# 03 · The plan\nTrain, score, then optimise who owns each account under a scenario, "
            "and read the moves with their reasons. Uses the `territory` CLI exactly as a RevOps engineer would."
        ),
        new_code_cell(
            SETUP + "import json, subprocess, sys\n"
            "TERRITORY = str(Path(sys.executable).with_name('territory'))\n"
            "OUT = DATA.parent / (DATA.name + '-notebook-plan')\n"
            "def territory(*args):\n"
            "    done = subprocess.run([TERRITORY, *map(str, args)], capture_output=True, text=True)\n"
            "    assert done.returncode == 0, done.stderr[-2000:]\n"
            "    return done.returncode"
        ),
        new_code_cell(
            "territory('train', '--data', DATA, '--promote')\n"
            "territory('score', '--data', DATA, '--out', OUT / 'scores.parquet')\n"
            "scores = pd.read_parquet(OUT / 'scores.parquet')\nscores[['account_id', 'potential', 'tier', 'narrative']].head()"
        ),
        new_code_cell(
            "scenario = Path('../docs/scenarios/default.yaml')\nprint(scenario.read_text())"
        ),
        new_code_cell(
            "code = territory('plan', '--data', DATA, '--scores', OUT / 'scores.parquet', '--scenario', scenario, '--time-limit', 15, '--out', OUT / 'plan')\n"
            "metrics = json.loads((OUT / 'plan' / 'current' / 'metrics.json').read_text())\n"
            "{k: metrics[k] for k in list(metrics)[:8]}"
        ),
        new_code_cell(
            "moves = pd.read_csv(OUT / 'plan' / 'current' / 'moves.csv')\nprint(len(moves), 'moves')\nmoves.head(10)"
        ),
        new_code_cell("print((OUT / 'plan' / 'current' / 'report.md').read_text()[:3000])"),
    ],
    "04-retraining-report.ipynb": [
        new_markdown_cell(
            "# 04 · Retraining report\nWhat `territory retrain` decided and why: the gates "
            "(challenger against the champion and the baselines on the newest holdout), "
            "and the drift between what training saw and today's data. See docs/retraining.md."
        ),
        new_code_cell(
            SETUP + "import tempfile\n"
            "# a private MLflow store, so the notebook never touches your champion\n"
            "os.environ['TERRITORY_DATA_DIR'] = tempfile.mkdtemp(prefix='territory-nb-')\n"
            "for name in ('MLFLOW_TRACKING_URI', 'TERRITORY_MLFLOW_TRACKING_URI'):\n"
            "    os.environ.pop(name, None)"
        ),
        new_code_cell(
            "from features.loaders import load_crm\nfrom training.lineage import data_source_id\n"
            "from training.retrain import retrain\nfrom training.settings import TrainingSettings\n"
            "from training.train import TrainConfig\n"
            "tables = load_crm(DATA).tables\nsettings = TrainingSettings()\n"
            "first = retrain(tables, data_source_id(str(DATA)), settings, TrainConfig())\n"
            "first.decision, first.version, first.reasons"
        ),
        new_code_cell("gates = pd.DataFrame([g.__dict__ for g in first.gates])\ngates"),
        new_markdown_cell(
            "Run it again on the same data: the champion was trained on exactly this data, "
            "so the job keeps it without training (exit code 3)."
        ),
        new_code_cell(
            "again = retrain(tables, data_source_id(str(DATA)), settings, TrainConfig())\n"
            "again.decision, again.reasons"
        ),
        new_markdown_cell(
            "Drift per feature (PSI over the training reference's deciles; >= 0.1 warns, "
            ">= 0.25 alerts), missing-rate change and unseen categories."
        ),
        new_code_cell(
            "drift = pd.DataFrame(first.drift['columns']).sort_values('psi', ascending=False)\n"
            "drift[['column', 'kind', 'psi', 'missing_reference', 'missing_current', 'level']].head(12)"
        ),
        new_code_cell(
            "ax = drift.head(15).plot.barh(x='column', y='psi', title='PSI by feature (top 15)', legend=False)\n"
            "ax.axvline(0.1, ls='--'); ax.axvline(0.25, ls='--', color='red')"
        ),
        new_markdown_cell(
            "A planted shift: the same features with `employees` tripled. The report flags it."
        ),
        new_code_cell(
            "from features.drift import drift_report\nfrom features.pipeline import build_account_features\n"
            "today = build_account_features(tables, tables.default_as_of())\n"
            "planted = today.assign(employees=today['employees'] * 3)\n"
            "report = drift_report(today, planted, ['employees', 'industry'])\n"
            "report['status'], report['warnings']"
        ),
    ],
    "05-kpis.ipynb": [
        new_markdown_cell("# 05 · KPIs, plan outcomes and goals\nWhat happened, not what was predicted: KPIs per rep, region "
                          "and company with their trend and spread; on a sample world, the year after a plan and its measured lift "
                          "against the truth; goals per territory with conformal intervals and the fairness view."),
        new_code_cell(SETUP + "import numpy as np\nimport matplotlib.pyplot as plt\n"
                      "from features.loaders import load_crm\nfrom features.sample_world.writer import load_truth\n"
                      "from models.kpis import kpi_table, kpi_trend, won_between\n"
                      "tables = load_crm(DATA).tables\nstop = tables.default_as_of().normalize()\nstart = stop - pd.DateOffset(years=1)\n"
                      "truth = load_truth(DATA / 'truth') if (DATA / 'truth').exists() else None\n"
                      "potential = truth.accounts.set_index('account_id')['true_potential'] if truth is not None else None"),
        new_markdown_cell("## KPIs for the last 12 months\nEvery figure is a sum or count over the CRM tables; "
                          "the company row equals the sum of the rep rows, and a direct sum over won deals."),
        new_code_cell("by_rep = kpi_table(tables, start, stop, by='rep', potential=potential)\n"
                      "company = kpi_table(tables, start, stop, by='company', potential=potential).iloc[0]\n"
                      "opps = tables.opportunities\n"
                      "direct_won = opps[(opps.stage == 'won') & (opps.closed_at >= start) & (opps.closed_at < stop)]['amount'].sum()\n"
                      "assert abs(company['won_revenue'] - direct_won) < 1e-6 * direct_won\n"
                      "by_rep.sort_values('won_revenue', ascending=False).head(10)"),
        new_code_cell("kpi_table(tables, start, stop, by='region', potential=potential)"),
        new_markdown_cell("## Trend and spread"),
        new_code_cell("trend = kpi_trend(tables, stop - pd.DateOffset(years=2), stop, by='company', freq='QS', potential=potential)\n"
                      "fig, axes = plt.subplots(1, 3, figsize=(15, 3.5))\n"
                      "trend.plot.bar(x='period_start', y='won_revenue', ax=axes[0], legend=False, title='won revenue per quarter')\n"
                      "trend.plot(x='period_start', y=['win_rate', 'coverage'], ax=axes[1], title='win rate and coverage')\n"
                      "reps = by_rep[by_rep['accounts_owned'] > 0]\n"
                      "reps['revenue_per_capacity'].plot.hist(bins=12, ax=axes[2], title='revenue per capacity unit, across reps')\n"
                      "axes[2].axvline(reps['revenue_per_capacity'].median(), color='k', linestyle='--')\nfig.tight_layout()"),
        new_markdown_cell("## The year after a plan (sample world)\nA plan that moves accounts to a truly better owner, with 40% of "
                          "its moves held back at random; the world runs a year under the new owners. The measured lift "
                          "(moved against held back) is compared with the truth (the oracle under the plan against the oracle had "
                          "every account stayed)."),
        new_code_cell("from features.sample_world import pair_value\nfrom features.sample_world.after_plan import simulate_year_after\n"
                      "from models.kpis import choose_holdback, plan_outcomes\n"
                      "owners = tables.current_owners()\nrng = np.random.default_rng(1)\n"
                      "active = truth.reps.loc[truth.reps['active'], 'rep_id'].to_numpy()\n"
                      "cand = rng.choice(active, (len(owners), 6))\n"
                      "value = np.column_stack([pair_value(truth.accounts, truth.reps, truth.params, owners.index.to_numpy(), cand[:, j]) for j in range(6)])\n"
                      "now = pair_value(truth.accounts, truth.reps, truth.params, owners.index.to_numpy(), owners.to_numpy())\n"
                      "better = value.max(axis=1) > 1.1 * now\n"
                      "plan = pd.DataFrame({'account_id': owners.index, 'current_rep': owners.to_numpy(),\n"
                      "                     'rep_id': np.where(better, cand[np.arange(len(owners)), value.argmax(axis=1)], owners.to_numpy()),\n"
                      "                     'potential': potential.reindex(owners.index).to_numpy()})\n"
                      "moves = plan[plan.rep_id != plan.current_rep]\nheld = choose_holdback(moves, 0.4, seed=3)\n"
                      "made = moves[~moves.account_id.isin(held)]\n"
                      "after = simulate_year_after(truth.config, dict(zip(made.account_id, made.rep_id)))\n"
                      "outcome = plan_outcomes(after.tables, plan, after.effective, after.stop, holdback=held)\n"
                      "m = made.account_id.to_numpy()\npred = outcome.accounts.set_index('account_id').loc[m, 'predicted']\n"
                      "true_ratio = (after.expected_under_plan[m] / pred).sum() / (after.expected_if_kept[m] / pred).sum() - 1\n"
                      "lift = outcome.lift\n"
                      "print(f'{len(made)} moves made, {len(held)} held back; measured lift {lift.lift_ratio:+.1%} '\n"
                      "      f'[{lift.lift_ratio_low:+.1%}, {lift.lift_ratio_high:+.1%}], true lift {true_ratio:+.1%}')"),
        new_code_cell("outcome.reps.sort_values('gained', ascending=False).head(10)"),
        new_markdown_cell("## Goals per territory\nCalibrated on a backtest (here: last year's revenue predicting this year's, a simple "
                          "baseline), 80% conformal intervals (MAPIE) checked on held-out books, and the spread of expected attainment."),
        new_code_cell("from models.kpis import calibrate_goals, fairness, random_books, territory_goals\n"
                      "predicted = won_between(tables, start - pd.DateOffset(years=1), start).reindex(tables.accounts.account_id).fillna(0) + 1.0\n"
                      "actual = won_between(tables, start, stop).reindex(predicted.index).fillna(0)\n"
                      "cal = np.random.default_rng(0).random(len(predicted)) < 0.5\n"
                      "calibrator = calibrate_goals(predicted[cal], actual[cal], book_size=60, confidence=0.8)\n"
                      "X, y = random_books(predicted[~cal], actual[~cal], 60, 1000, seed=1)\n"
                      "goal, low, high = calibrator.interval(X)\ncoverage_rate = float(((y >= low) & (y <= high)).mean())\n"
                      "print(f'scale {calibrator.scale:.3f}; holdout coverage {coverage_rate:.1%} for a stated 80%')"),
        new_code_cell("fit = truth.accounts.set_index('account_id')\nfit = (fit.expected_revenue_current_owner / fit.true_potential).reindex(owners.index)\n"
                      "next_year = actual.reindex(owners.index)\n"
                      "goals = territory_goals(calibrator, next_year, owners, expected_value=next_year * fit)\n"
                      "view = fairness(goals)\nax = goals.expected_attainment.plot.hist(bins=12, title='expected attainment across reps')\n"
                      "goals.sort_values('goal', ascending=False).head(10)"),
    ],
}


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook(
            cells=cells,
            metadata={
                "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
            },
        )
        nbformat.write(nb, HERE / name)
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
