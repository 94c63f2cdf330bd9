"""Alerts at Beijing night on the default world: how many open incidents per province and kind.

Issue 22 found 1,000 open alert rows at 02:36 Beijing time (965 ``sla_overdue``, one per task). This
starts a real ``bentoml serve`` on a bootstrapped default world whose history ends at a Beijing night
(``opsmatch bootstrap`` run at such an hour: the history ends at the wall clock's now), lets the monitor
sweep (every 5 s), makes the calls that used to add rows (``POST /assign`` of all waiting tasks, ``POST
/risk`` of 500 open tasks), waits for two more sweeps and reads every active incident
(``GET /alerts?state=active``, paged). Reported: incidents per (province, kind), their maximum, the
incidents and the tasks they cover per kind, and the Beijing time of the measurement.

Run (a world bootstrapped at a Beijing night; ~6 min on 2 cores)::

    OPSMATCH_DATA_DIR=/tmp/night/data OPSMATCH_MLFLOW_TRACKING_URI=sqlite:////tmp/night/mlflow.db \\
      OPSMATCH_MLFLOW_ARTIFACT_ROOT=/tmp/night/artifacts .venv/bin/opsmatch bootstrap
    OPSMATCH_DATA_DIR=/tmp/night/data OPSMATCH_MLFLOW_TRACKING_URI=sqlite:////tmp/night/mlflow.db \\
      OPSMATCH_MLFLOW_ARTIFACT_ROOT=/tmp/night/artifacts .venv/bin/python bench/bench_alerts_night.py

or on a world whose history ended at a Beijing night, with the service's clock started there:
``... bench/bench_alerts_night.py 2026-12-06T20:45:00+00:00`` (04:45 Beijing).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opsmatch.settings import Settings  # noqa: E402
from serving.runtime import launch  # noqa: E402

TOKEN = "bench-alerts-night"


def _sweeps(c: httpx.Client) -> float:
    line = next(x for x in c.get("/metrics").text.splitlines() if x.startswith("opsmatch_monitor_sweeps"))
    return float(line.split()[-1])


def _wait(check, timeout: float, what: str):  # noqa: ANN001, ANN202
    end = time.time() + timeout
    while time.time() < end:
        got = check()
        if got:
            return got
        time.sleep(1.0)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> None:
    settings = Settings(api_token=TOKEN)
    home = Path(tempfile.mkdtemp(prefix="alerts-night-"))
    clock = {}
    if len(sys.argv) > 1:  # a start time: the service's clock reads it now and runs on (a world ended then)
        anchor = datetime.now().astimezone().isoformat()
        clock = {
            "OPSMATCH_CLOCK_ANCHOR": anchor,
            "OPSMATCH_CLOCK_START": sys.argv[1],
            "OPSMATCH_CLOCK_SPEED": "1",
        }
    env = launch.service_env(settings, home / "bentoml", OPSMATCH_SERVICE__MONITOR_SECONDS="5", **clock)
    with (
        launch.running(env, home / "serve.log", path="/livez", timeout=600) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=300) as c,
    ):
        _wait(lambda: c.get("/readyz").status_code == 200, 600, "/readyz")
        start = _sweeps(c)
        _wait(lambda: _sweeps(c) >= start + 3, 300, "three monitor sweeps")
        waiting = c.get("/tasks", params={"status": "waiting", "limit": 500}).json()
        ids = [t["task_id"] for t in waiting.get("tasks", [])]
        assign = c.post("/assign", json={"all_waiting": True})
        risk = c.post("/risk", json={"task_ids": ids[:500]}) if ids else None
        start = _sweeps(c)
        _wait(lambda: _sweeps(c) >= start + 3, 300, "two more sweeps")
        rows, offset = [], 0
        while offset is not None:
            page = c.get("/alerts", params={"state": "active", "limit": 1000, "offset": offset}).json()
            rows += page["alerts"]
            offset = page["next_offset"]
        shown = c.get("/alerts", params={"state": "open", "limit": 1000}).json()["alerts"]
        info = c.get("/info").json()
    now = datetime.fromisoformat(info.get("clock", {}).get("now") or datetime.now().astimezone().isoformat())
    per_scope = Counter((a["province_id"], a["kind"]) for a in rows)
    by_kind = Counter(a["kind"] for a in rows)
    covered = Counter()
    for a in rows:
        covered[a["kind"]] += a["count"]
    out = {
        "beijing_time": now.astimezone(ZoneInfo("Asia/Shanghai")).isoformat(timespec="minutes"),
        "open_incidents": len(rows),
        "max_per_province_and_kind": max(per_scope.values(), default=0),
        "open_shown": len(shown),  # state=open: neither silenced nor inhibited (the console's open list)
        "open_shown_by_kind": dict(sorted(Counter(a["kind"] for a in shown).items())),
        "inhibited": sum(1 for a in rows if a.get("inhibited_by")),
        "incidents_by_kind": dict(sorted(by_kind.items())),
        "subjects_by_kind": dict(sorted(covered.items())),
        "provinces_with_alerts": len({a["province_id"] for a in rows if a["province_id"]}),
        "waiting_tasks_sampled": len(ids),
        "assign_status": assign.status_code,
        "risk_status": None if risk is None else risk.status_code,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    main()
