"""`make demo`: every stage a new user would run, in order, with what each one did.

sample world -> validate -> train (MLflow, promoted to champion) -> score -> plan -> serve.
Stages run through the real `territory` CLI, so the demo shows exactly what users type.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

console = Console()
SCENARIO = Path(__file__).resolve().parents[2] / "docs" / "scenarios" / "default.yaml"


def territory(*args: str) -> list[str]:
    """The command line for `territory ARGS` in this virtualenv."""
    exe = Path(sys.executable).with_name("territory")
    return [str(exe) if exe.exists() else "territory", *args]


def available_commands() -> set[str]:
    """Subcommands the installed CLI offers (later issues add stages)."""
    from training.cli import app

    return {c.name or c.callback.__name__ for c in app.registered_commands}


def run_stage(title: str, args: list[str]) -> None:
    """Run one stage, echo its command, fail loudly with its exit code."""
    console.rule(f"[bold]{title}")
    console.print(f"$ {' '.join(args[1:] if args[0].endswith('territory') else args)}", style="dim")
    start = time.perf_counter()
    code = subprocess.call(args)
    if code != 0:
        console.print(f"[red]stage '{title}' failed with exit code {code}[/]")
        sys.exit(code)
    console.print(f"[green]done[/] in {time.perf_counter() - start:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("data/demo"))
    parser.add_argument("--accounts", type=int, default=20000)
    parser.add_argument("--reps", type=int, default=60)
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--no-serve", action="store_true", help="stop after planning")
    opts = parser.parse_args()
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
    if skipped:
        console.print(f"[yellow]not built yet, skipped:[/] {', '.join(skipped)}")
    if "serve" in have and not opts.no_serve:
        console.rule("[bold]serve")
        console.print(f"widget and review page on http://127.0.0.1:{opts.port}/ (Ctrl-C to stop)")
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
