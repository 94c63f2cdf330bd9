"""Settlement benchmark: a month's statement between provinces on a default-sized history.

Usage: ``.venv/bin/python bench/bench_settlement.py [--data-dir DIR] [--month 2026-11] [--repeats 3]
[--no-doc]``.
The legacy history is province-local (no money moves), so the bench generates 45 days of the
``default`` scenario ending 2026-12-01 00:00 Beijing under national skills-based routing (work done
across provinces, as the living centre dispatches) into ``--data-dir`` unless it is there already,
then times the month's statement (``serving.settlement.statements``, in process; target <= 10 s) and
the CSV and
Parquet export (``opsmatch settlement``), prints the top lines, and replaces the "## Settlement"
section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _docs import write_section  # noqa: E402

from opsmatch import events  # noqa: E402
from opsmatch.settings import Settings  # noqa: E402
from serving.settlement.statements import RECENT_SECONDS, Settlement, month_period  # noqa: E402
from serving.state.store import StateStore  # noqa: E402

END = dt.datetime.fromisoformat("2026-12-01T00:00:00+08:00")
NOW = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)


def history(settings: Settings) -> float:
    """Generate the national-routing history unless stored; its seconds (0 when reused)."""
    if events.has_rows(settings, "completions"):
        return 0.0
    from simulator.policies import NationalLeastBusyPolicy
    from simulator.run import generate_history

    start = time.perf_counter()
    generate_history(settings, "default", 45, end=END, policy=NationalLeastBusyPolicy())
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "opsmatch-bench-settlement"
    )
    ap.add_argument("--month", default="2026-11")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-doc", action="store_true")
    args = ap.parse_args()
    settings = Settings(data_dir=args.data_dir)
    generated = history(settings)
    state = StateStore(f"sqlite:///{args.data_dir / 'bench-state.db'}")
    times = []
    for _ in range(args.repeats):  # a fresh Settlement each time: nothing cached
        settle = Settlement(settings, state, lambda: NOW)
        period = month_period(args.month, settle.config.timezone)
        start = time.perf_counter()
        st = settle.statement(period, limit=10)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    settle.statement(period, "P09", offset=100, limit=100)  # another page of the same statement
    page = time.perf_counter() - start
    state.close()
    closing = StateStore(f"sqlite:///{Path(tempfile.mkdtemp()) / 'close-state.db'}")  # a month closes once
    settle = Settlement(settings, closing, lambda: NOW)
    start = time.perf_counter()
    settle.close(args.month, actor="bench")
    closed = time.perf_counter() - start
    start = time.perf_counter()
    frozen = settle.statement(period, limit=100)
    reread = time.perf_counter() - start
    assert frozen["national"] == st["national"] and frozen["status"] == "closed"
    closing.close()
    out = args.data_dir / "export"
    env = {**os.environ, "OPSMATCH_DATA_DIR": str(args.data_dir),
           "OPSMATCH_STATE_DB_URL": f"sqlite:///{args.data_dir / 'bench-state.db'}"}  # fmt: skip
    start = time.perf_counter()
    cmd = [str(ROOT / ".venv/bin/opsmatch"), "settlement", "--month", args.month, "--out", str(out)]
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    cli = time.perf_counter() - start

    rows = sorted(st["provinces"], key=lambda r: -r["net_cents"])
    nat = st["national"]
    table = ["| province | credit | debit | net | tasks for others | tasks by others | own tasks |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for r in rows[:5] + rows[-5:]:
        table.append(f"| {r['province_id']} | {r['credit']} | {r['debit']} | {r['net']} | "
                     f"{r['tasks_for_others']} | {r['tasks_by_others']} | {r['own_tasks']} |")  # fmt: skip
    lines = ["| task | worker | credit | debit | completed | type (cx) | QA | std min | rate | cents |",
             "| --- | --- | --- | --- | --- | --- | --- | ---: | ---: | ---: |"]  # fmt: skip
    for x in st["lines"][:5]:
        lines.append(f"| {x['task_id']} | {x['worker_id']} | {x['credit_province']} | {x['debit_province']} "
                     "| "
                     f"{x['completed_at'][:16]} | {x['task_type']} ({x['complexity']}) | {x['qa']} | "
                     f"{x['standard_minutes']} | {x['rate']} | {x['amount_cents']} |")  # fmt: skip
    text = "\n".join([
        "## Settlement between provinces (issue 26)",
        "",
        f"`.venv/bin/python bench/bench_settlement.py` ({platform.machine()}, {os.cpu_count()} cores shared; "
        f"run {dt.date.today().isoformat()}). History: `default` scenario, 45 days ending 2026-12-01 00:00 "
        "Beijing, under national skills-based routing (`simulator.run.generate_history(..., "
        "policy=NationalLeastBusyPolicy())`; the legacy history is province-local, so its statements are "
        f"all zero){'' if not generated else f', generated in {generated:.0f} s'}. Standard minutes: the "
        "median of the 90 days before the month (here the 5 days stored before it); cost per productive "
        "minute: the placeholder 12,000 CNY/FTE/month over 8,352 productive minutes = 1.4368 CNY.",
        "",
        f"- Statement of {args.month} (every province, {st['lines_total']:,} lines, as of store version "
        f"{st['event_version']}): median {statistics.median(times):.2f} s over {args.repeats} runs "
        f"(min {min(times):.2f} s; target <= 10 s); load average {os.getloadavg()[0]:.1f} at the end. "
        f"Another page of the same statement (a drill-down within {RECENT_SECONDS:.0f} s): "
        f"{page * 1000:.0f} ms.",
        f"- Closing {args.month} (`POST /settlement/close`: computed afresh, {st['lines_total']:,} lines "
        "written to the state store with the audit record, one transaction): "
        f"{closed:.1f} s; the closed month read back (first page): {reread * 1000:.0f} ms.",
        f"- `opsmatch settlement --month {args.month} --out DIR` (CSV + Parquet of lines, provinces, flows; "
        f"process start included): {cli:.1f} s.",
        f"- National credits {nat['credit']} CNY = national debits {nat['debit']} CNY "
        f"({nat['credit_cents']:,} cents each); {nat['tasks']:,} tasks done for another province.",
        "",
        f"Top and bottom net positions, {args.month}:",
        "",
        *table,
        "",
        "First lines:",
        "",
        *lines,
    ])  # fmt: skip
    print(text)
    if not args.no_doc:
        write_section("## Settlement between provinces (issue 26)", text)


if __name__ == "__main__":
    main()
