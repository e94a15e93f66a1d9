"""Console output helpers shared by the CLI commands (rich tables, progress bars)."""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console(soft_wrap=True)  # commands and URLs whole on one line, even in a log


def print_frame(frame: pd.DataFrame, *, title: str = "", digits: int = 3) -> None:
    """Print a DataFrame as a rich table, floats rounded."""
    table = Table(title=title, title_justify="left")
    for col in frame.columns:
        table.add_column(str(col), justify="right" if frame[col].dtype.kind in "fiu" else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*(_cell(v, digits) for v in row))
    console.print(table)


def progress_bar() -> Progress:
    """A progress bar with a label, count and elapsed time."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _cell(value, digits: int) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.{digits}f}"
    return str(value)
