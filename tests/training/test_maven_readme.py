"""The bundled Maven CRM export, end to end with the README's commands alone (issue 22):
import -> train -> score -> plan -> serve -> a key -> a card and the review page.

The commands are read from the README's `own-data` block and run as written, in a folder laid out
like the repository (docs/ and ../shared/ where the README expects them), with a free port.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.serving.fixtures.servers import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
MAVEN = SHARED / "data" / "maven_crm"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def readme_commands() -> list[list[str]]:
    """The `territory ...` lines of the README's own-data block, comments dropped."""
    text = (REPO / "README.md").read_text()
    block = re.search(r"<!-- own-data -->\n```bash\n(.*?)```\n<!-- /own-data -->", text, re.S)
    assert block, "README.md lost its <!-- own-data --> block"
    lines = [line.split("  #")[0].strip() for line in block.group(1).splitlines()]
    return [shlex.split(line) for line in lines if line.startswith("territory ")]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """tmp/repo with docs/ linked in and tmp/shared -> the real ../shared (read-only use)."""
    if not MAVEN.is_dir():
        if IN_CI:
            pytest.fail(f"CI=true but the bundled Maven export is missing at {MAVEN}")
        pytest.skip(f"{MAVEN} is absent (../shared not checked out): the Maven e2e needs it")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "docs").symlink_to(REPO / "docs")
    (tmp_path / "shared").symlink_to(SHARED)
    return repo


def test_maven_export_from_import_to_a_served_card_with_the_readme_commands(workdir: Path):
    exe = str(Path(sys.executable).with_name("territory"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TERRITORY_")}
    env.pop("MLFLOW_TRACKING_URI", None)
    port = free_port()
    commands = readme_commands()
    assert [c[1] for c in commands] == ["import", "train", "score", "plan", "serve", "keys"]
    server, log = None, workdir / "server.log"
    try:
        for command in commands:
            argv = [exe, *command[1:]]
            if command[1] == "serve":
                argv[argv.index("--port") + 1] = str(port)
                server = subprocess.Popen(
                    argv,
                    cwd=workdir,
                    env=env,
                    stdout=log.open("w"),
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
                wait_ready(server, f"http://127.0.0.1:{port}", log)
                continue
            done = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True)
            assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout[-3000:]}{done.stderr}"
            if command[1] == "keys":
                key = done.stdout.strip()
        assert (workdir / "data" / "maven" / "scores.parquet").is_file()
        assert (workdir / "data" / "maven" / "plan" / "current" / "assignments.csv").is_file()
        printed = log.read_text()
        assert "generated API keys in data/maven/api_keys.json" in printed  # its own keys
        assert (workdir / "data" / "maven" / "decisions.db").is_file()  # its own decisions
        base = f"http://127.0.0.1:{port}"
        # territory import writes versions and points current at the last good one
        account = (
            (workdir / "data" / "maven" / "current" / "accounts.csv").read_text().splitlines()[1]
        )
        account_id = account.split(",")[0]
        card = httpx.post(
            f"{base}/card",
            json={"account_id": account_id},
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )
        assert card.status_code == 200, card.text
        assert card.json()["account_id"] == account_id
        review = httpx.get(f"{base}/review/", timeout=30)
        assert review.status_code == 200 and "<html" in review.text.lower()
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


def wait_ready(server: subprocess.Popen, base: str, log: Path, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"serve exited {server.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError(f"not ready after {timeout_s} s:\n{log.read_text()[-4000:]}")
