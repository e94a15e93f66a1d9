"""A tiny served world for the service tests: CRM export, registered champion, scores, a plan.

The world comes from `territory sample` when that command exists, else from a small generator
here that writes the same contract tables. The model is trained on the fly and registered in a
throwaway MLflow store with alias `champion`; scores come from `territory score` (reasons added
in the documented shape when the scorer does not write them yet) and the plan from `territory
plan` when it exists, else from files this module writes in the plan directory's documented shape.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from serving.errors import Conflict, NotFound

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "serving"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
SEED = 11
N_ACCOUNTS = 300
N_REPS = 8
HUBSPOT_SECRET = "hubspot-test-client-secret-0123"
CRM_ORIGIN = "https://app.hubspot.com"
MISSING_SCORES = 4  # accounts left out of the scores file, to exercise "computed on request"


# -- the world ------------------------------------------------------------------------------------
def _cli_commands() -> set[str]:
    from training.cli import app

    return {c.name or c.callback.__name__ for c in app.registered_commands}


def _run_cli(args: list[str], env: dict[str, str]) -> None:
    from typer.testing import CliRunner

    from training.cli import app

    result = CliRunner().invoke(app, args, env=env, catch_exceptions=False)
    assert result.exit_code == 0, f"territory {' '.join(args)} failed:\n{result.output}"


def write_tiny_world(
    out: Path, *, n_accounts: int = N_ACCOUNTS, n_reps: int = N_REPS, seed: int = SEED
) -> Path:
    """A contract-valid export: accounts, reps, 3 years of opportunities and activities, owners."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    regions = {
        "West": (37.77, -122.42),
        "South": (29.76, -95.37),
        "Northeast": (40.71, -74.0),
        "Midwest": (41.88, -87.63),
    }
    industries = ["Manufacturing", "Healthcare", "Retail", "Technology", "Energy"]
    end = pd.Timestamp("2026-06-30")
    start = end - pd.DateOffset(years=3)
    reps = pd.DataFrame(
        {
            "rep_id": [f"R{i:03d}" for i in range(1, n_reps + 1)],
            "name": [
                f"{a} {b}"
                for a, b in zip(
                    [
                        "Alice",
                        "Ben",
                        "Carla",
                        "Dev",
                        "Elena",
                        "Farid",
                        "Grace",
                        "Hugo",
                        "Ines",
                        "Jon",
                    ]
                    * 3,
                    [
                        "Moreno",
                        "Okafor",
                        "Silva",
                        "Patel",
                        "Novak",
                        "Haddad",
                        "Kim",
                        "Laurent",
                        "Costa",
                        "Berg",
                    ]
                    * 3,
                    strict=False,
                )
            ][:n_reps],
            "hired_at": [
                (start - pd.Timedelta(days=int(d))).date().isoformat()
                for d in rng.integers(100, 3000, n_reps)
            ],
            "level": rng.choice(["SDR", "AE", "Senior AE", "Principal"], n_reps),
            "industries": [
                "|".join(rng.choice(industries, 2, replace=False)).lower() for _ in range(n_reps)
            ],
            "home_latitude": [list(regions.values())[i % 4][0] for i in range(n_reps)],
            "home_longitude": [list(regions.values())[i % 4][1] for i in range(n_reps)],
            "capacity": 60,
            "active": "true",
        }
    )
    region = rng.choice(list(regions), n_accounts)
    lat = np.array([regions[r][0] for r in region]) + rng.normal(0, 1.5, n_accounts)
    lon = np.array([regions[r][1] for r in region]) + rng.normal(0, 1.5, n_accounts)
    created = [start - pd.Timedelta(days=int(d)) for d in rng.integers(0, 1500, n_accounts)]
    created[-3:] = [end - pd.Timedelta(days=1)] * 3  # brand-new accounts, created after scoring
    employees = rng.lognormal(4, 1.2, n_accounts).astype(int) + 1
    accounts = pd.DataFrame(
        {
            "account_id": [f"A{i:05d}" for i in range(1, n_accounts + 1)],
            "name": [
                f"Account {i:03d} {rng.choice(['Labs', 'Group', 'Works', 'Co'])}"
                for i in range(1, n_accounts + 1)
            ],
            "industry": rng.choice(industries, n_accounts),
            "employees": employees,
            "annual_revenue": (employees * rng.lognormal(11, 0.5, n_accounts)).round(0),
            "latitude": lat.round(4),
            "longitude": lon.round(4),
            "city": [f"{r} City" for r in region],
            "region": region,
            "country": "United States",
            "created_at": [d.date().isoformat() for d in created],
        }
    )
    rep_ids = reps["rep_id"].to_numpy()
    owner = rng.choice(rep_ids, n_accounts)
    assignments = pd.DataFrame(
        {
            "account_id": accounts["account_id"],
            "rep_id": owner,
            "start_date": accounts["created_at"],
            "end_date": "",
        }
    )
    quality = np.minimum(rng.lognormal(0, 0.8, n_accounts) * np.log1p(employees) / 4, 4.0)
    opps, acts = [], []
    for i, account in enumerate(accounts["account_id"]):
        n = rng.poisson(2 + quality[i])
        for _ in range(n):
            opened = start + pd.Timedelta(days=int(rng.integers(0, 1050)))
            opened = max(opened, created[i] + pd.Timedelta(days=1))
            if opened >= end:
                continue
            closed = opened + pd.Timedelta(days=int(rng.integers(10, 120)))
            stage = "open" if closed >= end else rng.choice(["won", "lost"], p=[0.35, 0.65])
            opps.append(
                {
                    "opportunity_id": f"O{len(opps) + 1:06d}",
                    "account_id": account,
                    "rep_id": owner[i],
                    "created_at": opened.date().isoformat(),
                    "closed_at": "" if stage == "open" else closed.date().isoformat(),
                    "stage": stage,
                    "amount": round(float(rng.lognormal(8.5 + 0.3 * quality[i], 0.7)), 2),
                }
            )
        for _ in range(rng.poisson(4 + quality[i])):
            when = start + pd.Timedelta(days=int(rng.integers(0, 1090)))
            if when <= created[i]:
                continue
            acts.append(
                {
                    "activity_id": f"T{len(acts) + 1:06d}",
                    "account_id": account,
                    "rep_id": owner[i],
                    "occurred_at": when.date().isoformat(),
                    "type": rng.choice(["call", "email", "meeting", "visit", "other"]),
                }
            )
    accounts.to_csv(out / "accounts.csv", index=False)
    reps.to_csv(out / "reps.csv", index=False)
    assignments.to_csv(out / "assignments.csv", index=False)
    pd.DataFrame(opps).to_csv(out / "opportunities.csv", index=False)
    pd.DataFrame(acts).to_csv(out / "activities.csv", index=False)
    return out


@pytest.fixture(scope="session")
def world_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("served_world")


@pytest.fixture(scope="session")
def crm_dir(world_root: Path) -> Path:
    """The CRM export: `territory sample` when it exists, else the tiny generator above."""
    out = world_root / "crm"
    if "sample" in _cli_commands():
        _run_cli(
            [
                "sample",
                "--accounts",
                str(N_ACCOUNTS),
                "--reps",
                str(N_REPS),
                "--years",
                "3",
                "--seed",
                str(SEED),
                "--out",
                str(out),
            ],
            env={},
        )
    else:
        write_tiny_world(out)
    return out


@pytest.fixture(scope="session")
def tables(crm_dir: Path):
    from features.loaders import load_crm

    return load_crm(crm_dir).tables


@pytest.fixture(scope="session")
def data_dir(world_root: Path) -> Path:
    """TERRITORY_DATA_DIR: the MLflow store lives here."""
    path = world_root / "territory"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def champion(tables, data_dir: Path) -> str:
    """Train a small model on the world and register it as account-potential@champion."""
    import mlflow
    from mlflow import MlflowClient

    from features.history import label_won_revenue
    from features.pipeline import build_account_features
    from models.potential import PYFUNC_MODEL_FILE, PotentialModel, write_model_dir

    as_of = tables.latest_date() - pd.Timedelta(days=365)
    X = build_account_features(tables, as_of)
    y = label_won_revenue(tables.opportunities, as_of, 365).reindex(X.index, fill_value=0.0)
    model = PotentialModel(
        n_estimators=60, num_leaves=7, max_depth=3, min_child_samples=10, num_threads=1
    ).fit(X, y)
    uri = f"sqlite:///{data_dir / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment(
        "serving-tests", artifact_location=(data_dir / "mlartifacts").as_uri()
    )
    with mlflow.start_run(experiment_id=experiment):
        model_dir = write_model_dir(model, data_dir / "tmp_model" / "potential_model")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=PYFUNC_MODEL_FILE,  # model from code: nothing pickled
            artifacts={"potential_model": str(model_dir)},
            pip_requirements=["lightgbm"],
        )
    version = mlflow.register_model(info.model_uri, "account-potential").version
    MlflowClient().set_registered_model_alias("account-potential", "champion", version)
    return "models:/account-potential@champion"


def _documented_reasons(
    model, features: pd.DataFrame, scores: pd.DataFrame, as_of
) -> tuple[list[str], list[str]]:
    """top_reasons JSON and narrative per row, worded by the explainer as `territory score` will."""
    from models.explain import explain_frame

    explained = explain_frame(model, features, as_of, scores=scores, reasons_as_json=True)
    return explained["reasons"].tolist(), explained["narrative"].tolist()


@pytest.fixture(scope="session")
def scores_path(crm_dir: Path, data_dir: Path, champion: str, tables) -> Path:
    """`territory score` output, minus a few accounts; reasons added if the scorer has none yet."""
    out = crm_dir.parent / "scores.csv"
    _run_cli(
        ["score", "--data", str(crm_dir), "--out", str(out), "--model", champion],
        env={"TERRITORY_DATA_DIR": str(data_dir)},
    )
    scores = pd.read_csv(out, dtype={"account_id": str})
    if "top_reasons" not in scores.columns:
        from features.pipeline import build_account_features
        from models.potential import load_potential_model

        model, _ = load_potential_model(champion)
        as_of = pd.Timestamp(scores["as_of"].iloc[0])
        features = build_account_features(tables, as_of)
        reasons, narrative = _documented_reasons(
            model, features.loc[scores["account_id"]], scores, as_of
        )
        scores = scores.assign(top_reasons=reasons, narrative=narrative)
    scores = scores.sort_values("potential", ascending=False)
    # keep the best accounts (they are the ones moved); drop a few mid-table ones
    drop = scores["account_id"].iloc[len(scores) // 2 : len(scores) // 2 + MISSING_SCORES]
    scores[~scores["account_id"].isin(drop)].to_csv(out, index=False)
    return out


def write_plan(
    out: Path, tables, scores: pd.DataFrame, *, n_moves: int = 24, seed: int = SEED
) -> Path:
    """A plan folder as `territory plan` writes it, through the same writer: the best-scored
    accounts move to random reps, each for two of fit, balance, travel and continuity."""
    from models.planning import (
        Move,
        MoveReasons,
        Plan,
        metrics_document,
        summary,
        write_plan_folder,
    )

    rng = np.random.default_rng(seed)
    current = tables.current_owners()
    reps = tables.reps["rep_id"].tolist()
    ranked = scores.sort_values("potential", ascending=False)["account_id"]
    ranked = [a for a in ranked if a in current.index][:n_moves]
    planned = current.copy()
    terms = ("fit_value", "balance_restored", "travel_saved", "continuity_cost")
    moves = []
    for k, account in enumerate(ranked):
        frm = current[account]
        to = str(rng.choice([r for r in reps if r != frm]))
        planned[account] = to
        picked = {terms[k % 4], terms[(k + 1 + k // 4) % 4]}
        money = {t: round(float(rng.uniform(500, 20000)), 2) if t in picked else 0.0 for t in terms}
        why = MoveReasons(**money, capacity_freed=0.0, budget_used=0.0)
        moves.append(Move(account, frm, to, "move", why, summary(why, to, frm)))
    potential = scores.set_index("account_id")["potential"].reindex(planned.index).fillna(0.0)
    assignments = pd.DataFrame(
        {
            "account_id": planned.index,
            "rep_id": planned.to_numpy(),
            "current_rep": current.reindex(planned.index).to_numpy(),
            "change": np.where(planned.to_numpy() == current.to_numpy(), "kept", "moved"),
            "potential": potential.to_numpy(),
            "workload": 1.0,
            "fit": 1.0,
            "expected_value": potential.to_numpy(),
            "distance_km": 0.0,
            "region": "all",
        }
    )
    plan = Plan(
        "optimal",
        dict(zip(planned.index, planned.to_numpy(), strict=True)),
        objective=123456.0,
        bound=123456.0,
        gap=0.0,
        moves=tuple(moves),
        assignments=assignments,
    )
    document = metrics_document(plan, "fixture", {"travel_km_change": -842.0})
    write_plan_folder(plan, out, document, f"# Plan\n\n{len(moves)} moves proposed.\n")
    return out


@pytest.fixture(scope="session")
def unscored(scores_path, tables) -> list[str]:
    """Accounts the batch job did not score (left out of the file, or created after its as_of)."""
    scored = set(pd.read_csv(scores_path, dtype={"account_id": str})["account_id"])
    return [a for a in tables.accounts["account_id"] if a not in scored]


@pytest.fixture(scope="session")
def plan_dir(crm_dir: Path, scores_path: Path, tables) -> Path:
    out = crm_dir.parent / "plan"
    write_plan(out, tables, pd.read_csv(scores_path, dtype={"account_id": str}))
    return out


@pytest.fixture(scope="session")
def real_plan_dir(crm_dir: Path, scores_path: Path, data_dir: Path) -> Path:
    """A plan written by `territory plan` itself (relaxed limits, fallback fit: quick, feasible)."""
    if "plan" not in _cli_commands():
        pytest.skip("`territory plan` is not part of this build yet")
    out = crm_dir.parent / "real_plan"
    scenario = crm_dir.parent / "serving_test_scenario.yaml"
    scenario.write_text(
        "name: serving-test\nlimits:\n  workload_band: 0.3\n  potential_band: 0.3\n"
        "  max_moved_share: 0.15\nsolver:\n  time_limit_s: 10\n"
    )
    _run_cli(
        [
            "plan",
            "--data",
            str(crm_dir),
            "--scores",
            str(scores_path),
            "--scenario",
            str(scenario),
            "--out",
            str(out),
            "--fit",
            "fallback",
        ],
        env={"TERRITORY_DATA_DIR": str(data_dir)},
    )
    return out


@pytest.fixture(scope="session")
def plan_moves(plan_dir: Path) -> pd.DataFrame:
    return pd.read_csv(plan_dir / "moves.csv", dtype=str)


# -- keys and environment -------------------------------------------------------------------------
@pytest.fixture(scope="session")
def keys(plan_moves: pd.DataFrame, tables) -> dict[str, str]:
    """One key per role; `rep` owns the first move's account, `other_rep` is in no move of it."""
    rep = plan_moves["from_rep_id"].iloc[0]
    involved = {plan_moves["from_rep_id"].iloc[0], plan_moves["to_rep_id"].iloc[0]}
    active = tables.reps.loc[tables.reps["active"].fillna(True).astype(bool), "rep_id"]
    other = next(r for r in active if r not in involved)
    return {
        "manager": "manager-key-0123456789abcdef",
        "job": "job-key-0123456789abcdef01",
        "rep": f"rep-key-{rep}-0123456789ab",
        "other_rep": f"rep-key-{other}-0123456789ab",
        "rep_id": rep,
        "other_rep_id": other,
    }


def keys_json(keys: dict[str, str]) -> str:
    return json.dumps(
        {
            keys["manager"]: {"name": "Maria Manager", "role": "manager"},
            keys["job"]: {"name": "Nightly job", "role": "job"},
            keys["rep"]: {"name": "Rep One", "role": "rep", "rep_id": keys["rep_id"]},
            keys["other_rep"]: {"name": "Rep Two", "role": "rep", "rep_id": keys["other_rep_id"]},
        }
    )


@pytest.fixture(scope="session")
def base_env(crm_dir, data_dir, champion, scores_path, plan_dir, keys) -> dict[str, str]:
    """Everything the service reads, as TERRITORY_ variables (what `territory serve` sets)."""
    return {
        "TERRITORY_DATA_DIR": str(data_dir),
        "TERRITORY_CRM_SOURCE": str(crm_dir),
        "TERRITORY_SCORES_PATH": str(scores_path),
        "TERRITORY_PLAN_DIR": str(plan_dir),
        "TERRITORY_API_KEYS": keys_json(keys),
        "TERRITORY_HUBSPOT_CLIENT_SECRET": HUBSPOT_SECRET,
        "TERRITORY_CORS_ORIGINS": json.dumps([CRM_ORIGIN]),
    }


@pytest.fixture(scope="session")
def make_client(base_env):
    """Factory: a TestClient on the service's ASGI app with base_env plus overrides.

    One per process: BentoML registers its Prometheus metrics when an app starts, and a second
    app in the same process fails with DuplicateTimeseries.
    """
    from starlette.testclient import TestClient

    from serving.service import Territory

    opened = []

    def make(**overrides: str):
        with pytest.MonkeyPatch.context() as mp:
            for key in [k for k in os.environ if k.startswith("TERRITORY_")]:
                mp.delenv(key)
            for key, value in {**base_env, **overrides}.items():
                mp.setenv(key, value)
            client = TestClient(Territory.to_asgi(), base_url="http://testserver")
            client.__enter__()  # runs the lifespan: builds the service instance with this env
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# -- decisions store checks shared by the SQLite and PostgreSQL tests -----------------------------
def _decide(store, account="A1", action="approve", final="R2", **kw):
    return store.decide(
        plan_id="p1",
        account_id=account,
        action=action,
        from_rep_id="R1",
        proposed_rep_id="R2",
        final_rep_id=final,
        note=kw.pop("note", ""),
        actor="M (manager)",
        role="manager",
        model_version="v1",
        **kw,
    )


def _exercise_store(store) -> None:
    """The same checks against SQLite and PostgreSQL."""
    store.register_plan("p1", "/plans/p1")
    first = _decide(store, note="ok")
    with pytest.raises(Conflict, match="changed since you loaded it"):
        _decide(store, action="reject", final="R1", expected_decision_id=0)
    store.contest(
        plan_id="p1",
        account_id="A1",
        rep_id="R1",
        reason="deal closing",
        actor="R (rep, R1)",
        model_version="v1",
    )
    assert store.open_contest_counts("p1") == {"A1": 1}
    second = _decide(
        store, action="reject", final="R1", note="stays", expected_decision_id=first.decision_id
    )
    assert store.decisions("p1") == {"A1": second}
    assert store.open_contest_counts("p1") == {}
    assert store.contests("p1", status=None)[0].resolution == "reject: stays"
    trail = store.audit(plan_id="p1")
    assert [e.action for e in trail] == [
        "contest.resolve",
        "decision.reject",
        "contest.open",
        "decision.approve",
    ]
    assert (
        trail[1].previous_value["action"] == "approve"
        and trail[1].new_value["final_rep_id"] == "R1"
    )
    assert (
        trail[1].model_version == "v1"
        and trail[1].actor == "M (manager)"
        and trail[-1].previous_value is None
    )
    assert (
        store.approve_plan("p1", actor="M", role="manager", model_version="v1", note="").status
        == "approved"
    )
    with pytest.raises(NotFound):
        store.approve_plan("nope", actor="M", role="manager", model_version="v1", note="")


@pytest.fixture(scope="session")
def exercise_store():
    """The store checks as a function of a DecisionStore."""
    return _exercise_store


# -- real server and browser ----------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """test-artifacts/serving (gitignored): screenshots and server logs worth keeping."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium: apt-installed when missing and we are root; else skip (fail in CI)."""
    path = Path("/usr/bin/chromium")
    if not path.exists():
        if os.geteuid() != 0:
            if IN_CI:
                pytest.fail(
                    "CI=true but /usr/bin/chromium is missing and we are not root to install it"
                )
            pytest.skip(
                "/usr/bin/chromium missing and not root: install chromium to run browser tests"
            )
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        done = subprocess.run(
            "apt-get update && apt-get install -y chromium",
            shell=True,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0 or not path.exists():
            message = f"could not install chromium with apt-get: {done.stderr[-2000:]}"
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        if IN_CI:
            pytest.fail("CI=true but the playwright package is missing")
        pytest.skip("playwright python package missing")
    return str(path)


class Server:
    """`territory serve` running as a subprocess on a free loopback port."""

    def __init__(self, env: dict[str, str], args: list[str], log: Path) -> None:
        self.env, self.args = env, args
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        exe = Path(sys.executable).with_name("territory")
        command = [str(exe), "serve", *args, "--port", str(self.port), "--host", "127.0.0.1"]
        clean = {k: v for k, v in os.environ.items() if not k.startswith("TERRITORY_")}
        self._log_file = log.open("w")
        self.proc = subprocess.Popen(
            command,
            env={**clean, **env},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        import time

        import httpx

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"server exited with {self.proc.returncode}:\n{self.log.read_text()[-4000:]}"
                )
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(
            f"server not ready after {timeout_s} s:\n{self.log.read_text()[-4000:]}"
        )

    def restarted(self) -> Server:
        """Stop this server and start another with the same settings (and database)."""
        self.stop()
        return Server(self.env, self.args, self.log.with_name(self.log.stem + "-restarted.log"))

    def stop(self) -> None:
        import signal

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log_file.close()


@pytest.fixture
def served(base_env, tmp_path) -> Iterator[Server]:
    """A real server with a fresh decisions database (stopped after the test)."""
    env = {**base_env, "TERRITORY_DECISIONS_URL": f"sqlite:///{tmp_path / 'decisions.db'}"}
    crm, scores, plan = (
        env.pop("TERRITORY_CRM_SOURCE"),
        env.pop("TERRITORY_SCORES_PATH"),
        env.pop("TERRITORY_PLAN_DIR"),
    )
    server = Server(
        env, ["--data", crm, "--scores", scores, "--plan", plan], tmp_path / "server.log"
    )
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(server.log, ARTIFACTS / "server.log")
