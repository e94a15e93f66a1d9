"""Mixed load on a running service: card reads with a share of manager decisions (default 5%),
closed-loop from keep-alive connections for a fixed time. Reports throughput, p50/p99, errors,
the service's memory (RSS of its process group) at start and end, and decision throughput and
latency early vs late in the run, when each account's decision history has grown.

Used by `python -m bench.bench_serving --mixed-seconds 120` and, briefly, by
tests/serving/test_mixed_load.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import numpy as np

HOST = "127.0.0.1"


def group_rss_mb(pgid: int) -> float:
    """Resident memory (MiB) of every process in the process group (the server and workers)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:  # field 5 of /proc/PID/stat: the process group
                continue
            status = (stat.parent / "status").read_text()
        except (OSError, IndexError, ValueError):
            continue  # a process that exited meanwhile
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def _request(port: int, key: str, path: str, body: dict) -> bytes:
    data = json.dumps(body).encode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {key}\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode() + data


async def _status(reader: asyncio.StreamReader) -> int:
    from bench.bench_serving import _read_response

    return await _read_response(reader)


async def _client(
    port: int, key: str, plan: dict, seed: int, deadline: float, log: list[tuple]
) -> None:
    rng = np.random.default_rng(seed)
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        while (now := time.perf_counter()) < deadline:
            if rng.random() < plan["decision_share"]:
                account = plan["moves"][int(rng.integers(len(plan["moves"])))]
                action = "approve" if rng.random() < 0.5 else "reject"
                kind, body = "decide", {"account_id": account, "action": action, "note": "load"}
            else:
                account = plan["accounts"][int(rng.integers(len(plan["accounts"])))]
                kind, body = "card", {"account_id": account}
            writer.write(_request(port, key, f"/{kind}", body))
            try:
                status = await _status(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                log.append((now, kind, time.perf_counter() - now, 0))
                writer.close()
                reader, writer = await asyncio.open_connection(HOST, port)
                continue
            log.append((now, kind, time.perf_counter() - now, status))
    finally:
        writer.close()


def run_mixed(
    port: int,
    *,
    key: str,
    accounts: list[str],
    moves: list[str],
    pgid: int,
    seconds: float = 120.0,
    clients: int = 16,
    decision_share: float = 0.05,
) -> dict:
    """Closed-loop mixed load for `seconds`; the figures described in the module docstring."""
    plan = {"accounts": accounts, "moves": moves, "decision_share": decision_share}
    rss_start = group_rss_mb(pgid)
    log: list[tuple] = []

    async def drive() -> float:
        start = time.perf_counter()
        deadline = start + seconds
        await asyncio.gather(*(_client(port, key, plan, i, deadline, log) for i in range(clients)))
        return start

    start = asyncio.run(drive())
    rss_end = group_rss_mb(pgid)
    at = np.array([t - start for t, *_ in log])
    kind = np.array([k for _, k, _, _ in log])
    ms = np.array([d for _, _, d, _ in log]) * 1000
    status = np.array([s for *_, s in log])
    third = seconds / 3
    early, late = at < third, at >= 2 * third
    decide = kind == "decide"
    return {
        "seconds": seconds,
        "clients": clients,
        "decision_share": decision_share,
        "requests": len(log),
        "rps": len(log) / seconds,
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "errors": int((status != 200).sum()),
        "error_statuses": sorted({int(s) for s in status if s != 200}),
        "decisions": int(decide.sum()),
        "decision_p99": float(np.percentile(ms[decide], 99)) if decide.any() else float("nan"),
        "decisions_per_s_early": float((decide & early).sum() / third),
        "decisions_per_s_late": float((decide & late).sum() / third),
        "decision_p50_early": _median(ms[decide & early]),
        "decision_p50_late": _median(ms[decide & late]),
        "rss_start_mb": rss_start,
        "rss_end_mb": rss_end,
    }


def _median(values: np.ndarray) -> float:
    return float(np.median(values)) if len(values) else float("nan")


def mixed_table(r: dict) -> str:
    """The mixed-load figures as a markdown table."""
    rows = [
        ("duration", f"{r['seconds']:.0f} s, {r['clients']} clients, "
                     f"{r['decision_share']:.0%} decisions"),
        ("requests", f"{r['requests']:,} ({r['rps']:,.0f} req/s)"),
        ("latency p50 / p99", f"{r['p50']:.1f} ms / {r['p99']:.1f} ms"),
        ("errors", f"{r['errors']} {r['error_statuses'] or ''}".strip()),
        ("decisions", f"{r['decisions']:,} (p99 {r['decision_p99']:.1f} ms)"),
        ("decisions/s first third -> last third",
         f"{r['decisions_per_s_early']:.1f} -> {r['decisions_per_s_late']:.1f}"),
        ("decision p50 first third -> last third",
         f"{r['decision_p50_early']:.1f} ms -> {r['decision_p50_late']:.1f} ms"),
        ("service RSS start -> end", f"{r['rss_start_mb']:.0f} MiB -> {r['rss_end_mb']:.0f} MiB"),
    ]  # fmt: skip
    return "| figure | value |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows)
