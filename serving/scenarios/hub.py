"""What the scenario endpoints do, between the service (auth, state) and the job store.

One ``ScenarioHub`` per service instance, opened lazily on the decisions database. Nothing here
solves: ``solve`` writes a job row and starts its worker process (runner.py), then returns.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from serving.errors import BadRequest
from serving.scenarios import runner
from serving.scenarios.jobs import JobStore
from serving.scenarios.records import SavedScenario, ScenarioJob

DEFAULT_TIMEOUT_S = 900


def job_out(job: ScenarioJob) -> dict[str, Any]:
    """A job as the API answers it (the row, progress as a fraction, no inputs' file paths)."""
    out = job.model_dump(exclude={"inputs", "input_hash", "pid", "host", "permille"})
    out["fraction"] = job.permille / 1000
    out["time_limit_s"] = (job.inputs or {}).get("time_limit_s")
    return out


def scenario_out(saved: SavedScenario) -> dict[str, Any]:
    return saved.model_dump()


def parse_document(document: dict | None, yaml_text: str | None) -> dict:
    """The scenario document from JSON or from YAML text (a saved `territory plan` file)."""
    if yaml_text:
        try:
            parsed = yaml.safe_load(yaml_text)
        except yaml.YAMLError as exc:
            raise BadRequest(
                f"scenario YAML does not parse ({str(exc).splitlines()[0]}); use the format of "
                "docs/scenarios/default.yaml."
            ) from exc
        if not isinstance(parsed, dict):
            raise BadRequest(
                f"scenario YAML must be a mapping of sections (limits:, weights:, ...), not "
                f"{type(parsed).__name__}; see docs/scenarios/default.yaml."
            )
        return _jsonable(parsed)
    if document is None:
        raise BadRequest("send a scenario: `document` (JSON) or `yaml` (a scenario file's text).")
    return _jsonable(document)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def check_document(document: dict, accounts) -> dict:
    """The document validated as `territory plan` would (keys, ranges, added reps' cities)."""
    from models.planning import ScenarioError, scenario_for

    try:
        parsed = scenario_for(document, accounts)
    except ScenarioError as exc:
        raise BadRequest(f"scenario: {exc}") from exc
    limit = parsed.solver.time_limit_s
    return {"name": parsed.name, "time_limit_s": limit, "locks": len(parsed.locks)} | {
        "add_reps": [asdict(r)["rep_id"] for r in parsed.add_reps]
    }


class ScenarioHub:
    """The service's handle on saved scenarios and solve jobs."""

    def __init__(
        self, url: str, data_dir: Path, crm_source: str, *, schema: str | None = None
    ) -> None:
        self.store = JobStore(url, schema=schema)
        self.results = Path(data_dir).resolve() / "scenarios"
        self.crm_source = crm_source

    def save(self, state, name: str, author: str, document: dict) -> dict:
        check_document(document, state.tables.accounts)
        document = {**document, "name": name}
        return scenario_out(self.store.save_scenario(name, author, document))

    def listing(self, limit: int = 50) -> dict:
        return {
            "scenarios": [scenario_out(s) for s in self.store.list_scenarios()],
            "jobs": [job_out(j) for j in self.store.list_jobs(limit)],
        }

    def solve(
        self,
        state,
        *,
        author: str,
        document: dict | None = None,
        scenario_id: int = 0,
        time_limit_s: float | None = None,
        timeout_s: int = DEFAULT_TIMEOUT_S,
    ) -> dict:
        """Queue a solve (or find the cached one); answers at once with the job."""
        if scenario_id:
            document = dict(self.store.scenario(scenario_id).document)
        if document is None:
            raise BadRequest("send `scenario_id` (a saved scenario) or a scenario `document`.")
        checked = check_document(document, state.tables.accounts)
        limit = min(checked["time_limit_s"], time_limit_s or checked["time_limit_s"])
        scores_path = state.scores.path
        if scores_path is None:
            raise BadRequest("the loaded scores have no file; reload with a scores_path.")
        key = runner.input_hash(
            {**document, "_time_limit_s": limit},
            self.crm_source,
            Path(scores_path),
            state.model_version,
        )
        job_dir = self.results / key[:16]
        inputs = {
            "crm_source": self.crm_source,
            "scores_path": str(Path(scores_path).resolve()),
            "out_dir": str(job_dir),
            "time_limit_s": limit,
        }
        job, cached = runner.submit(
            self.store,
            document=document,
            name=str(document.get("name") or checked["name"]),
            author=author,
            scenario_id=scenario_id,
            inputs=inputs,
            key=key,
            timeout_s=timeout_s,
        )
        return {**job_out(job), "cached": cached}

    def job(self, job_id: str) -> dict:
        return job_out(self.store.job(job_id))

    def cancel(self, job_id: str) -> dict:
        return job_out(runner.cancel(self.store, job_id))

    def finished(self, job_id: str) -> ScenarioJob:
        """The job, which must be done with a plan folder (else 400 saying what it is)."""
        job = self.store.job(job_id)
        if job.status != "done" or not job.result_path:
            raise BadRequest(
                f"job {job_id} ({job.name}) is {job.status}: only a finished solve can be "
                "compared, mapped or adopted; wait for it or solve the scenario again."
            )
        return job
