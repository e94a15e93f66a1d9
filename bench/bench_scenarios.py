"""Card latency while a 20,000-account scenario solves in the background, against the same
service idle, in the same run (issue 17: a preview solve inside the service held a card 4.7 s).

Setup (shared with bench_serving, reused when present): the sample world `data/bench_world`
(20,000 accounts, 60 reps, seed 7), a small champion model, `territory score` output and a plan.
Then one `territory serve` on a free loopback port with a fresh decisions database, and:

1. cards with nothing else running (1 and 4 keep-alive connections);
2. POST /scenario_solve with docs/scenarios/default.yaml on all 20,000 accounts (timed: it must
   answer at once), wait until its worker process has loaded the data and the solver runs
   (progress >= 20%), and the same card load again while it solves (the job's status and
   progress are read before and after each load and printed in the table);
3. the solve's own duration until done.

Writes bench/results/scenarios.md. Every ratio compares figures measured in the same run.

    .venv/bin/python -m bench.bench_scenarios                 # ~4 min on 2 cores after setup
    .venv/bin/python -m bench.bench_scenarios --requests 1000 # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import httpx
import pandas as pd
import yaml

from bench.bench_serving import HOST, Process, ensure_world, free_port, run_load, territory

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "scenarios.md"
KEY = "bench-manager-key-0123456789abcdef"


def call(port: int, path: str, body: dict | None = None) -> tuple[dict, float]:
    start = time.perf_counter()
    response = httpx.post(
        f"http://{HOST}:{port}{path}",
        json=body or {},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=60,
    )
    elapsed = (time.perf_counter() - start) * 1000
    response.raise_for_status()
    return response.json(), elapsed


def wait_status(port: int, job_id: str, wanted: set[str], timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job, _ = call(port, "/scenario_job", {"job_id": job_id})
        if job["status"] in wanted:
            return job
        time.sleep(0.5)
    raise RuntimeError(f"job {job_id} not in {wanted} after {timeout_s} s: {job}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, default=ROOT / "data" / "bench_world")
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "bench_scenarios")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--time-limit", type=float, default=30.0, help="solver seconds")
    opts = parser.parse_args()
    scores, plan, env = ensure_world(opts.world, opts.work)
    accounts = pd.read_parquet(scores, columns=["account_id"])["account_id"].astype(str).tolist()
    scenario = yaml.safe_load((ROOT / "docs" / "scenarios" / "default.yaml").read_text())
    scenario["name"] = f"bench {time.time():.0f}"  # a fresh solve, never the cache
    tmp = Path(tempfile.mkdtemp(prefix="bench-scenarios-"))
    port = free_port()
    keys = {KEY: {"name": "Bench manager", "role": "manager"}}
    server_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TERRITORY_")},
        **env,
        "TERRITORY_DECISIONS_URL": f"sqlite:///{tmp / 'decisions.db'}",
        "TERRITORY_API_KEYS": json.dumps(keys),
    }
    command = territory("serve", "--data", str(opts.world), "--scores", str(scores))
    command += ["--plan", str(plan / "current"), "--port", str(port), "--host", HOST]
    server = Process(command, server_env, tmp / "server.log")
    rows = []
    try:
        server.wait_http(f"http://{HOST}:{port}/readyz", timeout_s=300)
        for clients in (1, 4):
            rows.append(
                {
                    "state": "idle",
                    **run_load(port, accounts, clients=clients, requests=opts.requests),
                }
            )
        job, submit_ms = call(
            port,
            "/scenario_solve",
            {"document": scenario, "time_limit_s": opts.time_limit, "timeout_s": 1800},
        )
        started = time.monotonic()
        job = wait_status(port, job["job_id"], {"running", "done", "failed"}, 300)
        deadline = time.monotonic() + 600  # load while the solver itself runs, not the loading
        while job["status"] == "running" and job["fraction"] < 0.2:
            if time.monotonic() > deadline:
                break
            time.sleep(1)
            job = call(port, "/scenario_job", {"job_id": job["job_id"]})[0]
        for clients in (1, 4):
            before = call(port, "/scenario_job", {"job_id": job["job_id"]})[0]
            result = run_load(port, accounts, clients=clients, requests=opts.requests)
            after = call(port, "/scenario_job", {"job_id": job["job_id"]})[0]
            rows.append(
                {
                    "state": "solving",
                    **result,
                    "job": f"{before['status']} {before['fraction']:.0%} -> "
                    f"{after['status']} {after['fraction']:.0%}",
                }
            )
        done = wait_status(port, job["job_id"], {"done", "failed", "timed_out"}, 1800)
        solve_s = time.monotonic() - started
    finally:
        server.stop()
    report = write_report(rows, submit_ms, done, solve_s, opts, len(accounts))
    print(report)


def write_report(rows, submit_ms, done, solve_s, opts, n_accounts) -> str:
    idle = {r["clients"]: r for r in rows if r["state"] == "idle"}
    lines = [
        "# Card latency while a scenario solves (bench/bench_scenarios.py)",
        "",
        f"{n_accounts:,} accounts; the scenario docs/scenarios/default.yaml solved by a worker "
        f"process (solver {opts.time_limit:.0f} s); {opts.requests:,} cards per row, loopback, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}.",
        "",
        "| service | clients | p50 ms | p99 ms | cards/s | p50 vs idle | p99 vs idle "
        "| job during the load |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        base = idle[r["clients"]]
        lines.append(
            f"| {r['state']} | {r['clients']} | {r['p50']:.2f} | {r['p99']:.2f} | {r['rps']:.0f} "
            f"| {r['p50'] / base['p50']:.2f}x | {r['p99'] / base['p99']:.2f}x "
            f"| {r.get('job', '-')} |"
        )
    summary = done.get("summary") or {}
    lines += [
        "",
        f"POST /scenario_solve answered in {submit_ms:.0f} ms (the job is queued; the worker "
        f"process solves). The job ended {done['status']} ({summary.get('status')}, "
        f"{summary.get('moves')} moves) {solve_s:.0f} s after it was queued.",
        "",
    ]
    text = "\n".join(lines)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    return text


if __name__ == "__main__":
    main()
