"""Picks up a new champion, a newer scores file and a new drift report without a restart.

A background thread (every TERRITORY_RELOAD_CHECK_S, default 60 s) compares what is served with
what is there now: the registry version the model URI's alias points at, the scores file's
(mtime, size) and the drift report's. When something moved it loads a whole new state off the
request path and swaps it in one reference assignment (the service's `_reload_checked`, the same
path as POST /reload). A load that fails keeps the last good state serving; the failure is shown
in /readyz details and /status until a later load succeeds, and the same broken inputs are not
retried every interval.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from datetime import UTC, datetime

from features.drift import drift_summary
from serving.freshness import freshness
from serving.loading import scores_path_for
from serving.scores import file_stamp
from serving.settings import ServingSettings
from serving.store import ServingState

log = logging.getLogger(__name__)
ALIAS_URI = re.compile(r"models:/([^/@]+)@(.+)")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def served_version(state: ServingState | None) -> str | None:
    """The registry version number of the served model ('... v3 (champion)' -> '3')."""
    match = re.search(r" v(\d+)\b", state.model_version) if state else None
    return match.group(1) if match else None


def champion_version(settings: ServingSettings) -> str | None:
    """The version the configured alias URI points at now; None for a fixed URI."""
    match = ALIAS_URI.fullmatch(settings.model_uri)
    if not match:
        return None
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=settings.tracking_uri)
    return str(client.get_model_version_by_alias(*match.groups()).version)


class Refresher:
    """The reload watcher of one service instance and what it last saw (for /readyz, /status)."""

    def __init__(self, service) -> None:
        self.service = service
        self.settings: ServingSettings = service.settings
        self.checked_at: str | None = None
        self.reloaded_at: str | None = None
        self.failure: dict | None = None
        self._failed_sources: tuple | None = None
        self.drift: dict | None = None
        self.drift_problem: str | None = None
        self._drift_stamp: tuple | None = None
        self._lock = threading.Lock()
        self.read_drift()

    def run(self, stopped: threading.Event) -> None:
        """Check every reload_check_s until `stopped` (0 turns the watcher off)."""
        interval = self.settings.reload_check_s
        while interval > 0 and not stopped.wait(interval):
            try:
                self.check()
            except Exception as exc:  # noqa: BLE001 - the watcher must outlive any failure
                log.exception("reload check failed")
                self.failure = {"at": _now(), "error": f"reload check failed: {exc!r}"[:1000]}

    def check(self) -> str:
        """Reload when the champion or the scores file moved: 'reloaded', 'unchanged', 'failed'."""
        with self._lock:
            self.checked_at = _now()
            self.read_drift()
            state = self.service.state
            try:
                champion = champion_version(self.settings)
            except Exception as exc:  # noqa: BLE001 - registry unreachable: keep the model
                log.warning("champion lookup failed: %s", exc)
                champion = None
            path = state.scores.path if state else scores_path_for(self.settings)
            sources = (champion, file_stamp(path))
            moved = champion is not None and champion != served_version(state)
            new_model = state is None or moved
            if state is not None and not new_model and sources[1] == state.scores.stamp:
                return "unchanged"
            if sources == self._failed_sources:
                return "unchanged"  # the same broken inputs: wait until they change
            return self._reload(state, path, sources, new_model)

    def _reload(self, state: ServingState | None, path, sources: tuple, new_model: bool) -> str:
        plan = state.plan.path if state and state.plan else None
        try:
            with self.service._reload_lock:
                self.service._reload_checked(
                    scores=str(path) if state and path else None,
                    plan=str(plan) if plan else None,
                    reload_model=new_model,
                )
        except Exception as exc:  # noqa: BLE001 - reported in /readyz and /status
            self.failure = {"at": _now(), "error": str(exc)[:1000]}
            self._failed_sources = sources
            log.warning("reload failed, still serving the last good state: %s", exc)
            return "failed"
        self.failure, self._failed_sources = None, None
        self.reloaded_at = _now()
        log.info("reloaded: %s, scores %s", self.service.state.model_version, path)
        return "reloaded"

    def read_drift(self) -> None:
        """Read the drift report again when its file changed (a bad one is reported, not raised)."""
        path = self.settings.drift_file
        stamp = file_stamp(path)
        if stamp == self._drift_stamp:
            return
        self._drift_stamp = stamp
        if stamp is None:
            self.drift, self.drift_problem = None, None
            return
        try:
            self.drift, self.drift_problem = drift_summary(json.loads(path.read_text())), None
        except Exception as exc:  # noqa: BLE001
            self.drift_problem = f"drift report {path} could not be read: {exc}"

    # -- what /readyz and /status show --------------------------------------------------------
    def details(self) -> list[str]:
        """One line per fact an operator needs: what is served, reload failures, drift, age."""
        state = self.service.state
        lines = []
        if state is not None:
            lines.append(
                f"serving {state.model_version}; scores {state.scores.path} made "
                f"{state.scores.scored_at} ({len(state.scores)} accounts); data latest "
                f"{state.data_latest}"
            )
        if self.failure:
            lines.append(
                f"reload failed at {self.failure['at']}: {self.failure['error']}; still serving "
                "the last good model and scores"
            )
        if self.drift:
            lines.append(self.drift["line"])
        else:
            lines.append(
                self.drift_problem
                or f"drift: no report at {self.settings.drift_file} (run `territory retrain`)"
            )
        if state is not None:
            lines += freshness(state)["warnings"]
        return lines

    def extend_status(self, body: dict) -> dict:
        """/status with freshness, drift and the watcher's last reload added."""
        state = self.service.state
        body = dict(body)
        body["scored_at"] = state.scores.scored_at if state else None
        body["data_latest"] = state.data_latest if state else None
        body["freshness"] = freshness(state) if state else None
        body["drift"] = self.drift
        body["reload"] = {
            "check_every_s": self.settings.reload_check_s,
            "checked_at": self.checked_at,
            "reloaded_at": self.reloaded_at,
            "failed_at": self.failure["at"] if self.failure else None,
            "error": self.failure["error"] if self.failure else None,
        }
        extra = [f"reload failed: {self.failure['error']}"] if self.failure else []
        extra += [self.drift_problem] if self.drift_problem else []
        body["problems"] = [*body.get("problems", []), *extra]
        return body
