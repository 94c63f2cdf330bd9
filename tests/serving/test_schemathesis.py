"""Schemathesis, every check and every phase, against a real ``bentoml serve`` of the small world.

Bounded in examples per operation, never in time, with a fixed seed: the same cases on any machine at
any speed (a time budget let a faster machine explore more and find more). The only change from the
defaults is in ``schemathesis.toml`` beside this file (422 is an accepted answer to schema-valid data).
The server has its own state store: the policy changes and alerts the run makes stay there.

The server's batch ceilings (``CEILINGS``) are lowered from the shipped 5,000-20,000 rows to 100: the
coverage phase sends every list at its ceiling and one past it, and one 10,000-answer batch took 90 s
at load 15 (a request timeout: an error, decided by the machine's speed). The ceilings are configuration
read from the same ``serving.config`` fields, so the boundaries are still checked; how fast the service
takes a full batch is a benchmark's question, not this test's.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from serving.access.keys import KeyStore
from serving.runtime import launch
from serving.state.store import StateStore
from tests.factories.serving_world import World, private_world, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CONFIG = Path(__file__).with_name("schemathesis.toml")
ST = str(Path(sys.executable).parent / "st")
MAX_EXAMPLES, SEED = 20, 7
HANG_SECONDS = 900  # only a guard against a hung run: the run is bounded by examples
CEILINGS = {
    f"OPSMATCH_SERVICE__{name.upper()}": "100"
    for name in ("max_batch_tasks", "max_batch_workers", "max_outcome_rows", "max_status_rows")
}


@pytest.fixture(scope="module")
def world(world: World, tmp_path_factory: pytest.TempPathFactory) -> World:
    """This module posts generated tasks, outcomes and statuses: it works on a private copy."""
    return private_world(world, tmp_path_factory.mktemp("schemathesis-world"))


def st_command(url: str, key: str) -> list[str]:
    """The schemathesis run of this test (also what docs/operations.md shows)."""
    return [
        ST,
        "--config-file",
        str(CONFIG),
        "run",
        f"{url}/docs.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--header",
        f"Authorization: Bearer {key}",
    ]


def test_schemathesis_finds_nothing(world: World, tmp_path: Path) -> None:
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    store = StateStore(state_url)
    key = KeyStore(store).create("schemathesis", "admin", by="test")
    store.close()
    env = world.env(
        OPSMATCH_STATE_DB_URL=state_url,
        OPSMATCH_RATE_LIMITS='{"admin": {"per_second": 100000, "burst": 100000}}',
        BENTOML_HOME=str(tmp_path / "bentoml"),
        **CEILINGS,
    )
    with launch.running(env, tmp_path / "serve.log", path="/livez") as url:
        wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200, 120, what="/readyz")
        run = subprocess.run(
            st_command(url, key), cwd=tmp_path, capture_output=True, text=True, timeout=HANG_SECONDS
        )
    out = run.stdout + run.stderr
    summary = [ln for ln in out.splitlines() if re.match(r"^=+ .* in [\d.]+s =+$", ln)]
    cases = re.search(r"(\d+) generated, (\d+) passed[^\n]*", out)
    print(cases.group(0) if cases else "", summary[-1] if summary else out[-3000:], sep="\n")
    assert run.returncode == 0, out[-6000:]
    assert summary and "fail" not in summary[-1] and "error" not in summary[-1], out[-6000:]
    assert cases is not None and int(cases.group(1)) > 200 and cases.group(1) == cases.group(2), out[-3000:]
