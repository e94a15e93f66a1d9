"""Child process that runs HiGHS (highspy) on one MIP written by ``models/mip_engine.py``.

    python -m models.highs_worker MODEL.npz ANSWER.npz

highspy and OR-Tools cannot be imported in one process, so HiGHS runs here, in a process of its
own: the parent keeps OR-Tools, both cores can work, and the parent can stop it at any moment.
This module imports numpy and highspy only (never ``models.*``), and exits when its parent dies.

The model (minimise ``cost @ x``, binary ``x``, ``row_lower <= A x <= row_upper``) arrives as a
CSC matrix, an objective cutoff and a deadline on the shared monotonic clock; the answer holds
HiGHS's model status, the solution (when one was found) and its dual bound (NaN when HiGHS's
information is not valid).
"""

from __future__ import annotations

import os
import sys
import threading
import time

import highspy
import numpy as np

MIN_TIME_LIMIT_S = 0.05
PARENT_CHECK_S = 0.5


def solve(model: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run HiGHS on the arrays of one model file; the arrays of its answer file."""
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("random_seed", int(model["seed"]))
    if np.isfinite(model["cutoff"]):  # prune every node that cannot beat it
        h.setOptionValue("objective_bound", float(model["cutoff"]))
    lp = highspy.HighsLp()
    n_cols = int(model["cost"].size)
    lp.num_col_, lp.num_row_ = n_cols, int(model["row_lower"].size)
    lp.col_cost_ = model["cost"]
    lp.col_lower_, lp.col_upper_ = np.zeros(n_cols), np.ones(n_cols)
    inf = highspy.kHighsInf
    lp.row_lower_ = np.where(np.isfinite(model["row_lower"]), model["row_lower"], -inf)
    lp.row_upper_ = np.where(np.isfinite(model["row_upper"]), model["row_upper"], inf)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = model["start"]
    lp.a_matrix_.index_ = model["index"]
    lp.a_matrix_.value_ = model["value"]
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n_cols
    if h.passModel(lp) == highspy.HighsStatus.kError:
        raise RuntimeError("HiGHS rejected the model")
    left = float(model["deadline"]) - time.monotonic()  # start-up time counts against it
    h.setOptionValue("time_limit", max(MIN_TIME_LIMIT_S, left))
    ran = h.run()
    info = h.getInfo()
    feasible = highspy.SolutionStatus.kSolutionStatusFeasible
    solved = ran != highspy.HighsStatus.kError and info.primal_solution_status == feasible
    x = np.asarray(h.getSolution().col_value) if solved else np.zeros(0)
    valid = ran != highspy.HighsStatus.kError and info.valid
    return {
        "status": np.array(h.modelStatusToString(h.getModelStatus())),
        "x": x,
        "dual_bound": np.array(float(info.mip_dual_bound) if valid else np.nan),
    }


def _exit_with_parent() -> None:
    """A daemon thread that ends this process once its parent has gone (killed, not stopped)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(3)

    threading.Thread(target=watch, daemon=True, name="territory-parent-watch").start()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m models.highs_worker MODEL.npz ANSWER.npz", file=sys.stderr)
        return 2
    _exit_with_parent()
    with np.load(argv[0]) as model:
        answer = solve(dict(model))
    np.savez(argv[1], **answer)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
