"""The data-scientist notebooks run top to bottom on the ``small`` twin, in a temp data dir and MLflow store.

Each notebook reads its configuration from the environment (``OPSMATCH_*`` and ``NB_*``) and ends with an
assertion cell that prints ``NB_RESULT {json}``; the tests execute them with nbclient on the ``python3``
kernel (jupyter_client launches it with this interpreter, which a probe cell checks) and read that line.
The session shares one data dir and one MLflow store: notebook 01 generates the history, 02 reuses it and
trains/gates the champions, 03 reuses those (each notebook alone creates whatever is missing). A last test
runs 03 on an empty MLflow store, where it must train and gate its own champions.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

import nbclient
import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = ("01-explore-history", "02-train-and-compare", "03-risk-watchlist")
MODELS = ("handling_time", "qa_pass", "complaint", "complaint_pre")
CELL_TIMEOUT = 600  # seconds per cell
PROBE = "import json, sys\nprint(json.dumps([sys.executable, sys.prefix]))"


def load(name: str):
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def store_env(root: Path) -> dict[str, str]:
    """Environment of a notebook kernel: this session's stores, the small scenario, nothing inherited."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("OPSMATCH_", "NB_"))}
    return {
        **inherited,
        "OPSMATCH_DATA_DIR": str(root / "data"),
        "OPSMATCH_MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "OPSMATCH_MLFLOW_ARTIFACT_ROOT": str(root / "artifacts"),
        "NB_SCENARIO": "small",
        "NB_DAYS": "60",
        "NB_SEED": "7",
        "NB_CAPACITY": "10",
        "NB_THREADS": "1",
        "OMP_WAIT_POLICY": "PASSIVE",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }


class Executed:
    """An executed notebook: its stdout, the ``NB_RESULT`` payload and the wall time."""

    def __init__(self, nb, seconds: float) -> None:
        self.nb = nb
        self.seconds = seconds
        self.stdout = "".join(
            o.get("text", "")
            for c in nb.cells
            if c.cell_type == "code"
            for o in c.outputs
            if o.output_type == "stream" and o.name == "stdout"
        )
        lines = [ln for ln in self.stdout.splitlines() if ln.startswith("NB_RESULT ")]
        assert len(lines) == 1, "the notebook must print one NB_RESULT line"
        self.result = json.loads(lines[0].removeprefix("NB_RESULT "))


def execute(name: str, root: Path, env: dict[str, str]) -> Executed:
    """Run ``name`` top to bottom with ``root`` as working dir; keep the executed copy there for debugging."""
    nb = load(name)
    nb.cells.insert(0, nbformat.v4.new_code_cell(PROBE))
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=CELL_TIMEOUT, resources={"metadata": {"path": str(root)}}
    )
    started = time.perf_counter()
    try:
        client.execute(env=env)
    finally:
        nbformat.write(nb, root / f"{name}.executed.ipynb")
    done = Executed(nb, time.perf_counter() - started)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    kernel = json.loads(nb.cells[0].outputs[0]["text"])
    assert kernel == [sys.executable, sys.prefix], f"kernel ran {kernel}, the tests run {sys.executable}"
    print(f"{name}: {done.seconds:.1f} s")
    return done


def registry_aliases(root: Path, model: str) -> dict[str, str]:
    """``alias -> version`` of ``opsmatch-<model>`` in the store under ``root`` (no global MLflow state)."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    return {k: str(v) for k, v in client.get_registered_model(f"opsmatch-{model}").aliases.items()}


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_is_valid_and_has_no_outputs(name: str) -> None:
    nb = load(name)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "clear the outputs first"
    assert "os.environ" in code[0].source and "NB_SCENARIO" in code[0].source
    assert "NB_RESULT" in code[-1].source


@pytest.fixture(scope="session")
def session_store(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One data dir + MLflow store shared by the notebooks of the session, and what ran in it."""
    root = tmp_path_factory.mktemp("notebooks")
    return {"root": root, "env": store_env(root), "ran": {}}


@pytest.mark.slow
def test_01_explore_history(session_store: dict) -> None:
    done = execute("01-explore-history", session_store["root"], session_store["env"])
    session_store["ran"]["01"] = done
    r = done.result
    if not session_store["ran"].keys() - {"01"}:
        assert "Generated 60 days of the 'small' twin" in done.stdout
    assert r["tasks"] > 5000 and r["completed_share"] > 0.9
    assert 0.8 < r["sla_met"] <= 1
    assert 0.2 < r["sigma_log_range"][0] <= r["sigma_log_range"][1] < 1.2
    assert r["qa_spread_shrunk"] < r["qa_spread_raw"]
    assert 0.005 < r["complaint_rate"] < 0.1 and r["late_complaint_lift"] > 1
    assert r["shrinkage_gain"] > 0  # the shrunk QA rates are closer to the twin's truth than the raw ones


@pytest.mark.slow
def test_02_train_and_compare(session_store: dict) -> None:
    root = session_store["root"]
    done = execute("02-train-and-compare", root, session_store["env"])
    session_store["ran"]["02"] = done
    r = done.result
    if "01" in session_store["ran"]:
        assert "Reusing the event log" in done.stdout
    assert set(r["champions"]) == set(MODELS)
    for model in MODELS:
        assert registry_aliases(root, model)["champion"] == r["champions"][model]
        assert f"{model} v{r['trained'][model]}: " in done.stdout  # the gate's decision is shown
    assert int(r["variant"]["version"]) == int(r["trained"]["complaint"]) + 1
    assert r["runs"] >= 5
    assert r["handling_r2"] > 0.2
    assert 0.6 < r["qa_auc"] <= 1 and 0.55 < r["complaint_auc"] <= 1 and r["complaint_ece"] < 0.05


@pytest.mark.slow
def test_03_risk_watchlist(session_store: dict) -> None:
    root = session_store["root"]
    done = execute("03-risk-watchlist", root, session_store["env"])
    r = done.result
    if "02" in session_store["ran"]:
        assert "reusing the champions" in done.stdout
        trained = session_store["ran"]["02"].result["champions"]
        assert r["champions"] == {m: trained[m] for m in r["champions"]}
    for model, version in r["champions"].items():
        assert registry_aliases(root, model)["champion"] == version
    assert r["capacity"] == 10 and 0 < r["watchlist_today"] <= 10
    assert 0.55 < r["auc"]["complaint"] <= 1 and 0.55 < r["auc"]["complaint_pre"] <= 1
    assert max(r["ece"].values()) < 0.05
    assert r["precision_at_capacity"]["complaint"] > r["base_rate"]  # the list beats random calls


@pytest.mark.slow
def test_03_trains_its_own_champions_on_an_empty_store(session_store: dict, tmp_path: Path) -> None:
    """The session's data dir with an empty MLflow store: the notebook trains and gates its champions."""
    env = {
        **session_store["env"],
        "OPSMATCH_MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "OPSMATCH_MLFLOW_ARTIFACT_ROOT": str(tmp_path / "artifacts"),
    }
    done = execute("03-risk-watchlist", tmp_path, env)
    assert "no champion for complaint, complaint_pre" in done.stdout
    assert done.result["champions"] == {"complaint": "1", "complaint_pre": "1"}
    assert done.result["precision_at_capacity"]["complaint"] > done.result["base_rate"]
