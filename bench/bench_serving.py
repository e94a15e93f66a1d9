"""Account card latency: the real `territory serve` vs a bare Starlette app serving the same dicts.

Setup (reused when present): the shared sample world (`data/bench_world`, 20,000 accounts, seed 7,
as bench_train and bench_explain use), a small model registered as champion in a private MLflow
store, `territory score` output with reasons, and a plan (`territory plan` when it exists, else
a synthetic one with 400 moves). Then:

1. start `territory serve` on a free 127.0.0.1 port and fetch the card of 2,000 accounts;
2. start a bare Starlette app (uvicorn, one worker, no access log) that answers POST /card with
   exactly those JSON bodies from a dict: the floor any Python framework could reach here;
3. drive both with the same closed-loop load (1 and 16 concurrent keep-alive connections, a fixed
   number of requests, loopback only) from one asyncio client that writes raw HTTP/1.1;
4. also time cards computed on request (accounts left out of the scores file) on the service;
5. mixed load (cards and 5% decisions) for --mixed-seconds, then decisions only for
   --decisions-seconds on the history it left, each early third against the last third.

Writes bench/results/serving.md. Every ratio compares figures measured in the same run.

    .venv/bin/python -m bench.bench_serving                 # ~5 min on 2 cores (first run longer)
    .venv/bin/python -m bench.bench_serving --requests 500  # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import ensure_default_world

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "serving.md"
HOST = "127.0.0.1"  # loopback only: this benchmark never sends a request anywhere else
KEY = "bench-manager-key-0123456789abcdef"
SCENARIO = ROOT / "docs" / "scenarios" / "balanced.yaml"
LEFT_OUT = 50  # accounts removed from the scores file: their cards are computed on request


def territory(*args: str) -> list[str]:
    exe = Path(sys.executable).with_name("territory")
    return [str(exe) if exe.exists() else "territory", *args]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# -- the world ------------------------------------------------------------------------------------
def ensure_world(
    world: Path, work: Path, scenario: Path = SCENARIO
) -> tuple[Path, Path, dict[str, str]]:
    """(scores file, plan dir, env) for a served world, built once under `work`."""
    ensure_default_world(world)
    work.mkdir(parents=True, exist_ok=True)
    env = {"TERRITORY_DATA_DIR": str(work.resolve())}
    scores, plan = work / "scores.parquet", work / "plan"
    if not scores.exists():
        register_small_model(world, work)
        subprocess.run(
            territory(
                "score",
                "--data",
                str(world),
                "--out",
                str(scores),
                "--model",
                "models:/account-potential@champion",
            ),
            check=True,
            env={**os.environ, **env},
        )
    if not (plan / "current").exists():  # plan versions: OUT/v0001 and OUT/current
        write_plan(world, scores, plan, env, scenario)
    return scores, plan, env


def register_small_model(world: Path, work: Path) -> None:
    """A 100-tree model on one snapshot, registered as champion (card latency does not use it)."""
    import mlflow
    from mlflow import MlflowClient

    from features.history import label_won_revenue
    from features.loaders import load_crm
    from features.pipeline import build_account_features
    from models.potential import PYFUNC_MODEL_FILE, PotentialModel, write_model_dir

    tables = load_crm(world).tables
    as_of = tables.latest_date() - pd.Timedelta(days=365)
    X = build_account_features(tables, as_of)
    y = label_won_revenue(tables.opportunities, as_of, 365).reindex(X.index, fill_value=0.0)
    model = PotentialModel(n_estimators=100, num_leaves=15, max_depth=5).fit(X, y)
    mlflow.set_tracking_uri(f"sqlite:///{(work / 'mlflow.db').resolve()}")
    experiment = mlflow.create_experiment(
        "bench-serving", artifact_location=(work / "mlartifacts").resolve().as_uri()
    )
    with mlflow.start_run(experiment_id=experiment), tempfile.TemporaryDirectory() as tmp:
        model_dir = write_model_dir(model, Path(tmp) / "potential_model")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=PYFUNC_MODEL_FILE,
            artifacts={"potential_model": str(model_dir)},
            pip_requirements=["lightgbm"],
        )
    version = mlflow.register_model(info.model_uri, "account-potential").version
    MlflowClient().set_registered_model_alias("account-potential", "champion", version)


def write_plan(
    world: Path, scores: Path, plan: Path, env: dict[str, str], scenario: Path = SCENARIO
) -> None:
    """`territory plan` with the scenario (balanced): a real plan version under ``plan``."""
    args = ["plan", "--data", str(world), "--scores", str(scores), "--out", str(plan)]
    subprocess.run(
        territory(*args, "--scenario", str(scenario)), env={**os.environ, **env}, check=True
    )


# -- servers --------------------------------------------------------------------------------------
class Process:
    """A server subprocess in its own process group, with its log in a temp file."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("w")
        self.proc = subprocess.Popen(
            command,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=ROOT,
        )

    def wait_http(self, url: str, timeout_s: float = 180) -> None:
        import httpx

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{url} not ready after {timeout_s} s:\n{self.log.read_text()[-3000:]}")

    def wait_port(self, port: int, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log.read_text()[-3000:]}")
            with socket.socket() as s:
                if s.connect_ex((HOST, port)) == 0:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"port {port} not open after {timeout_s} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self._out.close()


BARE_APP = textwrap.dedent('''
    """Bare Starlette: POST /card answers from a dict of precomputed card bodies."""
    import json, os
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    with open(os.environ["BENCH_CARDS"]) as f:
        CARDS = json.load(f)

    async def card(request: Request) -> Response:
        body = json.loads(await request.body())
        found = CARDS.get(body["account_id"])
        if found is None:
            return JSONResponse({"error": "unknown"}, status_code=404)
        return JSONResponse(found)

    app = Starlette(routes=[Route("/card", card, methods=["POST"])])
''')


def plan_move_accounts(plan: Path) -> list[str]:
    """Accounts with a proposed move in the served plan (OUT/current or the folder itself)."""
    folder = plan / "current" if (plan / "current").is_dir() else plan
    return pd.read_csv(folder / "moves.csv", dtype={"account_id": str})["account_id"].tolist()


# -- load -----------------------------------------------------------------------------------------
async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = None
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        elif name.strip().lower() == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if length is not None:
        await reader.readexactly(length)
    elif chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def _connection(port: int, requests: list[bytes], latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)  # asyncio sets TCP_NODELAY
    try:
        for request in requests:
            start = time.perf_counter()
            writer.write(request)
            status = await _read_response(reader)
            latencies.append(time.perf_counter() - start)
            if status != 200:
                raise RuntimeError(f"HTTP {status} from port {port}")
    finally:
        writer.close()


def card_request(port: int, account_id: str) -> bytes:
    body = json.dumps({"account_id": account_id}).encode()
    return (
        f"POST /card HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {KEY}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def run_load(
    port: int,
    accounts: list[str],
    *,
    clients: int,
    requests: int,
    warmup: int = 200,
    in_order: bool = False,
) -> dict:
    """p50/p99 latency and throughput of `requests` cards over `clients` keep-alive connections.

    Accounts are drawn at random with replacement, or taken once each in order with `in_order`.
    """
    rng = np.random.default_rng(clients)

    def batch(n: int) -> list[list[bytes]]:
        picks = accounts[:n] if in_order else rng.choice(accounts, n)
        return [[card_request(port, a) for a in picks[i::clients]] for i in range(clients)]

    async def drive(groups: list[list[bytes]]) -> tuple[list[float], float]:
        latencies: list[float] = []
        start = time.perf_counter()
        await asyncio.gather(*(_connection(port, g, latencies) for g in groups))
        return latencies, time.perf_counter() - start

    asyncio.run(drive(batch(warmup)))
    latencies, elapsed = asyncio.run(drive(batch(requests)))
    ms = np.array(latencies) * 1000
    return {
        "clients": clients,
        "requests": len(ms),
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "rps": len(ms) / elapsed,
    }


# -- report ---------------------------------------------------------------------------------------
def busy_processes() -> str:
    out = subprocess.run(
        ["ps", "-eo", "pcpu,comm", "--sort=-pcpu"], capture_output=True, text=True
    ).stdout
    rows = [line.split(None, 1) for line in out.splitlines()[1:6]]
    return ", ".join(f"{name.strip()} {cpu}%" for cpu, name in rows)


def _row(r: dict, bare: dict) -> str:
    cells = [
        r["server"],
        r["clients"],
        r["requests"],
        f"{r['p50']:.2f}",
        f"{r['p99']:.2f}",
        f"{r['rps']:.0f}",
        f"{r['p50'] / bare['p50']:.2f}",
        f"{r['p99'] / bare['p99']:.2f}",
        f"{r['rps'] / bare['rps']:.2f}",
    ]
    return "| " + " | ".join(str(c) for c in cells) + " |"


ON_REQUEST_NOTE = (
    "First card of an account the batch job did not score (computed on request: predict, "
    "TreeSHAP and the explainer's wording; {n} distinct accounts, 1 client): p50 {p50:.1f} ms, "
    "p99 {p99:.1f} ms. Most of it is `explain_frame`'s fixed cost per call (a model dump for "
    "split hashes, DataFrame to matrix); the result is kept until the next reload, so later "
    "views are lookups."
)
SETUP_NOTE = (
    "Setup: world `{world}` ({accounts} accounts); {cards} cards fetched once from the service "
    "and served by both. Service: `territory serve` (BentoML, 1 worker, access log off, "
    "tracing middleware skipped on /card, API key check before the body is read; `/card` "
    "answered by serving/card_fast.py in front of BentoML's endpoint machinery from the card "
    "cache, warm here because every card was fetched once before the timed runs, as the bare "
    "app's dict is filled before). Bare: Starlette + uvicorn, "
    "1 worker, no access log, no auth. Machine: {cpus} CPUs ({arch}), Python {python}, "
    "{versions}. Load average at start {load:.2f}; busiest processes at start: {busy}. The "
    "load client shares the cores with the server, so req/s at 16 clients is bounded by both."
)
COLUMNS = (
    "server",
    "clients",
    "requests",
    "p50 ms",
    "p99 ms",
    "req/s",
    "p50 ratio",
    "p99 ratio",
    "req/s ratio",
)
HEADER = "| " + " | ".join(COLUMNS) + " |"


def write_report(rows: list[dict], on_request: dict | None, opts, world: Path, busy: str) -> str:
    import bentoml
    import starlette
    import uvicorn

    by = {(r["server"], r["clients"]): r for r in rows}
    lines = [
        "# Account card latency: BentoML service vs bare Starlette",
        "",
        "`POST /card` for random accounts of the sample world, the same JSON bodies from both",
        "servers; closed loop over keep-alive connections on 127.0.0.1, raw HTTP/1.1 client,",
        "warm-up discarded. Ratios are service / bare, measured in the same run.",
        "",
        HEADER,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(_row(r, by[("bare Starlette", r["clients"])]) for r in rows),
    ]
    if on_request:
        n, p50, p99 = on_request["requests"], on_request["p50"], on_request["p99"]
        lines += ["", ON_REQUEST_NOTE.format(n=n, p50=p50, p99=p99)]
    versions = ", ".join(f"{m.__name__} {m.__version__}" for m in (bentoml, starlette, uvicorn))
    setup = SETUP_NOTE.format(
        world=world,
        accounts=opts.accounts_seen,
        cards=opts.cards,
        cpus=os.cpu_count(),
        arch=platform.machine(),
        python=platform.python_version(),
        versions=versions,
        load=os.getloadavg()[0],
        busy=busy,
    )
    reproduce = f"Reproduce: `.venv/bin/python -m bench.bench_serving --requests {opts.requests}`"
    return "\n".join([*lines, "", setup, "", reproduce]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--world", type=Path, default=ROOT / "data" / "bench_world")
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "bench_serving")
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per run")
    parser.add_argument("--cards", type=int, default=2000, help="accounts to fetch and replay")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--scenario",
        type=Path,
        default=SCENARIO,
        help="plan scenario (a small world may need looser limits)",
    )
    parser.add_argument(
        "--mixed-seconds",
        type=float,
        default=120.0,
        help="mixed load (cards + 5%% decisions, 16 clients) for this long; 0 skips it",
    )
    parser.add_argument(
        "--decisions-seconds",
        type=float,
        default=60.0,
        help="then decisions only (16 clients), on the history the mixed load left; 0 skips it",
    )
    opts = parser.parse_args()
    busy = busy_processes()
    scores_path, plan, env = ensure_world(opts.world, opts.work, opts.scenario)
    scores = pd.read_parquet(scores_path)
    left_out = scores["account_id"].sample(LEFT_OUT, random_state=1).tolist()
    served_scores = opts.work / "scores_served.parquet"
    scores[~scores["account_id"].isin(left_out)].to_parquet(served_scores, index=False)
    opts.accounts_seen = len(scores)
    accounts = (
        scores.loc[~scores["account_id"].isin(left_out), "account_id"]
        .sample(opts.cards, random_state=2)
        .tolist()
    )
    tmp = Path(tempfile.mkdtemp(prefix="bench_serving_"))
    keys = {KEY: {"name": "Bench", "role": "manager"}}
    base = {k: v for k, v in os.environ.items() if not k.startswith("TERRITORY_")}
    port = free_port()
    service = Process(
        territory(
            "serve",
            "--data",
            str(opts.world),
            "--scores",
            str(served_scores),
            "--plan",
            str(plan),
            "--port",
            str(port),
            "--host",
            HOST,
            "--decisions",
            f"sqlite:///{tmp / 'd.db'}",
        ),
        {**base, **env, "TERRITORY_API_KEYS": json.dumps(keys)},
        tmp / "service.log",
    )
    rows: list[dict] = []
    try:
        service.wait_http(f"http://{HOST}:{port}/readyz")
        import httpx

        with httpx.Client(
            base_url=f"http://{HOST}:{port}", headers={"Authorization": f"Bearer {KEY}"}
        ) as http:
            cards = {a: http.post("/card", json={"account_id": a}).json() for a in accounts}
        (tmp / "cards.json").write_text(json.dumps(cards))
        for clients in (1, 16):
            rows.append(
                {
                    "server": "BentoML service",
                    **run_load(port, accounts, clients=clients, requests=opts.requests),
                }
            )
        on_request = run_load(port, left_out, clients=1, requests=LEFT_OUT, warmup=0, in_order=True)
        mixed = decisions = None
        from bench.bench_mixed import run_mixed

        if opts.mixed_seconds > 0:
            mixed = run_mixed(
                port,
                key=KEY,
                accounts=accounts,
                moves=plan_move_accounts(plan),
                pgid=service.proc.pid,
                seconds=opts.mixed_seconds,
            )
        if opts.decisions_seconds > 0:
            decisions = run_mixed(
                port,
                key=KEY,
                accounts=[],
                moves=plan_move_accounts(plan),
                pgid=service.proc.pid,
                seconds=opts.decisions_seconds,
                decision_share=1.0,
            )
    finally:
        service.stop()
    (tmp / "bare.py").write_text(BARE_APP)
    bare_port = free_port()
    bare = Process(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bare:app",
            "--app-dir",
            str(tmp),
            "--host",
            HOST,
            "--port",
            str(bare_port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        {**base, "BENCH_CARDS": str(tmp / "cards.json")},
        tmp / "bare.log",
    )
    try:
        bare.wait_port(bare_port)
        for clients in (1, 16):
            rows.append(
                {
                    "server": "bare Starlette",
                    **run_load(bare_port, accounts, clients=clients, requests=opts.requests),
                }
            )
    finally:
        bare.stop()
    rows.sort(key=lambda r: (r["clients"], r["server"] != "BentoML service"))
    report = write_report(rows, on_request, opts, opts.world, busy)
    if mixed is not None:
        from bench.bench_mixed import mixed_table

        report += (
            "\n## Mixed load: cards and 5% decisions\n\n" + mixed_table(mixed) + "\n\n"
            "Decision throughput and latency are compared between the first and last third of "
            "the run, as each account's decision history grows.\n"
        )
    if decisions is not None:
        from bench.bench_mixed import mixed_table

        report += (
            "\n## Decisions only\n\n" + mixed_table(decisions) + "\n\n"
            "Every request a decision (approve or reject a random move of the plan), on the "
            "decisions store the mixed load left behind: throughput must not fall as the "
            "history grows.\n"
        )
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
