"""The `territory` command: a thin layer over the packages (nothing imports this package).

One Typer app; each verb lives in its own module here (sample, data, model, plan, kpis, serve)
and is registered below; demo.py drives the installed command end to end (`make demo`). Heavy
libraries are imported inside the commands so `territory --help` is quick.
"""

from __future__ import annotations

import sys

import click
import typer
from typer._click import exceptions as typer_click

from features.errors import TerritoryError

app = typer.Typer(
    name="territory",
    help="Score account potential, explain it, and plan who should own each account.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    from training.cli import cluster, data, export, kpis, model, plan, retrain, sample, serve

    for module in (sample, data, cluster, model, retrain, plan, kpis, serve, export):
        module.register(app)


_register()


def main() -> None:
    """Run the CLI; user-actionable errors print as one clear message and exit with status 2."""
    try:
        # standalone_mode=False hands back typer.Exit codes as the return value instead of exiting.
        code = app(standalone_mode=False)
    # typer >= 0.29 bundles its own click; catch both so usage errors never print a traceback.
    except (click.ClickException, typer_click.ClickException) as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except TerritoryError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, click.exceptions.Abort):
        typer.secho("aborted", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
