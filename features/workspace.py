"""One workspace per dataset: where a CRM source's keys, decisions, scores and plans live.

The layout is defined here once (docs/workspace.md shows it) and every verb finds its files from
`--data` alone:

    DIR/                      the CRM export directory (`territory sample` / `territory import`)
      api_keys.json           API keys of this dataset's reps and managers (`territory keys create`)
      decisions.db            managers' decisions and their audit trail (SQLite)
      scores.parquet          `territory score` output
      plan/v0001 ... current  `territory plan` versions

A database source (a SQLAlchemy URL) has no directory of its own: its workspace is
`<TERRITORY_DATA_DIR>/workspaces/<database name>-<digest>/`. The MLflow store stays shared
(`<TERRITORY_DATA_DIR>/mlflow.db`); the model used for a dataset is the one whose lineage names
it (`matching_model_uri`), so two datasets never serve each other's model.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

KEYS_FILE = "api_keys.json"
DECISIONS_FILE = "decisions.db"
SCORES_FILE = "scores.parquet"
PLANS_DIR = "plan"
LINEAGE_SOURCE_TAG = "lineage.data_source"


def data_source_id(data: str) -> str:
    """A stable name for a CRM source: a directory's absolute path, or a database URL without
    its password (so the same data reached twice gets the same name)."""
    if "://" in data:
        url = make_url(data)
        if url.drivername.startswith("sqlite") and url.database:
            return f"sqlite:///{Path(url.database).resolve()}"
        return url.render_as_string(hide_password=True).replace("***", "")
    return str(Path(data).expanduser().resolve())


@dataclass(frozen=True)
class Workspace:
    """The files of one dataset's workspace (paths only; nothing is created here)."""

    data: str
    source_id: str
    root: Path

    @property
    def keys_file(self) -> Path:
        return self.root / KEYS_FILE

    @property
    def decisions_db(self) -> Path:
        return self.root / DECISIONS_FILE

    @property
    def decisions_url(self) -> str:
        return f"sqlite:///{self.decisions_db.resolve()}"

    @property
    def scores(self) -> Path:
        return self.root / SCORES_FILE

    @property
    def plans(self) -> Path:
        return self.root / PLANS_DIR


def workspace_for(data: str, home: Path = Path("data")) -> Workspace:
    """The workspace of CRM source `data` (a directory, or a URL under `home`/workspaces)."""
    source = data_source_id(data)
    if "://" not in data:
        return Workspace(data, source, Path(data))
    url = make_url(data)
    stem = Path(url.database or url.drivername).stem or "database"
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-") or "database"
    digest = hashlib.sha256(source.encode()).hexdigest()[:8]
    return Workspace(data, source, home / "workspaces" / f"{slug}-{digest}")


def matching_model_uri(client: Any, model_name: str, source_id: str) -> str | None:
    """The registered model trained on `source_id`: `@champion` when the champion was, else the
    newest version whose lineage names it; None when no version was (`client`: an MlflowClient).
    """
    try:
        champion = client.get_model_version_by_alias(model_name, "champion")
    except Exception:  # noqa: BLE001 - no such alias or no such model: look at the versions
        champion = None
    if champion is not None and dict(champion.tags).get(LINEAGE_SOURCE_TAG) == source_id:
        return f"models:/{model_name}@champion"
    try:
        versions = client.search_model_versions(f"name='{model_name}'")
    except Exception:  # noqa: BLE001 - an empty store has no such model
        return None
    ours = [int(v.version) for v in versions if dict(v.tags).get(LINEAGE_SOURCE_TAG) == source_id]
    return f"models:/{model_name}/{max(ours)}" if ours else None


def no_model_message(data: str, tracking_uri: str) -> str:
    """What to say when no registered model was trained on this data, with the fix."""
    return (
        f"no model in {tracking_uri} was trained on {data_source_id(data)}, so its accounts "
        f"cannot be scored or served with the right model. Train one on this data first: "
        f"`territory train --data {data} --promote` (or pass --model URI to choose one)."
    )
