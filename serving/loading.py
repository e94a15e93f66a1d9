"""Load what the service serves: model from MLflow, CRM tables, scores, plan (its I/O edge).

Each step records a readable problem instead of raising, so a half-configured service still
starts, answers /readyz with 503 and says in /status what to fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from models.potential import PotentialModel
from serving.decisions import DecisionStore
from serving.errors import BadRequest
from serving.plans import Plan, choose_plan_dir, find_plan_dirs, read_plan
from serving.settings import ServingSettings
from serving.store import ServingState, build_state, read_scores

SCORE_FILES = ("scores.parquet", "scores.csv")


@dataclass
class Loaded:
    """The outcome of one load: a state when the essentials loaded, and what went wrong."""

    state: ServingState | None
    problems: list[str] = field(default_factory=list)


def load_model(settings: ServingSettings) -> tuple[PotentialModel, str]:
    """The served model and a readable version ("account-potential v3 (champion)")."""
    import mlflow

    mlflow.set_tracking_uri(settings.tracking_uri)
    model = PotentialModel.from_model_uri(settings.model_uri, num_threads=settings.predict_threads)
    return model, model_version(settings.model_uri)


def model_version(uri: str) -> str:
    """models:/NAME@ALIAS resolved to its version through the registry; other URIs as given."""
    match = re.fullmatch(r"models:/([^/@]+)@(.+)", uri)
    if match:
        from mlflow import MlflowClient

        name, alias = match.groups()
        try:
            version = MlflowClient().get_model_version_by_alias(name, alias).version
        except Exception:  # noqa: BLE001 - registry without that alias: show the URI as is
            return uri
        return f"{name} v{version} ({alias})"
    match = re.fullmatch(r"models:/([^/@]+)/(\d+)", uri)
    return f"{match.group(1)} v{match.group(2)}" if match else uri


def check_reload_paths(**paths: str | None) -> None:
    """BadRequest naming the first given path the server cannot see."""
    for what, given in paths.items():
        if given and not Path(given).exists():
            raise BadRequest(
                f"{what} {given} does not exist on the server; pass a path the service can read."
            )


def scores_path_for(settings: ServingSettings, override: str | None = None) -> Path | None:
    if override:
        return Path(override)
    if settings.scores_path:
        return settings.scores_path
    if settings.crm_source and Path(settings.crm_source).is_dir():
        for name in SCORE_FILES:
            if (Path(settings.crm_source) / name).is_file():
                return Path(settings.crm_source) / name
    return None


def plan_dir_for(
    settings: ServingSettings, store: DecisionStore, override: str | None = None
) -> Path | None:
    """An explicit plan directory, else the newest approved-or-proposed plan under the roots."""
    if override:
        return Path(override)
    if settings.plan_dir:
        return settings.plan_dir
    roots = [settings.plans_root] if settings.plans_root else []
    if settings.crm_source and Path(settings.crm_source).is_dir():
        crm = Path(settings.crm_source)
        roots += [crm / "plans", crm / "plan"]
    return choose_plan_dir(find_plan_dirs(roots), store.plan_statuses())


def _plan(
    settings: ServingSettings,
    store: DecisionStore,
    tables,
    override: str | None,
    problems: list[str],
) -> Plan | None:
    """The plan to serve, registered in the store; None (and a problem noted) when there is none."""
    plan_dir = plan_dir_for(settings, store, override)
    if plan_dir is None:
        problems.append(
            "plan: none found; run `territory plan --out DIR` and pass --plan DIR (or POST /reload)"
        )
        return None
    try:
        current = {str(a): str(r) for a, r in tables.current_owners().items()}
        plan = read_plan(plan_dir, current)
        store.register_plan(plan.plan_id, str(plan.path))
    except Exception as exc:  # noqa: BLE001
        problems.append(f"plan {plan_dir}: {exc}")
        return None
    return plan


def load_everything(
    settings: ServingSettings,
    store: DecisionStore,
    *,
    scores_override: str | None = None,
    plan_override: str | None = None,
    previous: ServingState | None = None,
    reload_model: bool = True,
) -> Loaded:
    """Model, tables, scores and plan as one new state (or the problems that stopped it)."""
    from features.loaders import load_crm

    problems: list[str] = []
    if previous is not None and not reload_model:
        model, version, uri = previous.model, previous.model_version, previous.model_uri
    else:
        try:
            model, version = load_model(settings)
            uri = settings.model_uri
        except Exception as exc:  # noqa: BLE001 - any failure is reported, not raised
            return Loaded(None, [f"model: {exc}"])
    if not settings.crm_source:
        return Loaded(None, ["CRM data: not configured; start with `territory serve --data DIR`"])
    try:
        tables = load_crm(settings.crm_source).tables
    except Exception as exc:  # noqa: BLE001
        return Loaded(None, [f"CRM data {settings.crm_source}: {exc}"])
    path = scores_path_for(settings, scores_override)
    if path is None:
        return Loaded(
            None,
            [
                f"scores: none found; run `territory score --data {settings.crm_source} "
                "--out FILE` and pass --scores FILE"
            ],
        )
    try:
        scores = read_scores(path)
    except Exception as exc:  # noqa: BLE001
        return Loaded(None, [f"scores: {exc}"])
    plan = _plan(settings, store, tables, plan_override, problems)
    state = build_state(
        model=model,
        model_uri=uri,
        model_version=version,
        tables=tables,
        scores=scores,
        scores_path=path,
        plan=plan,
        threads=settings.predict_threads,
    )
    if state.on_demand_error:
        problems.append(f"on-request scoring: {state.on_demand_error}")
    return Loaded(state, problems)
