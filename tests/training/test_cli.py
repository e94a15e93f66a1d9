"""The real `territory` executable: help on every command, usage errors without tracebacks."""

from __future__ import annotations

import json
import os
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


def test_serve_execs_python_m_serving_which_execs_bentoml(tmp_path, monkeypatch, capsys):
    """`territory serve` becomes `python -m serving` with the same options; that sets the
    TERRITORY_ variables, generates keys, prints the access lines and becomes `bentoml serve`."""
    from typer.testing import CliRunner

    import serving.__main__ as serving_main
    import training.cli.serve as cli_serve

    data = tmp_path / "crm"
    data.mkdir()
    (data / "reps.csv").write_text("rep_id,name,active\nR1,Ann,true\nR2,Bo,false\n")
    scores = data / "scores.csv"
    scores.write_text("account_id,potential\n")
    execs = []
    monkeypatch.setattr(cli_serve.os, "execv", lambda exe, argv: execs.append(argv))
    args = ["serve", "--data", str(data), "--scores", str(scores), "--port", "3101"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    [argv] = execs
    assert argv[:3] == [sys.executable, "-m", "serving"]
    assert argv[3:] == [
        "--data", str(data), "--scores", str(scores), "--host", "127.0.0.1", "--port", "3101"
    ]  # fmt: skip

    for key in [k for k in os.environ if k.startswith("TERRITORY_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("TERRITORY_DATA_DIR", str(tmp_path / "state"))
    served = []
    monkeypatch.setattr(serving_main.os, "execve", lambda *call: served.append(call))
    monkeypatch.setattr(serving_main.console, "width", 400)  # rich wraps at 80 when piped
    serving_main.main(argv[3:])
    [(exe, command, env)] = served
    assert command[1:] == [
        "-m", "bentoml", "serve", "serving.service:Territory", "--host", "127.0.0.1",
        "--port", "3101",
    ]  # fmt: skip
    assert env["TERRITORY_CRM_SOURCE"] == str(data)
    assert env["TERRITORY_SCORES_PATH"] == str(scores.resolve())
    keys = json.loads(Path(env["TERRITORY_API_KEYS_FILE"]).read_text())
    assert sorted(e.get("rep_id") or e["role"] for e in keys.values()) == ["R1", "job", "manager"]
    printed = capsys.readouterr().out
    assert "generated API keys" in printed
    assert "manager review page: http://127.0.0.1:3101/review/" in printed
    assert "territory keys create" in printed and "1 manager, 1 rep" in printed
    assert not any(key in printed for key in keys)  # keys are never printed on start
