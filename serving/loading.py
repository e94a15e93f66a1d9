"""Load what the service serves: model from MLflow, CRM tables, scores, plan (its I/O edge).

Each step records a readable problem instead of raising, so a half-configured service still
starts, answers /readyz with 503 and says in /status what to fix.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from models.potential import PotentialModel
from serving.decisions import DecisionStore
from serving.errors import BadRequest, Unavailable, database_down
from serving.plans import Plan, choose_plan_dir, find_plan_dirs, read_plan
from serving.scores import file_stamp
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
    forget_mlflow_stores()
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


def forget_mlflow_stores() -> None:
    """Drop MLflow's cached tracking and registry stores, so a load opens the store afresh.

    MLflow caches one store (and its SQLAlchemy engine) per URI for the life of the process; after
    the store was deleted and restored, the cached engine keeps reading the deleted file (a
    process keeps a deleted SQLite file open, STYLE.md) and /reload would fail until a restart.
    """
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    for module, name in (
        (tracking_utils, "_tracking_store_registry"),
        (registry_utils, "_model_registry_store_registry"),
    ):
        registry = getattr(module, name, None)
        cached = getattr(registry, "_get_store_with_resolved_uri", None)
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()
    # Each SQLAlchemy store class also keeps one engine per URI, shared by every store object.
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore

    for store_class in (RegistryStore, TrackingStore):
        engines = getattr(store_class, "_engine_map", None)
        if not isinstance(engines, dict):
            continue
        with store_class._engine_map_lock:
            for engine in engines.values():
                engine.dispose()
            engines.clear()


def readable_roots(settings: ServingSettings) -> list[Path]:
    """Folders /reload may read scores from: the data dir, the CRM export and the start-up
    scores file's folder. Nothing else on the server is readable through the API."""
    roots = [settings.data_dir]
    if settings.crm_source and Path(settings.crm_source).is_dir():
        roots.append(Path(settings.crm_source))
    if settings.scores_path:
        roots.append(Path(settings.scores_path).parent)
    return [r.resolve() for r in roots]


def plan_roots(settings: ServingSettings) -> list[Path]:
    """Folders /reload may read a plan from: the readable roots, TERRITORY_PLANS_ROOT and the
    folder holding the start-up plan directory (where `territory plan --out` writes versions)."""
    roots = readable_roots(settings)
    if settings.plans_root:
        roots.append(Path(settings.plans_root).resolve())
    if settings.plan_dir:
        roots.append(Path(settings.plan_dir).resolve().parent)
    return roots


def check_reload_paths(settings: ServingSettings | None = None, **paths: str | None) -> None:
    """BadRequest naming the first given path the server cannot see, or a scores file or plan
    folder outside the folders the service reads from (readable_roots, plan_roots). Paths are
    resolved first, so `..` and symlinks cannot step outside."""
    for what, given in paths.items():
        if given and not Path(given).exists():
            raise BadRequest(
                f"{what} {given} does not exist on the server; pass a path the service can read."
            )
    if settings is None:
        return
    allowed = {"scores_path": readable_roots(settings), "plan_dir": plan_roots(settings)}
    for what, roots in allowed.items():
        given = paths.get(what)
        if given and not any(Path(given).resolve().is_relative_to(r) for r in roots):
            raise BadRequest(
                f"{what} {given} is outside the folders the service reads from "
                f"({', '.join(map(str, roots))}); write it under one of them (or set "
                "TERRITORY_PLANS_ROOT for plans) and reload again."
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
    settings: ServingSettings, store: DecisionStore | None, override: str | None = None
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
    try:
        statuses = store.plan_statuses() if store is not None else {}
    except Exception as exc:  # noqa: BLE001 - the database down: choose without approvals
        if database_down(exc) is None:
            raise
        statuses = {}
    return choose_plan_dir(find_plan_dirs(roots), statuses)


def _plan(
    settings: ServingSettings,
    store: DecisionStore | None,
    tables,
    override: str | None,
    problems: list[str],
) -> Plan | None:
    """The plan to serve; None (and a problem noted) when there is none. The service registers
    it in the decisions store (StoreLink.register), now or once the database is back."""
    plan_dir = plan_dir_for(settings, store, override)
    if plan_dir is None:
        problems.append(
            "plan: none found; run `territory plan --out DIR` and pass --plan DIR (or POST /reload)"
        )
        return None
    try:
        current = {str(a): str(r) for a, r in tables.current_owners().items()}
        plan = read_plan(plan_dir, current)
    except Exception as exc:  # noqa: BLE001
        problems.append(f"plan {plan_dir}: {exc}")
        return None
    return plan


def load_everything(
    settings: ServingSettings,
    store: DecisionStore | None,
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
    stamp = file_stamp(path)  # before reading: see ScoreTable.stamp
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
        max_age_days=(settings.scores_max_age_days, settings.data_max_age_days),
        scores_stamp=stamp,
    )
    if state.on_demand_error:
        problems.append(f"on-request scoring: {state.on_demand_error}")
    return Loaded(state, problems)


# -- the decisions store as the service reaches it ------------------------------------------------
def with_timeouts(url: str, timeout_s: float) -> str:
    """A PostgreSQL URL with a connect timeout and a statement timeout, so a slow or unreachable
    database fails a request in seconds instead of holding a worker thread for minutes."""
    parsed = sa.engine.make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        return url
    query = dict(parsed.query)
    query.setdefault("connect_timeout", str(max(1, int(timeout_s))))
    query.setdefault("options", f"-c statement_timeout={int(timeout_s * 1000)}")
    return parsed.update_query_dict(query).render_as_string(hide_password=False)


def _sqlite_file(url: str) -> Path | None:
    parsed = sa.engine.make_url(url)
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        return Path(parsed.database)
    return None


class StoreLink:
    """The decisions store as the service reaches it: opened lazily, checked in the background,
    reopened after an outage. `get()` raises Unavailable (503, Retry-After) while it is down, so
    the service starts and serves cards without it and recovers without a restart.
    """

    def __init__(self, url: str, *, timeout_s: float = 5.0) -> None:
        self.url = with_timeouts(url, timeout_s)
        self.shown_url = sa.engine.make_url(url).render_as_string(hide_password=True)
        self._file = _sqlite_file(url)
        self._identity: tuple[int, int] | None = None
        self._store: DecisionStore | None = None
        self.problem: str | None = "not connected yet"
        self._opened_once = False
        self._lock = threading.Lock()

    @property
    def healthy(self) -> bool:
        return self._store is not None and self.problem is None

    def describe(self) -> str | None:
        """The problem as /status lists it, or None when the store is up."""
        if self.healthy:
            return None
        return f"decisions store {self.shown_url}: {self.problem}"

    def get(self) -> DecisionStore:
        """The store; Unavailable while it is down (the background check reconnects it)."""
        store = self._store
        if store is None or self.problem is not None or not self._same_file():
            raise Unavailable(
                f"the decisions store ({self.shown_url}) is unavailable: {self.problem}. "
                "Decisions, contests, the audit trail and plan metrics need it; cards and scores "
                f"do not. Retry in {Unavailable.retry_after_s} s; if it persists, check "
                "TERRITORY_DECISIONS_URL and the database server."
            )
        return store

    def failed(self, reason: str) -> None:
        """A request saw the database fail: report it until the next successful check."""
        self.problem = reason

    def check(self) -> bool:
        """Connect (or reconnect) and ping; True when the store answers. Never raises."""
        with self._lock:
            try:
                if self._file is not None and not self._file_ok():
                    return False
                if self._store is None:
                    self._store = DecisionStore(self.url)  # creates its tables when missing
                    self._identity = self._stat()
                    self._opened_once = True
                with self._store.engine.connect() as conn:
                    conn.execute(sa.text("SELECT 1"))
                self.problem = None
                return True
            except Exception as exc:  # noqa: BLE001 - any failure is the store being down
                self.problem = database_down(exc) or f"{type(exc).__name__}: {exc}"[:300]
                return False

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self._file) if self._file else None
        except OSError:
            return None
        return (st.st_dev, st.st_ino) if st else None

    def _same_file(self) -> bool:
        if self._file is None or self._identity is None:
            return True
        if self._stat() == self._identity:
            return True
        self.problem = f"{self._file} was moved, deleted or replaced"
        return False

    def _file_ok(self) -> bool:
        """SQLite: the file must be where it was; a replaced file is reopened, not the old fd."""
        identity = self._stat()
        if identity is None:
            if self._file.parent.is_dir() and not self._opened_once:
                return True  # first start: DecisionStore creates the file
            self.problem = (
                f"{self._file} does not exist or cannot be read (moved, deleted or its folder "
                "unmounted); restore it"
            )
            self._drop()
            return False
        if self._identity is not None and identity != self._identity:
            self._drop()  # a restored or replaced file: reopen it rather than the deleted one
        return True

    def _drop(self) -> None:
        if self._store is not None:
            self._store.close()
        self._store = None
        self._identity = None
