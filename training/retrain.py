"""The retraining job: train a challenger, judge it against the champion, promote past the gates.

Safe from cron or any scheduler: one run at a time (a lock file in the data directory), and
idempotent (a champion already trained on exactly this data and configuration is kept without
training again). A failed run leaves the champion untouched. Every run that trains logs its
decision, both metric sets, the gates and the drift report to MLflow.

Exit codes (``RetrainOutcome.exit_code``): 0 promoted, 3 kept, 1 failed, 75 another run holds
the lock (EX_TEMPFAIL: try again later).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient

from features.drift import drift_report
from features.pipeline import build_account_features
from features.tables import CrmTables
from models.errors import TerritoryError
from models.potential import load_potential_model
from training.gates import Champion, Gate, GatePolicy, all_gates
from training.lineage import Lineage
from training.register import configure, log_and_register
from training.settings import TrainingSettings
from training.train import (
    ExportFacts,
    Oracle,
    TrainConfig,
    TrainingResult,
    export_digest,
    train_potential,
)

EXIT = {"promoted": 0, "kept": 3, "failed": 1, "locked": 75}
LOCK_FILE = "retrain.lock"


class RetrainLocked(TerritoryError):
    """Another retraining run holds the lock."""


@dataclass
class RetrainOutcome:
    """What a run decided and why."""

    decision: str
    reasons: list[str]
    version: str | None = None
    champion_version: str | None = None
    run_id: str | None = None
    gates: list[Gate] = field(default_factory=list)
    drift: dict | None = None

    @property
    def exit_code(self) -> int:
        """0 promoted, 3 kept, 1 failed, 75 locked."""
        return EXIT[self.decision]


@contextlib.contextmanager
def run_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the block, or raise ``RetrainLocked`` at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise RetrainLocked(
                f"another retraining run holds {path} (pid {holder}); this run did nothing. "
                "Schedule runs further apart, or remove the file if no run is alive."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the lock


def current_champion(settings: TrainingSettings) -> Champion | None:
    """The registered champion with its lineage, or None when no version holds the alias."""
    configure(settings)
    client = MlflowClient()
    try:
        version = client.get_model_version_by_alias(settings.model_name, "champion")
    except Exception:  # noqa: BLE001 - "no such alias" and "no such model" both land here
        return None
    model, _ = load_potential_model(f"models:/{settings.model_name}/{version.version}")
    return Champion(str(version.version), model, Lineage.from_tags(dict(version.tags)))


def config_digest(config: TrainConfig) -> str:
    """A short digest of everything in the training configuration but the data."""
    text = json.dumps(
        {k: str(v) for k, v in sorted(asdict(config).items()) if k != "as_of"}, sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def planned_lineage(
    tables: CrmTables | ExportFacts,
    data_source: str,
    config: TrainConfig,
    digest: str | None = None,
) -> Lineage:
    """The lineage a model trained with ``config`` on these tables records."""
    return Lineage(
        data_source=data_source,
        dataset_digest=digest or export_digest(tables),
        as_of=config.as_of.date().isoformat(),
        horizon_days=config.horizon_days,
        feature_set=config.feature_set,
        objective=config.objective,
        config_digest=config_digest(config),
    )


def _same_training(champion: Champion | None, lineage: Lineage) -> bool:
    return champion is not None and champion.lineage == lineage


def current_drift(
    tables: CrmTables | ExportFacts,
    result: TrainingResult,
    features: Callable[[pd.Timestamp, list[str]], pd.DataFrame] | None = None,
) -> dict:
    """Drift between the holdout snapshot (what training saw last) and features as of today
    (`features`: builds them where the export is held, e.g. on a Dask cluster)."""
    model = result.model
    build = features or (
        lambda as_of, extra: build_account_features(tables, as_of, extra_columns=extra)
    )
    today = build(result.config.as_of, list(result.config.extra_columns))
    reference = result.holdout
    columns = list(model.feature_names_)
    report = drift_report(
        reference,
        today,
        columns,
        reference_score=model.predict(reference[columns]),
        current_score=model.predict(today[columns]),
    )
    report["reference_as_of"] = result.plan.holdout.date().isoformat()
    report["current_as_of"] = result.config.as_of.date().isoformat()
    return report


def retrain(
    tables: CrmTables,
    data_source: str,
    settings: TrainingSettings,
    config: TrainConfig,
    *,
    policy: GatePolicy | None = None,
    force: bool = False,
    oracle: Oracle | None = None,
    progress: Callable[[str], None] = lambda _: None,
    hooks: Mapping[str, Callable] | None = None,
) -> RetrainOutcome:
    """One retraining run under the lock; see the module docstring.

    Args:
        tables: the export, or its ExportFacts when it is held on a Dask cluster; `hooks`
            (training/cli/cluster.py training_hooks) then build, fit and read features there.
    """
    policy = policy or GatePolicy()
    hooks = dict(hooks or {})
    try:
        with run_lock(settings.data_dir / LOCK_FILE):
            return _retrain(
                tables, data_source, settings, config, policy, force, oracle, progress, hooks
            )
    except RetrainLocked as error:
        return RetrainOutcome("locked", [str(error)])


def _retrain(tables, data_source, settings, config, policy, force, oracle, progress, hooks):
    configure(settings)
    champion = current_champion(settings)
    as_of = config.as_of if config.as_of is not None else tables.default_as_of()
    config = replace(config, as_of=pd.Timestamp(as_of))
    planned = planned_lineage(tables, data_source, config)
    if _same_training(champion, planned) and not force:
        return RetrainOutcome(
            "kept",
            [f"champion v{champion.version} was trained on exactly this data and configuration"],
            champion_version=champion.version,
        )
    progress("training the challenger")
    try:
        result = train_potential(
            tables,
            config,
            oracle=oracle,
            progress=progress,
            build=hooks.get("build"),
            refit=hooks.get("refit"),
        )
    except TerritoryError as error:
        return RetrainOutcome("failed", [f"training failed: {error}"], None, _version(champion))
    lineage = planned_lineage(tables, data_source, result.config, result.dataset_digest)
    progress("judging the challenger against the champion")
    gates = all_gates(result, champion, lineage, policy)
    drift = current_drift(tables, result, hooks.get("features"))
    failed = [g for g in gates if not g.passed]
    promote = force or not failed
    progress("logging to MLflow")
    # the challenger is always registered (for inspection); the gates decide `champion`
    run_id, version = log_and_register(
        result, settings, promote=promote, force=True, lineage=lineage
    )
    reasons = [f"{g.name}: {g.detail}" for g in failed] or ["every gate passed"]
    if failed and force:
        reasons = ["forced past failing gates: " + "; ".join(reasons)]
    decision = "promoted" if promote else "kept"
    _log_decision(run_id, decision, reasons, gates, drift, champion)
    _write_drift(settings, drift)
    return RetrainOutcome(decision, reasons, version, _version(champion), run_id, gates, drift)


def _version(champion: Champion | None) -> str | None:
    return champion.version if champion else None


def _log_decision(run_id, decision, reasons, gates, drift, champion) -> None:
    with mlflow.start_run(run_id=run_id):
        mlflow.set_tags(
            {
                "retrain.decision": decision,
                "retrain.reasons": " | ".join(reasons)[:5000],
                "retrain.champion_before": champion.version if champion else "-",
                "drift.status": drift["status"],
            }
        )
        mlflow.log_dict(
            {
                "decision": decision,
                "reasons": reasons,
                "gates": [g.__dict__ for g in gates],
            },
            "retrain/decision.json",
        )
        mlflow.log_dict(drift, "monitoring/drift.json")


def _write_drift(settings: TrainingSettings, drift: dict) -> Path:
    """The latest drift report, where the service reads it (written atomically)."""
    path = settings.data_dir / "monitoring" / "drift.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(drift, indent=2))
    tmp.replace(path)
    return path
