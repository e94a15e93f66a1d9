"""`make demo`: every stage a new user would run, in order, with what each one did.

sample world -> validate -> train (MLflow, promoted to champion) -> score -> plan -> serve.
Stages run through the real `territory` CLI, so the demo shows exactly what users type. Output is
plain lines (URLs are never wrapped, so they survive copying from a log); the port is checked
before any long step; long steps print their elapsed time against an estimate.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from training.cli.demo_output import (
    departed_note,
    port_problem,
    rep_widget_lines,
    venv_note,
)

console = Console(soft_wrap=True)
SCENARIO = Path(__file__).resolve().parents[2] / "docs" / "scenarios" / "default.yaml"


def territory(*args: str) -> list[str]:
    """The command line for `territory ARGS` in this virtualenv."""
    exe = Path(sys.executable).with_name("territory")
    return [str(exe) if exe.exists() else "territory", *args]


def available_commands() -> set[str]:
    """Subcommands the installed CLI offers (later issues add stages)."""
    from training.cli import app

    return {c.name or c.callback.__name__ for c in app.registered_commands}


def shown(args: list[str]) -> str:
    """The command as a user can paste it: `.venv/bin/territory ...` relative to here."""
    exe = Path(args[0])
    with contextlib.suppress(ValueError):
        exe = exe.relative_to(Path.cwd())
    return " ".join([str(exe), *args[1:]])


def run_stage(title: str, args: list[str]) -> None:
    """Run one stage, echo its command, fail loudly with its exit code. Long stages (train,
    score, plan) print their own estimate and elapsed time (training.cli.progress)."""
    console.rule(f"[bold]{title}")
    print(f"$ {shown(args)}", flush=True)
    start = time.perf_counter()
    code = subprocess.call(args)
    if code != 0:
        console.print(f"[red]stage '{title}' failed with exit code {code}[/]")
        sys.exit(code)
    print(f"done in {time.perf_counter() - start:.1f} s", flush=True)


def check_port(port: int, host: str = "127.0.0.1") -> None:
    """Exit at once (before minutes of pipeline) when the port is taken, saying how to pick one."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            print(port_problem(port), file=sys.stderr)
            sys.exit(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("data/demo"))
    parser.add_argument("--accounts", type=int, default=20000)
    parser.add_argument("--reps", type=int, default=60)
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--no-serve", action="store_true", help="stop after planning")
    opts = parser.parse_args()
    if not opts.no_serve:
        check_port(opts.port)
    print(venv_note(territory("x")[0]), flush=True)
    have = available_commands()
    out = opts.out
    if out.exists():
        shutil.rmtree(out)
    stages = [
        (
            "sample",
            "sample world",
            [
                "sample",
                "--accounts",
                str(opts.accounts),
                "--reps",
                str(opts.reps),
                "--years",
                "3",
                "--seed",
                "7",
                "--out",
                str(out),
            ],
        ),
        ("validate", "validate the export", ["validate", "--data", str(out)]),
        (
            "train",
            "train, evaluate, register (champion)",
            ["train", "--data", str(out), "--promote"],
        ),
        (
            "score",
            "score every account with reasons",
            ["score", "--data", str(out), "--out", str(out / "scores.parquet")],
        ),
        (
            "plan",
            "optimise the plan",
            [
                "plan",
                "--data",
                str(out),
                "--scores",
                str(out / "scores.parquet"),
                "--scenario",
                str(SCENARIO),
                "--out",
                str(out / "plan"),
            ],
        ),
    ]
    skipped = []
    for command, title, args in stages:
        if command not in have:
            skipped.append(command)
            continue
        run_stage(title, territory(*args))
        if command == "sample":
            note = departed_note(out / "reps.csv", opts.reps)
            if note:
                print(note, flush=True)
    if skipped:
        console.print(f"[yellow]not built yet, skipped:[/] {', '.join(skipped)}")
    if "serve" in have and not opts.no_serve:
        console.rule("[bold]serve")
        base = f"http://127.0.0.1:{opts.port}"
        print("when the server says it is ready (Ctrl-C to stop):", flush=True)
        print(f"review page: {base}/review/", flush=True)
        print(f"API docs:    {base}/", flush=True)
        for line in rep_widget_lines(out, base):
            print(line, flush=True)
        print(
            "keys: `.venv/bin/territory keys create --data "
            f"{out} --role manager --name YOU` (or --role rep --rep REP_ID); paste it on the page",
            flush=True,
        )
        subprocess.call(
            territory(
                "serve",
                "--data",
                str(out),
                "--scores",
                str(out / "scores.parquet"),
                "--plan",
                str(out / "plan"),
                "--port",
                str(opts.port),
            )
        )


if __name__ == "__main__":
    main()
