"""The real `territory` executable: help on every command, usage errors without tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from training.cli import app

EXE = Path(sys.executable).with_name("territory")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, timeout=120)


def test_every_command_has_help():
    names = [c.name or c.callback.__name__ for c in app.registered_commands]
    assert {"sample", "validate", "import", "train", "score", "serve"} <= set(names)
    out = run("--help")
    assert out.returncode == 0
    for name in names:
        assert name in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["validate"], "Missing option '--data'"),
        (["sample", "--accounts", "0", "--out", "x"], "--accounts"),
        (["train", "--data", "/nonexistent/export"], "neither a directory nor a database"),
    ],
)
def test_bad_usage_is_one_clear_message(args, message):
    out = run(*args)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr
