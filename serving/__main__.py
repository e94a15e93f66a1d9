"""`python -m serving`: the service's own entry point (what `territory serve` runs).

It turns its options into TERRITORY_ variables, finds the dataset's workspace (keys, decisions,
the model trained on it: docs/workspace.md), makes sure API keys exist (generated once in the
workspace, owner-readable, never printed), prints where everything is, and replaces itself with
`bentoml serve serving.service:Territory`, so signals (Ctrl-C, SIGTERM) reach BentoML directly and
its exit code is this command's.

`python -m serving keys create --role rep --rep R0001` adds one key to the keys file and prints it,
once, to the person creating it (`territory keys create` runs this).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from serving.settings import ServingSettings

console = Console(soft_wrap=True)  # URLs and commands whole on one line, even in a log


class UsageError(Exception):
    """A bad option: printed as `error: ...` with exit code 2, like the CLI's usage errors."""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The options of `territory serve`, with the same names and defaults."""
    parser = argparse.ArgumentParser(
        prog="python -m serving",
        description="Serve the API, the CRM widget and the manager review page (BentoML).",
    )
    parser.add_argument("--data", required=True, help="CRM export directory or SQLAlchemy URL")
    parser.add_argument("--scores", type=Path, help="`territory score` output")
    parser.add_argument("--plan", type=Path, help="`territory plan --out` directory")
    parser.add_argument("--port", type=_port, default=3000)
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--model", help="MLflow model URI")
    parser.add_argument("--decisions", help="SQLAlchemy URL of the decisions store")
    parser.add_argument("--keys-file", type=Path, help="API keys JSON file")
    return parser.parse_args(argv)


def _port(text: str) -> int:
    port = int(text)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not in the range 1<=x<=65535")
    return port


def rep_names(data: str) -> list[tuple[str, str]]:
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


def ensure_keys(settings: ServingSettings, data: str, keys_file: Path | None) -> Path | None:
    """The keys file to use: given (generated when missing), configured, or the dataset's
    workspace file (features.workspace), generated once for its active reps (the path printed)."""
    from features.workspace import workspace_for
    from serving.auth import generate_keys, write_keys_file

    if keys_file is None and (settings.api_keys or settings.api_keys_file):
        return None
    path = keys_file if keys_file is not None else workspace_for(data, settings.data_dir).keys_file
    if path.exists() and not path.is_file():
        raise UsageError(f"--keys-file: {path} is a directory; pass a JSON file path")
    if not path.is_file():
        write_keys_file(path, generate_keys(rep_names(data)))
        console.print(
            f"[green]generated API keys[/] in {path} (owner-readable only; keys are never "
            "printed or logged)"
        )
    return path


def print_access(keys_path: Path | None, host: str, port: int) -> None:
    """Where the API, review page and widget are, and how to get a key: never a key itself
    (stdout ends up in logs; `keys create` shows a new key once, to whoever asked for it)."""
    from serving.auth import key_counts

    base = f"http://{host}:{port}"
    console.print(
        f"API and OpenAPI docs: {base}/   readiness: {base}/readyz   metrics: {base}/metrics"
    )
    console.print(f"manager review page: {base}/review/   rep widget: {base}/widget/?account=ID")
    where = f" --keys-file {keys_path}" if keys_path is not None else ""
    console.print(
        f"a key for yourself (shown once): territory keys create{where} --role manager "
        "--name NAME (or --role rep --rep REP_ID, --role job)",
        soft_wrap=True,
    )
    if keys_path is None:
        console.print("API keys: from TERRITORY_API_KEYS / TERRITORY_API_KEYS_FILE")
        return
    counts = ", ".join(f"{n} {role}" for role, n in sorted(key_counts(keys_path).items()))
    console.print(f"API keys: {keys_path} ({counts}; not printed)")


def server_env(opts: argparse.Namespace, environ: dict[str, str]) -> dict[str, str]:
    """The server's environment: `environ` plus the options as TERRITORY_ variables and keys."""
    for path, option in ((opts.scores, "--scores"), (opts.plan, "--plan")):
        if path is not None and not path.exists():
            raise UsageError(f"{option}: {path} does not exist")
    settings = ServingSettings()
    env = dict(environ)
    env["TERRITORY_CRM_SOURCE"] = opts.data
    for name, value in (
        ("SCORES_PATH", opts.scores),
        ("PLAN_DIR", opts.plan),
        ("MODEL_URI", opts.model),
        ("DECISIONS_URL", opts.decisions),
    ):
        if value is not None:
            env[f"TERRITORY_{name}"] = (
                str(Path(value).resolve()) if isinstance(value, Path) else value
            )
    from serving.workspace_setup import NoMatchingModel, served_from

    try:
        found = served_from(settings, opts.data, opts.model)
    except NoMatchingModel as exc:
        raise UsageError(str(exc)) from exc
    if found.model_uri is not None and opts.model is None:
        env["TERRITORY_MODEL_URI"] = found.model_uri
    if found.note:
        console.print(f"[yellow]warning:[/] {found.note}", soft_wrap=True)
    if opts.decisions is None and not settings.decisions_url:
        env["TERRITORY_DECISIONS_URL"] = found.workspace.decisions_url
    keys_path = ensure_keys(settings, opts.data, opts.keys_file)
    if keys_path is not None:
        env["TERRITORY_API_KEYS_FILE"] = str(keys_path.resolve())
    env["TERRITORY_DATA_DIR"] = str(settings.data_dir.resolve())
    env.setdefault("OMP_NUM_THREADS", "1")  # see STYLE.md: OpenMP threads fight the server's
    print_access(keys_path, opts.host, opts.port)
    return env


def parse_keys_args(argv: Sequence[str]) -> argparse.Namespace:
    """The options of `keys create`."""
    parser = argparse.ArgumentParser(
        prog="python -m serving keys",
        description="Create an API key and print it once (it is not shown again).",
    )
    sub = parser.add_subparsers(dest="verb", required=True)
    create = sub.add_parser("create", help="add a key to the keys file and print it once")
    create.add_argument("--role", required=True, choices=["rep", "manager", "job"])
    create.add_argument("--rep", dest="rep_id", help="the CRM rep_id (rep keys only)")
    create.add_argument("--name", help="who holds the key (default: the role or rep id)")
    create.add_argument(
        "--keys-file",
        type=Path,
        help="created when missing; default: TERRITORY_API_KEYS_FILE, else the --data "
        "workspace's api_keys.json, else TERRITORY_DATA_DIR/api_keys.json",
    )
    create.add_argument("--data", help="the dataset whose workspace holds the keys file")
    return parser.parse_args(argv)


def keys_main(argv: Sequence[str]) -> None:
    """`keys create`: the new key on stdout (alone on its line, for scripts); the rest on stderr."""
    from serving.auth import create_key
    from serving.errors import BadRequest

    opts = parse_keys_args(argv)
    settings = ServingSettings()
    path = keys_path_for(opts, settings)
    try:
        key = create_key(
            path, role=opts.role, name=opts.name or opts.rep_id or opts.role, rep_id=opts.rep_id
        )
    except BadRequest as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(
        f"new {opts.role} key added to {path}; it is shown only now, store it in your password "
        "manager (a running service accepts it on first use):",
        file=sys.stderr,
    )
    print(key)


def keys_path_for(opts: argparse.Namespace, settings: ServingSettings) -> Path:
    """Where `keys create` writes: --keys-file, the env's file, the --data workspace, DATA_DIR."""
    from features.workspace import workspace_for

    if opts.keys_file is not None:
        return opts.keys_file
    if settings.api_keys_file:
        return settings.api_keys_file
    if opts.data:
        return workspace_for(opts.data, settings.data_dir).keys_file
    return settings.data_dir / "api_keys.json"


def main(argv: Sequence[str] | None = None) -> None:
    """Parse, prepare the environment, then become `bentoml serve` (never returns on success)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["keys"]:
        keys_main(argv[1:])
        return
    opts = parse_args(argv)
    try:
        env = server_env(opts, dict(os.environ))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    command = [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        "serving.service:Territory",
        "--host",
        opts.host,
        "--port",
        str(opts.port),
    ]
    sys.stdout.flush()
    os.execve(sys.executable, command, env)


if __name__ == "__main__":
    main()
