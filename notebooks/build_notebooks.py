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
            "metrics = json.loads((OUT / 'plan' / 'metrics.json').read_text())\n"
            "{k: metrics[k] for k in list(metrics)[:8]}"
        ),
        new_code_cell(
            "moves = pd.read_csv(OUT / 'plan' / 'moves.csv')\nprint(len(moves), 'moves')\nmoves.head(10)"
        ),
        new_code_cell("print((OUT / 'plan' / 'report.md').read_text()[:3000])"),
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
