"""Branch and cut with HiGHS for capacity-only problems: "beat this plan or prove it cannot be
beaten".

CP-SAT and neighbourhood search find good GAP plans fast but rarely close the last unit; a MIP
solver's LP bound and cuts do. The model gets one extra row, value >= ``beat`` (and HiGHS the
same value as its objective cutoff, which prunes nodes but alone may still return a worse plan),
so HiGHS only looks at plans better than the incumbent: a solution is an improvement, and
"infeasible" proves the incumbent optimal (on the problem given, which after reduced-cost
fixing still holds every plan worth ``beat`` or more).

HiGHS runs in a child process (``models/highs_worker.py``, highspy): highspy cannot share a
process with OR-Tools, a process can be stopped the moment its answer is no longer needed (a
thread running SciPy's HiGHS could not), and it is a newer HiGHS than SciPy vendors (on OR-Library
d05100, fixed at 6,354, highspy 1.15 with this model found and proved 6,353 in 31, 38 and 40 s
over three seeds; SciPy 1.17's ``milp``, one run, took 66 s). Measured on OR-Library GAP:
bench/results/matcher.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import sparse

from models.assignment_core import AssignmentProblem
from models.cpsat_engine import ExactResult

CUTOFF_RTOL = 1e-6
"""With fractional values the cutoff sits this share beyond ``beat`` (HiGHS's tolerances are
1e-6 and 1e-7), so round-off cannot cut off a plan worth ``beat``; with whole-number values it
sits half a unit beyond."""
LATE_S = 3.0
"""How long past its deadline a child may run before it is killed and its answer given up."""


class MipError(RuntimeError):
    """HiGHS's child process failed; the message holds the end of what it printed."""


class MipRun:
    """HiGHS asked for a plan worth at least ``beat``, running in a child process that ends by
    ``time_limit_s`` from now (its start-up included).

    ``done()`` says whether it has finished, ``result()`` waits for its answer and ``stop()``
    ends it at once (always call it, or use the run as a context manager). ``MipError`` when
    the child cannot start, fails or overruns.
    """

    WORKER: tuple[str, ...] = ("-m", "models.highs_worker")
    """Python arguments that run the worker on ``model.npz``, writing ``answer.npz``."""

    def __init__(
        self, problem: AssignmentProblem, *, beat: float, time_limit_s: float, seed: int = 0
    ) -> None:
        self.problem, self.beat = problem, float(beat)
        self.started = time.monotonic()
        self.deadline = self.started + max(0.0, float(time_limit_s))
        self.items, self.slots = np.nonzero(problem.valid)
        self.folder = Path(tempfile.mkdtemp(prefix="territory-highs-"))
        self.process: subprocess.Popen | None = None
        try:
            np.savez(self.folder / "model.npz", **_model_arrays(self, seed))
            with open(self.folder / "stderr.txt", "wb") as err:  # a file never fills and blocks
                self.process = subprocess.Popen(
                    [sys.executable, *self.WORKER, "model.npz", "answer.npz"],
                    cwd=self.folder,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    env=_child_env(),
                )
        except OSError as exc:
            self.stop()
            raise MipError(f"could not start HiGHS's process: {exc}") from exc

    def done(self) -> bool:
        return self.process is None or self.process.poll() is not None

    def overdue(self) -> bool:
        """Still running ``LATE_S`` past its deadline: ``result()`` will give it up."""
        return time.monotonic() > self.deadline + LATE_S

    def result(self) -> ExactResult:
        """Wait for HiGHS's answer (at most until ``LATE_S`` past the deadline)."""
        try:
            self.process.wait(timeout=max(0.0, self.deadline + LATE_S - time.monotonic()))
        except subprocess.TimeoutExpired as exc:
            self.stop()
            raise MipError(f"HiGHS ran more than {LATE_S:g} s past its deadline") from exc
        answer = self.folder / "answer.npz"
        if self.process.returncode != 0 or not answer.exists():
            printed = (self.folder / "stderr.txt").read_text(errors="replace")
            tail = " | ".join(printed.strip().splitlines()[-3:])
            self.stop()
            raise MipError(f"HiGHS exited with code {self.process.returncode}: {tail}")
        with np.load(answer) as data:
            status, x = str(data["status"]), data["x"]
            dual = float(data["dual_bound"])
        self.stop()
        return self._to_result(status, x, dual)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> MipRun:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _to_result(self, status: str, x: np.ndarray, dual: float) -> ExactResult:
        seconds = time.monotonic() - self.started
        if status == "Infeasible":
            return ExactResult("INFEASIBLE", None, self.beat, seconds)
        bound = -dual if np.isfinite(dual) else np.inf
        if x.size == 0:
            return ExactResult("UNKNOWN", None, bound, seconds)
        picked = x > 0.5
        choice = np.full(self.problem.n_items, -1, dtype=np.int64)
        choice[self.items[picked]] = self.slots[picked]
        return ExactResult("OPTIMAL" if status == "Optimal" else "FEASIBLE", choice, bound, seconds)


def solve_mip(
    problem: AssignmentProblem, *, beat: float, time_limit_s: float, seed: int = 0
) -> ExactResult:
    """A plan worth at least ``beat`` (status FEASIBLE or OPTIMAL), or INFEASIBLE when none
    exists, or UNKNOWN at the time limit; ``bound`` bounds every plan worth ``beat`` or more."""
    with MipRun(problem, beat=beat, time_limit_s=time_limit_s, seed=seed) as run:
        return run.result()


def _model_arrays(run: MipRun, seed: int) -> dict[str, np.ndarray]:
    """The MIP as the worker reads it: minimise -value over one binary per candidate slot."""
    problem, items, slots = run.problem, run.items, run.slots
    columns = np.arange(items.size)
    shape = (problem.n_items, items.size)
    blocks = [sparse.csr_matrix((np.ones(items.size), (items, columns)), shape)]
    lower, upper = [np.ones(problem.n_items)], [np.ones(problem.n_items)]
    agents = problem.agent[items, slots]
    value = problem.value[items, slots].astype(float)
    if np.isfinite(run.beat):  # value >= beat: HiGHS's cutoff alone can still return worse plans
        blocks.append(sparse.csr_matrix(value[None, :]))
        lower.append(np.array([run.beat]))
        upper.append(np.array([np.inf]))
    for row in problem.agent_rows:
        blocks.append(
            sparse.csr_matrix(
                (row.coef[items, slots].astype(float), (agents, columns)),
                (problem.n_agents, items.size),
            )
        )
        lower.append(np.asarray(row.lower, dtype=float))
        upper.append(np.asarray(row.upper, dtype=float))
    for row in problem.global_rows:
        blocks.append(sparse.csr_matrix(row.coef[items, slots].astype(float)[None, :]))
        lower.append(np.array([-np.inf]))
        upper.append(np.array([float(row.upper)]))
    matrix = sparse.vstack(blocks).tocsc()
    matrix.sort_indices()
    whole = bool(np.allclose(value, np.round(value), rtol=0.0, atol=1e-9))
    margin = 0.5 if whole else CUTOFF_RTOL * max(1.0, abs(run.beat))
    cutoff = -run.beat + margin
    return {
        "cost": -value,
        "start": matrix.indptr.astype(np.int32),
        "index": matrix.indices.astype(np.int32),
        "value": matrix.data.astype(float),
        "row_lower": np.concatenate(lower),
        "row_upper": np.concatenate(upper),
        "cutoff": np.array(cutoff if np.isfinite(run.beat) else np.inf),
        "deadline": np.array(run.deadline),
        "seed": np.array(int(seed)),
    }


def _child_env() -> dict[str, str]:
    """The parent's environment with the repository on the child's import path."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env
