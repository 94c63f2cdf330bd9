"""Benchmark (issue 23): one table, every size in the same run - the bootstrap and the service at 1x, 10x.

For each size (1 = ``default``, 10 = ``national``; ``--sizes 1,10``):

- **bootstrap**: ``opsmatch bootstrap --days D`` into ``<worlds>/bench-<scenario>-<D>d`` (fresh unless
  ``--reuse`` and it was built by this bench before: its stored figures are then shown, with their date),
  under ``/usr/bin/time -v``: wall seconds, CPU seconds (user + sys; wall on 2 shared cores measures the
  other sessions too) and peak RSS from the OS; the load average before and after;
- **service** (a real ``bentoml serve`` over HTTP, on a private copy of that world): the figures of
  ``bench_service_scale.run`` (H8's harness: restart ready, settled RSS of every service process, idle
  CPU, ``GET /tasks?status=pending``, board refresh, monitor sweeps, ``/rank`` and ``/assign`` with every
  worker on shift) and the national ``GET /watchlist`` (first and warm calls), timed here when that
  harness does not report it (``watchlist_ms``).

Writes the "## Scale: 1x and 10x in one run (issue 23)" section of ``docs/benchmarks.md`` with ``--write``
and the raw figures to ``<worlds>/bench-scale.json``.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/bench_scale.py --sizes 1,10 --worlds /work/worlds --write
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _docs import write_section  # noqa: E402

SECTION = "## Scale: 1x and 10x in one run (issue 23)"
SCENARIOS = {1: "default", 10: "national"}
FIGURES = "bootstrap.json"  # beside a world this bench built: its build's figures


def world_env(root: Path, scenario: str) -> dict[str, str]:
    """The environment of ``opsmatch`` on the world folder ``root`` (``data/``, ``mlflow.db``,
    ``artifacts/``: the layout of the test worlds and of ``bench_service_scale``)."""
    return {
        **os.environ,
        "OPSMATCH_DATA_DIR": str(root / "data"),
        "OPSMATCH_MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "OPSMATCH_MLFLOW_ARTIFACT_ROOT": str(root / "artifacts"),
        "OPSMATCH_SCENARIO": scenario,
        "OPSMATCH_CLOCK": "demo",  # `make run`'s clock: the history ends on a working-day morning
        "OMP_WAIT_POLICY": "PASSIVE",
    }


def _time_v(text: str, label: str) -> str:
    m = re.search(rf"{re.escape(label)}: (.+)", text)
    return m.group(1).strip() if m else ""


def _wall_seconds(text: str) -> float:
    parts = [float(p) for p in _time_v(text, "Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")]
    return sum(p * 60**i for i, p in enumerate(reversed(parts)))


def bootstrap(root: Path, scenario: str, days: int) -> dict[str, Any]:
    """Build the world at ``root`` from nothing; its figures (also stored in ``root/bootstrap.json``)."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    timing, log = root / "time-v.txt", root / "bootstrap.log"
    cmd = ["/usr/bin/time", "-v", "-o", str(timing), str(ROOT / ".venv/bin/opsmatch"), "bootstrap"]
    load_before = os.getloadavg()[0]
    with log.open("w") as out:
        subprocess.run([*cmd, "--days", str(days)], cwd=ROOT, env=world_env(root, scenario), stdout=out,
                       stderr=subprocess.STDOUT, check=True)  # fmt: skip
    text = timing.read_text()
    got = {
        "scenario": scenario,
        "days": days,
        "measured": datetime.now(UTC).isoformat(timespec="minutes"),
        "wall_s": round(_wall_seconds(text), 1),
        "cpu_s": round(
            float(_time_v(text, "User time (seconds)")) + float(_time_v(text, "System time (seconds)")), 1
        ),
        "peak_rss_mb": round(int(_time_v(text, "Maximum resident set size (kbytes)")) / 1024),
        "load": (round(load_before, 1), round(os.getloadavg()[0], 1)),
    }
    (root / FIGURES).write_text(json.dumps(got, indent=1))
    return got


def private_copy(root: Path) -> Path:
    """A copy of the world for the service to write into (worker statuses, state); MLflow's artifacts
    stay where the runs recorded them (read only)."""
    dst = Path(tempfile.mkdtemp(prefix=f"scale-{root.name}-"))
    shutil.copytree(root / "data", dst / "data")
    shutil.copy2(root / "mlflow.db", dst / "mlflow.db")
    return dst


EXTRA: dict[str, str] = {}  # more environment of the service (``--env``)


def service_extra(scenario: str, copy: Path) -> dict[str, str]:
    """The service's clock and scenario: the world's, the demo clock chosen as `opsmatch demo` chooses it
    (a working-day morning, never before the copy's newest event; the service refuses a demo clock
    without its anchor)."""
    import bench_service_scale as svc

    from apps.demo import clock_env, with_clock

    settings = svc.settings_of(copy).model_copy(update={"clock": "demo"})
    return {**clock_env(with_clock(settings)), "OPSMATCH_SCENARIO": scenario, **EXTRA}


def watchlist(copy: Path, n: int, scenario: str) -> dict[str, Any]:
    """First and warm ``GET /watchlist`` (national) on a real service over the copy."""
    import bench_service_scale as svc

    from serving.runtime import launch

    settings = svc.settings_of(copy)
    extra = service_extra(scenario, copy)
    env = launch.service_env(settings, Path(tempfile.mkdtemp(prefix="bentoml-")), **extra)
    with launch.running(env, copy / "watchlist-serve.log", timeout=900) as url:
        c = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {svc.TOKEN}"}, timeout=600)
        calls = svc.timed(n + 1, lambda: c.get("/watchlist"))
        size = len(c.get("/watchlist").json().get("entries", []))
    warm = calls[1:]
    p50, p99 = svc.q(warm, 0.5), svc.q(warm, 0.99)
    return {"first_ms": round(calls[0]), "p50_ms": round(p50), "p99_ms": round(p99), "entries": size}


def service(root: Path, scenario: str, n: int, idle: float) -> dict[str, Any]:
    """The service side (``bench_service_scale.run``) on a private copy of the world, then removed."""
    import bench_service_scale as svc

    copy = private_copy(root)
    try:
        got = svc.run(copy, n, idle, copy / "serve.log", service_extra(scenario, copy))
        if "watchlist_ms" not in got:
            got["watchlist"] = watchlist(copy, max(3, n // 10), scenario)
        return got
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def _pair(v: Any, unit: str = "") -> str:
    if v is None:
        return "not measured"
    if isinstance(v, list | tuple):
        return " / ".join(f"{x:g}" for x in v) + unit
    return f"{v:g}{unit}" if isinstance(v, float | int) else str(v)


def _rss(v: Any) -> str:
    return "not measured" if not v else f"{sum(v.values()):,.0f} MB ({len(v)} processes)"


def table(results: dict[int, dict[str, Any]]) -> str:
    """The Markdown table: one row per measure, one column per size, and the target."""
    sizes = sorted(results)
    boot = {s: results[s]["bootstrap"] for s in sizes}
    svc = {s: results[s].get("service", {}) for s in sizes}

    def get(s: int, key: str, unit: str) -> str:
        return _pair(svc[s].get(key), unit)

    def row(name: str, target: str, cell) -> str:  # noqa: ANN001
        return f"| {name} | {target} | " + " | ".join(cell(s) for s in sizes) + " |"

    def wl(s: int) -> str:
        w = svc[s].get("watchlist") or {}
        if "watchlist_ms" in svc[s]:
            return _pair(svc[s]["watchlist_ms"], " ms")
        return (
            f"first {w['first_ms']:,} ms, warm p50 / p99 {w['p50_ms']:,} / {w['p99_ms']:,} ms" if w else "—"
        )

    def assign(s: int) -> str:
        a = svc[s].get("assign") or {}
        gap = a.get("optimality_gap", a.get("gap"))
        gap_text = "gap not reported" if gap is None else f"gap {gap:g}"
        return f"{_pair(svc[s].get('assign_s'), ' s')} (CPU {_pair(svc[s].get('assign_cpu_s'), ' s')}; " + (
            ", ".join(f"{k} {v:,}" for k, v in a.items() if isinstance(v, int)) + f"; {gap_text})"
        )

    days = next((boot[s]["days"] for s in sizes if "days" in boot[s]), "D")

    def built(s: int, cell) -> str:  # noqa: ANN001
        return cell(boot[s]) if "wall_s" in boot[s] else "not measured (world built elsewhere)"

    head = "| measure | target | " + " | ".join(f"{s}x ({boot[s]['scenario']})" for s in sizes) + " |"
    lines = [
        head,
        "| --- | --- | " + " | ".join("---" for _ in sizes) + " |",
        row(f"`opsmatch bootstrap --days {days}` wall", "10x ≤ 5 min",
            lambda s: built(s, lambda b: f"{b['wall_s']:,.0f} s (load {b['load'][0]} → {b['load'][1]})")),
        row("bootstrap CPU (user + sys)", "—", lambda s: built(s, lambda b: f"{b['cpu_s']:,.0f} s")),
        row("bootstrap peak RSS (OS, `time -v`)", "10x ≤ 4 GB",
            lambda s: built(s, lambda b: f"{b['peak_rss_mb']:,} MB")),
        row("service RSS once settled (all processes)", "≤ 600 MB / ≤ 1.5 GB",
            lambda s: _rss(svc[s].get("rss_settled_mb"))),
        row("service RSS at the end", "same", lambda s: _rss(svc[s].get("rss_end_mb"))),
        row("restart: serve → /readyz", "10x ≤ 60 s", lambda s: _pair(svc[s].get("ready_s"), " s")),
        row("idle CPU of the service", "≤ 5 % of a core", lambda s: _pair(svc[s].get("idle_cpu_pct"), " %")),
        row("`GET /tasks?status=pending&limit=50` p50 / p99", "≤ 50 ms",
            lambda s: _pair(svc[s].get("tasks_pending_ms"), " ms")),
        row("board refresh (`/console/api/board`) p50 / p99, wall", "≤ 50 ms",
            lambda s: _pair(svc[s].get("board_ms"), " ms")),
        row("board refresh, server time p50 / p99", "≤ 50 ms", lambda s: get(s, "board_server_ms", " ms")),
        row("monitor sweep, nobody / everyone on shift", "≤ 1 s",
            lambda s: f"{get(s, 'sweep_nobody_s', ' s')} / {get(s, 'sweep_everyone_s', ' s')}"),
        row("`/rank` p50 / p99, every worker on shift", "p99 ≤ 25 ms",
            lambda s: f"{get(s, 'rank_ms', ' ms')} ({svc[s].get('workers_on_shift', 0):,} on shift; "
            f"CPU {get(s, 'rank_cpu_ms', ' ms')}/call)"),
        row("`/assign` tick at peak (all waiting, everyone on shift)", "≤ 2 s, gap ≤ 0.1 %", assign),
        row("national `GET /watchlist`", "≤ 500 ms", wl),
        row("load average at the end of the service bench", "—", lambda s: _pair(svc[s].get("load"))),
    ]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,10", help="comma-separated multiples of default: 1 and/or 10")
    ap.add_argument("--days", type=int, default=45)
    ap.add_argument("--worlds", type=Path, default=ROOT / ".cache" / "scale-worlds")
    ap.add_argument("--reuse", action="store_true", help="keep a world this bench built (its old figures)")
    ap.add_argument(
        "--world",
        action="append",
        default=[],
        help="SIZE=PATH: the service part on a world built elsewhere (its bootstrap.json if any; repeatable)",
    )
    ap.add_argument("--no-service", action="store_true", help="bootstrap figures only")
    ap.add_argument("--n", type=int, default=50, help="calls per latency figure")
    ap.add_argument("--idle", type=float, default=30.0, help="seconds of the idle-CPU window")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE for the service (repeatable)")
    args = ap.parse_args()
    EXTRA.update(e.split("=", 1) for e in args.env)
    results: dict[int, dict[str, Any]] = {}
    started = time.perf_counter()
    given = {int(k): Path(v) for k, v in (w.split("=", 1) for w in args.world)}
    for size in (int(x) for x in args.sizes.split(",")):
        scenario = SCENARIOS[size]
        root = given.get(size, args.worlds / f"bench-{scenario}-{args.days}d")
        stored = root / FIGURES
        if size in given:  # built elsewhere: its figures when it kept them
            boot = json.loads(stored.read_text()) if stored.exists() else {"scenario": scenario}
        elif args.reuse and stored.exists() and (root / "data" / "keys").exists():
            boot = json.loads(stored.read_text())
        else:
            boot = bootstrap(root, scenario, args.days)
        results[size] = {"bootstrap": boot}
        print(json.dumps({size: boot}), flush=True)
        if not args.no_service:
            results[size]["service"] = service(root, scenario, args.n, args.idle)
            print(json.dumps({size: results[size]["service"]}, default=str), flush=True)
    (args.worlds / "bench-scale.json").write_text(json.dumps(results, indent=1, default=str))
    text = table(results)
    print(text)
    if args.write:
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        write_section(
            SECTION,
            f"{SECTION}\n\n`OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/bench_scale.py "
            f"--sizes {args.sizes} --days {args.days}{' --reuse' if args.reuse else ''}"
            + "".join(f" --world {w}" for w in args.world)
            + "".join(f" --env {e}" for e in args.env)
            + " --write` "
            f"({when}, 2 shared cores, "
            f"{time.perf_counter() - started:,.0f} s in all). Service figures over HTTP on a real "
            "`bentoml serve` (`bench/bench_service_scale.py`) on a private copy of each world; wall times "
            "include the other sessions' load (CPU seconds beside them).\n\n" + text,
        )


if __name__ == "__main__":
    main()
