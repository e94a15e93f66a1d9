"""map.png of a plan: today and planned side by side, accounts coloured by owner with a legend,
moved accounts ringed and joined to their new owner's base, rep bases as stars. Where the data
has no coordinates (the Maven CRM export) the image says so instead of drawing empty axes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from models.planning import Plan

NO_COORDINATES = (
    "No map: the accounts have no latitude/longitude\n(e.g. the Maven CRM export). Add them to "
    "accounts.csv\n(docs/data_contract.md) to map territories."
)
LEGEND_REPS = 60
"""Reps named in the legend: those owning accounts today or planned (more: the first ones and how
many more)."""
MOVE_LINES = 300
"""Moves joined to their new owner's base: the highest-potential ones (every move is ringed)."""


def _zoom_to_bulk(ax, pos: pd.DataFrame) -> None:
    """Frame the middle 99% of accounts (far outliers, e.g. islands, would shrink the rest)."""
    for axis, column in ((ax.set_xlim, "longitude"), (ax.set_ylim, "latitude")):
        values = pos[column].dropna()
        if len(values):
            low, high = values.quantile([0.005, 0.995])
            pad = 0.05 * max(high - low, 1e-3)
            axis(low - pad, high + pad)


def rep_colours(rep_ids: list[str]):
    """One colour per rep: tab20, then tab20b and tab20c, then golden-angle hues."""
    import matplotlib

    base = [
        *matplotlib.colormaps["tab20"].colors,
        *matplotlib.colormaps["tab20b"].colors,
        *matplotlib.colormaps["tab20c"].colors,
    ]
    out = {}
    for i, rep in enumerate(rep_ids):
        if i < len(base):
            out[rep] = base[i]
        else:
            out[rep] = matplotlib.colors.hsv_to_rgb(((i * 0.618034) % 1.0, 0.65, 0.75))
    return out


def _no_coordinates():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3))
    ax.axis("off")
    ax.text(0.5, 0.5, NO_COORDINATES, ha="center", va="center", fontsize=12)
    return fig


def write_map(plan: Plan, accounts: pd.DataFrame, reps: pd.DataFrame, path: Path) -> Path:
    """map.png (``map_figure``) written to ``path``."""
    import matplotlib.pyplot as plt

    fig = map_figure(plan, accounts, reps)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def map_figure(plan: Plan, accounts: pd.DataFrame, reps: pd.DataFrame):
    """Two panels, today and planned, with a legend of reps, moves and rep bases (a figure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    table = plan.assignments
    pos = accounts.set_index("account_id")[["latitude", "longitude"]].reindex(table["account_id"])
    pos = pos.apply(pd.to_numeric, errors="coerce")
    if pos.dropna().empty:
        return _no_coordinates()
    rep_ids = reps["rep_id"].astype(str).tolist()
    colours = rep_colours(rep_ids)
    grey = (0.6, 0.6, 0.6, 1.0)
    homes = reps.set_index(reps["rep_id"].astype(str))
    lat, lon = pos["latitude"].to_numpy(), pos["longitude"].to_numpy()
    moved = (table["rep_id"].to_numpy() != table["current_rep"].to_numpy()) & ~np.isnan(lat)
    potential = table["potential"].to_numpy(float) if "potential" in table else np.ones(len(table))
    drawn = np.flatnonzero(moved)
    drawn = drawn[np.argsort(-potential[drawn])][:MOVE_LINES]
    fig, axes = plt.subplots(1, 2, figsize=(15, 7.5), sharex=True, sharey=True)
    for ax, column, title in ((axes[0], "current_rep", "today"), (axes[1], "rep_id", "planned")):
        owner = table[column].astype(str).to_numpy()
        ax.scatter(lon, lat, c=[colours.get(r, grey) for r in owner], s=4, linewidths=0, alpha=0.8)
        if column == "rep_id" and moved.any():
            to = homes.reindex(owner[drawn])
            for x, y, hx, hy, rep in zip(
                lon[drawn], lat[drawn], to["longitude"], to["latitude"], owner[drawn], strict=True
            ):
                if pd.notna(hx) and pd.notna(hy):
                    ax.plot([x, hx], [y, hy], color=colours.get(rep, grey), lw=0.5, alpha=0.6)
            ax.scatter(
                lon[moved], lat[moved], s=10, facecolors="none", edgecolors="black", linewidths=0.4
            )
        active = reps[reps["active"].fillna(True).astype(bool)]
        ax.scatter(active["longitude"], active["latitude"], marker="*", s=90, c="black", zorder=3)
        note = ""
        if column == "rep_id":
            note = f" ({int(moved.sum())} moves ringed"
            note += (
                f", the {len(drawn)} largest joined to the new owner)"
                if len(drawn) < moved.sum()
                else ")"
            )
        ax.set_title(f"Territories {title}{note}")
        ax.set_xlabel("longitude")
        _zoom_to_bulk(ax, pos)
    axes[0].set_ylabel("latitude")
    handles = [
        Line2D([], [], marker="*", color="black", ls="", markersize=9, label="rep base"),
        Line2D([], [], marker="o", mfc="none", mec="black", ls="", label="moved account"),
    ]
    owning = set(table["current_rep"].astype(str)) | set(table["rep_id"].astype(str))
    owning_ids = [r for r in rep_ids if r in owning]
    shown = owning_ids[:LEGEND_REPS]
    handles += [
        Line2D([], [], marker="o", color=colours[r], ls="", markersize=5, label=r) for r in shown
    ]
    if len(owning_ids) > len(shown):
        handles.append(Line2D([], [], ls="", label=f"+{len(owning_ids) - len(shown)} more reps"))
    fig.legend(
        handles=handles, loc="lower center", ncol=min(10, len(handles)), fontsize=7, frameon=False
    )
    rows = -(-len(handles) // 10)
    fig.tight_layout(rect=(0, 0.03 * rows + 0.02, 1, 1))
    return fig
