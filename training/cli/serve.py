"""CLI commands: serve (registered by training.cli).

`territory serve` turns its options into TERRITORY_ variables and replaces itself with
`bentoml serve serving.service:Territory`, so signals (Ctrl-C, SIGTERM) reach BentoML directly.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from training.console import console


def _rep_names(data: str) -> list[tuple[str, str]]:
    """(rep_id, name) of every active rep in the CRM source, for generated keys."""
    from features.loaders import load_crm, read_file

    folder = Path(data)
    found = [folder / f"reps.{ext}" for ext in ("csv", "parquet")] if folder.is_dir() else []
    found = [p for p in found if p.is_file()]
    reps = read_file(found[0]) if found else load_crm(data).tables.reps
    if "active" in reps:
        inactive = (
            reps["active"].astype(str).str.strip().str.lower().isin({"false", "0", "no", "n", "f"})
        )
        reps = reps[~inactive]
    names = reps["name"] if "name" in reps else reps["rep_id"]
    return [(str(r), str(n)) for r, n in zip(reps["rep_id"], names, strict=True)]


def _ensure_keys(settings, data: str, keys_file: Path | None) -> Path | None:
    """The keys file to use: given, configured, or generated once under the data dir (printed)."""
    from serving.auth import generate_keys, write_keys_file

    if keys_file is not None:
        if not keys_file.is_file():
            raise typer.BadParameter(f"{keys_file} does not exist", param_hint="--keys-file")
        return keys_file
    if settings.api_keys or settings.api_keys_file:
        return None
    path = settings.data_dir / "api_keys.json"
    if not path.is_file():
        write_keys_file(path, generate_keys(_rep_names(data)))
        console.print(f"[green]generated API keys[/] in {path} (owner-readable only)")
    return path


def _print_access(keys_path: Path | None, host: str, port: int) -> None:
    import json

    base = f"http://{host}:{port}"
    console.print(
        f"API and OpenAPI docs: {base}/   readiness: {base}/readyz   metrics: {base}/metrics"
    )
    if keys_path is None:
        console.print("API keys: from TERRITORY_API_KEYS / TERRITORY_API_KEYS_FILE")
        return
    keys = json.loads(keys_path.read_text())
    by_role: dict[str, list[tuple[str, dict]]] = {}
    for key, entry in keys.items():
        by_role.setdefault(entry["role"], []).append((key, entry))
    for key, _ in by_role.get("manager", [])[:1]:
        console.print(f"manager review page: {base}/review/#key={key}")
    for key, _ in by_role.get("job", [])[:1]:
        console.print(f"job key: {key}")
    for key, entry in by_role.get("rep", [])[:3]:
        console.print(
            f"rep {entry['rep_id']} ({entry['name']}) widget: "
            f"{base}/widget/?account=ACCOUNT_ID#key={key}"
        )
    console.print(f"all keys: {keys_path}")


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
        Path | None, typer.Option("--keys-file", help="API keys JSON file")
    ] = None,
) -> None:
    """Serve the API, the CRM widget and the manager review page (BentoML)."""
    from serving.settings import ServingSettings

    for path, hint in ((scores, "--scores"), (plan, "--plan")):
        if path is not None and not path.exists():
            raise typer.BadParameter(f"{path} does not exist", param_hint=hint)
    settings = ServingSettings()
    env = dict(os.environ)
    env["TERRITORY_CRM_SOURCE"] = data
    for name, value in (
        ("SCORES_PATH", scores),
        ("PLAN_DIR", plan),
        ("MODEL_URI", model),
        ("DECISIONS_URL", decisions),
    ):
        if value is not None:
            env[f"TERRITORY_{name}"] = (
                str(Path(value).resolve()) if isinstance(value, Path) else value
            )
    keys_path = _ensure_keys(settings, data, keys_file)
    if keys_path is not None:
        env["TERRITORY_API_KEYS_FILE"] = str(keys_path.resolve())
    env["TERRITORY_DATA_DIR"] = str(settings.data_dir.resolve())
    env.setdefault("OMP_NUM_THREADS", "1")  # see STYLE.md: OpenMP threads fight the server's
    _print_access(keys_path, host, port)
    command = [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        "serving.service:Territory",
        "--host",
        host,
        "--port",
        str(port),
    ]
    sys.stdout.flush()
    os.execve(sys.executable, command, env)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command()(serve)
