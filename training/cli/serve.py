"""CLI command: serve (registered by training.cli).

`territory serve` checks its options and replaces itself with `python -m serving` (the service's
own entry point: API keys, settings, then `bentoml serve serving.service:Territory`). Exec, not a
child process: signals (Ctrl-C, SIGTERM) reach the server directly, its output is this command's
and its exit code is this command's. Nothing here imports `serving`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer


def serving_command(
    data: str,
    *,
    scores: Path | None = None,
    plan: Path | None = None,
    port: int = 3000,
    host: str = "127.0.0.1",
    model: str | None = None,
    decisions: str | None = None,
    keys_file: Path | None = None,
) -> list[str]:
    """`python -m serving` with the same options, as an argv for this interpreter."""
    command = [sys.executable, "-m", "serving", "--data", data]
    for option, value in (
        ("--scores", scores),
        ("--plan", plan),
        ("--model", model),
        ("--decisions", decisions),
        ("--keys-file", keys_file),
    ):
        if value is not None:
            command += [option, str(value)]
    return [*command, "--host", host, "--port", str(port)]


def serve(
    data: Annotated[str, typer.Option("--data", help="CRM export directory or SQLAlchemy URL")],
    scores: Annotated[
        Path | None, typer.Option("--scores", help="`territory score` output")
    ] = None,
    plan: Annotated[
        Path | None, typer.Option("--plan", help="`territory plan --out` directory")
    ] = None,
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 3000,
    host: Annotated[str, typer.Option("--host", help="interface to listen on")] = "127.0.0.1",
    model: Annotated[str | None, typer.Option("--model", help="MLflow model URI")] = None,
    decisions: Annotated[
        str | None, typer.Option("--decisions", help="SQLAlchemy URL of the decisions store")
    ] = None,
    keys_file: Annotated[
        Path | None,
        typer.Option("--keys-file", help="API keys JSON file (generated when missing)"),
    ] = None,
) -> None:
    """Serve the API, the CRM widget and the manager review page (BentoML)."""
    for path, hint in ((scores, "--scores"), (plan, "--plan")):
        if path is not None and not path.exists():
            raise typer.BadParameter(f"{path} does not exist", param_hint=hint)
    command = serving_command(
        data,
        scores=scores,
        plan=plan,
        port=port,
        host=host,
        model=model,
        decisions=decisions,
        keys_file=keys_file,
    )
    sys.stdout.flush()
    os.execv(sys.executable, command)


keys_app = typer.Typer(help="API keys: create one and see it once.", no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option("--role", help="rep, manager or job")],
    rep: Annotated[str | None, typer.Option("--rep", help="CRM rep_id (rep keys)")] = None,
    name: Annotated[str | None, typer.Option("--name", help="who holds the key")] = None,
    keys_file: Annotated[
        Path | None,
        typer.Option("--keys-file", help="created when missing; default DATA/api_keys.json"),
    ] = None,
    data: Annotated[
        str | None, typer.Option("--data", help="the dataset whose workspace holds the keys")
    ] = None,
) -> None:
    """Add a key to the keys file and print it once (it is never printed again)."""
    command = [sys.executable, "-m", "serving", "keys", "create", "--role", role]
    options = (("--rep", rep), ("--name", name), ("--keys-file", keys_file), ("--data", data))
    for option, value in options:
        if value is not None:
            command += [option, str(value)]
    sys.stdout.flush()
    os.execv(sys.executable, command)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command()(serve)
    app.add_typer(keys_app, name="keys")
