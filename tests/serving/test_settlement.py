"""Settlement between provinces on a hand-computed toy log (three provinces, a dozen tasks, one rework,
one late QA result after the close), closing, adjustments, bad input and the CSV/Parquet export.

Toy prices (``CONFIG``): 8,352 productive minutes per FTE a month (21.75 d x 8 h x 80 %), so a monthly
cost of 8,352 / 16,704 / 12,528 yuan gives P01 1, P02 2 and P03 1.5 yuan a minute. Standards come from
October's completions: renewal (complexity 2) 20 min, claims review (complexity 3) 40 min. Late work
is priced at half; a task whose last QA check failed at nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from typer.testing import CliRunner

from opsmatch import events
from serving.errors import ApiError
from serving.settlement.rates import load_config
from serving.settlement.statements import Settlement, month_period
from serving.state.store import StateStore

CONFIG = load_config(
    {
        "staff_cost": {"monthly_per_fte": 8352, "provinces": {"P02": 16704, "P03": 12528}},
        "standards": {"min_completions": 1},
        "pricing": {"late_factor": 0.5, "failed_qa_factor": 0},
    }
)
WORKERS = {"W11": "P01", "W12": "P01", "W21": "P02", "W31": "P03"}
R, C = ("renewal", 2, 20.0), ("claims_review", 3, 40.0)  # (type, complexity, handling minutes)
# task, owner, worker, kind, completed (Beijing time), late
TASKS = [
    ("O1", "P01", "W11", (R[0], R[1], 10.0), "2026-10-10 10:00", False),  # October: the standards
    ("O2", "P01", "W12", (R[0], R[1], 20.0), "2026-10-11 10:00", False),
    ("O3", "P02", "W21", (R[0], R[1], 30.0), "2026-10-12 10:00", False),
    ("O4", "P03", "W31", (C[0], C[1], 40.0), "2026-10-13 10:00", False),
    ("T11", "P02", "W11", R, "2026-11-01 00:00", False),  # at the start: in (from is inclusive)
    ("T01", "P01", "W21", R, "2026-11-02 10:00", False),
    ("T02", "P01", "W31", C, "2026-11-03 10:00", False),
    ("T03", "P02", "W11", R, "2026-11-04 10:00", False),
    ("T04", "P02", "W21", R, "2026-11-05 10:00", False),  # own work
    ("T05", "P03", "W11", C, "2026-11-06 10:00", False),
    ("T06", "P03", "W21", R, "2026-11-07 10:00", True),  # late: half price
    ("T07", "P01", "W12", C, "2026-11-08 10:00", False),  # own work
    ("T08", "P02", "W31", R, "2026-11-09 10:00", False),  # QA failed, not redone: 0
    ("T09", "P03", "W31", C, "2026-11-10 10:00", False),  # own work, failed, reworked by W11 (P01)
    ("T10", "P01", "W21", C, "2026-11-11 10:00", False),  # passed; a failed check arrives after the close
    ("T12", "P03", "W21", R, "2026-12-01 00:00", False),  # at the end: December (to is exclusive)
]
QA = [
    ("Q08", "T08", "W31", "2026-11-10 09:00", False),
    ("Q09a", "T09", "W31", "2026-11-11 09:00", False),
    ("Q09b", "T09", "W11", "2026-11-12 09:00", True),
    ("Q10", "T10", "W21", "2026-11-20 09:00", True),
]
LATE_QA = [("Q10late", "T10", "W21", "2026-12-03 09:00", False)]


def _bj(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="Asia/Shanghai").tz_convert("UTC")


def _qa_rows(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "qa_id": q,
                "task_id": t,
                "worker_id": w,
                "checked_at": _bj(at),
                "passed": ok,
                "score": 90.0 if ok else 20.0,
                "satisfaction": None,
            }
            for q, t, w, at, ok in rows
        ]  # fmt: skip
    )


def write_toy(where: str) -> None:
    """The toy log into the event store at ``where``."""
    provinces = pd.DataFrame(
        [
            {
                "province_id": p,
                "name": p,
                "timezone": "Asia/Shanghai",
                "workday_start_hour": 8,
                "workday_end_hour": 18,
                "works_weekends": False,
            }
            for p in ("P01", "P02", "P03")
        ]  # fmt: skip
    )
    workers = pd.DataFrame(
        [
            {
                "worker_id": w,
                "province_id": p,
                "hired_at": _bj("2025-01-01 00:00"),
                "skills": '{"renewal": 3}',
                "daily_capacity": 30,
                "shift_start_hour": 9,
                "shift_hours": 8,
                "work_days": "01234",
                "active": True,
            }
            for w, p in WORKERS.items()
        ]  # fmt: skip
    )
    tasks, done = [], []
    for task_id, owner, worker, (kind, cx, minutes), at, late in TASKS:
        completed = _bj(at)
        due = completed + pd.Timedelta(hours=-1 if late else 24)
        tasks.append({"task_id": task_id, "task_type": kind, "province_id": owner, "customer_id": "C1",
                      "created_at": completed - pd.Timedelta(hours=2), "sla_due_at": due, "complexity": cx,
                      "channel": "online", "amount": 100.0})  # fmt: skip
        start = completed - pd.Timedelta(minutes=minutes)
        done.append({"task_id": task_id, "worker_id": worker, "started_at": start, "completed_at": completed,
                     "handling_minutes": minutes})  # fmt: skip
    events.append(where, "provinces", provinces)
    events.append(where, "workers", workers)
    events.append(where, "tasks", pd.DataFrame(tasks))
    events.append(where, "completions", pd.DataFrame(done))
    events.append(where, "qa_results", _qa_rows(QA))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def toy(tmp_path):  # noqa: ANN201
    where = f"sqlite:///{tmp_path / 'events.db'}"
    write_toy(where)
    state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    clock = Clock(datetime(2026, 12, 2, tzinfo=UTC))
    yield Settlement(where, state, clock, CONFIG), where, clock
    state.close()


def _nov(settle: Settlement) -> dict:
    return settle.statement(month_period("2026-11", "Asia/Shanghai"), limit=None)


def _by_province(statement: dict) -> dict[str, tuple]:
    keys = ("credit_cents", "debit_cents", "net_cents", "tasks_for_others", "tasks_by_others", "own_tasks")
    return {r["province_id"]: tuple(r[k] for k in keys) for r in statement["provinces"]}


def test_toy_november_is_the_hand_computed_statement(toy) -> None:  # noqa: ANN001
    settle, _, _ = toy
    nov = _nov(settle)
    assert nov["status"] == "open" and nov["month"] == "2026-11"
    assert {(s["task_type"], s["complexity"]): s["minutes"] for s in nov["standards"]} == {
        ("renewal", 2): "20.0",
        ("claims_review", 3): "40.0",
    }
    assert nov["rates"] == {"P01": "1.0000", "P02": "2.0000", "P03": "1.5000"}
    lines = {
        x["task_id"]: (x["credit_province"], x["debit_province"], x["worker_id"], x["amount_cents"])
        for x in nov["lines"]
    }
    assert lines == {
        "T11": ("P01", "P02", "W11", 2000),
        "T01": ("P02", "P01", "W21", 4000),
        "T02": ("P03", "P01", "W31", 6000),
        "T03": ("P01", "P02", "W11", 2000),
        "T05": ("P01", "P03", "W11", 4000),
        "T06": ("P02", "P03", "W21", 2000),  # late: 20 min x 2 yuan x 0.5
        "T08": ("P03", "P02", "W31", 0),  # failed QA, not redone
        "T09": ("P01", "P03", "W11", 4000),  # own completion, reworked by P01: credited once, to P01
        "T10": ("P02", "P01", "W21", 8000),
    }
    assert [x["task_id"] for x in nov["lines"]][:2] == ["T11", "T01"]  # in completion order
    assert {x["task_id"]: x["qa"] for x in nov["lines"]}["T09"] == "reworked"
    assert _by_province(nov) == {  # credit, debit, net, for others, by others, own
        "P01": (12000, 18000, -6000, 4, 3, 1),
        "P02": (14000, 4000, 10000, 3, 3, 1),
        "P03": (6000, 10000, -4000, 2, 3, 0),
    }
    assert nov["national"]["credit_cents"] == nov["national"]["debit_cents"] == 32000
    assert {(f["worker_province"], f["owner_province"]): f["amount_cents"] for f in nov["flows"]}[
        ("P02", "P01")
    ] == 12000
    one = settle.statement(month_period("2026-11", "Asia/Shanghai"), "P03", counterparty="P01", limit=None)
    assert [r["province_id"] for r in one["provinces"]] == ["P03"]
    assert {x["task_id"] for x in one["lines"]} == {"T02", "T05", "T09"}


def test_closed_month_is_frozen_and_the_late_qa_adjusts_december(toy, tmp_path) -> None:  # noqa: ANN001
    settle, where, clock = toy
    closed = settle.close("2026-11", actor="ops-head-1", note="November")
    assert closed["status"] == "closed" and closed["lines_total"] == 9
    with settle.book.engine.connect() as conn:
        audit = conn.exec_driver_sql(
            "select actor, action, target from audit_log where action = 'settlement_close'"
        ).all()
    assert audit == [("ops-head-1", "settlement_close", "settlement:2026-11")]
    with pytest.raises(ApiError) as again:
        settle.close("2026-11", actor="ops-head-1")
    assert again.value.status == 409
    before = _nov(settle)
    files_before = _export(where, settle, tmp_path / "a")

    clock.now = datetime(2026, 12, 5, tzinfo=UTC)
    events.append(where, "qa_results", _qa_rows(LATE_QA))  # T10 fails QA after the close
    after = _nov(settle)
    assert after == before and after["status"] == "closed" and after["closed_by"] == "ops-head-1"
    assert _export(where, settle, tmp_path / "b") == files_before  # byte-identical re-run
    assert _by_province(after) == _by_province(_reference_november())

    dec = settle.statement(month_period("2026-12", "Asia/Shanghai"), provisional=True, limit=None)
    assert dec["status"] == "provisional"
    fields = ("kind", "task_id", "ref_month", "credit_province", "debit_province", "amount_cents")
    got = {tuple(x[f] for f in fields) for x in dec["lines"]}
    assert got == {
        ("work", "T12", None, "P02", "P03", 4000),
        ("adjustment", "T10", "2026-11", "P02", "P01", -8000),  # the credit withdrawn: its last check failed
    }
    assert _by_province(dec) == {
        "P01": (0, -8000, 8000, 0, 0, 0),
        "P02": (-4000, 0, -4000, 1, 0, 0),
        "P03": (0, 4000, -4000, 0, 1, 0),
    }
    assert dec["national"]["credit_cents"] == dec["national"]["debit_cents"] == -4000
    # December closed: its adjustment is settled, so January carries nothing more for T10.
    clock.now = datetime(2027, 1, 2, tzinfo=UTC)
    settle.close("2026-12", actor="ops-head-1")
    jan = settle.statement(month_period("2027-01", "Asia/Shanghai"), provisional=True, limit=None)
    assert jan["lines"] == [] and jan["national"]["credit_cents"] == 0


def _reference_november() -> dict:
    return {"provinces": [
        {"province_id": "P01", "credit_cents": 12000, "debit_cents": 18000, "net_cents": -6000,
         "tasks_for_others": 4, "tasks_by_others": 3, "own_tasks": 1},
        {"province_id": "P02", "credit_cents": 14000, "debit_cents": 4000, "net_cents": 10000,
         "tasks_for_others": 3, "tasks_by_others": 3, "own_tasks": 1},
        {"province_id": "P03", "credit_cents": 6000, "debit_cents": 10000, "net_cents": -4000,
         "tasks_for_others": 2, "tasks_by_others": 3, "own_tasks": 0},
    ]}  # fmt: skip


def _export(where: str, settle: Settlement, out) -> dict[str, bytes]:  # noqa: ANN001
    """The CLI's files for November (through ``opsmatch settlement``), by name."""
    from apps.cli import app

    db = settle.book.engine.url.render_as_string(hide_password=False)
    env = {"OPSMATCH_EVENTS_URL": where, "OPSMATCH_STATE_DB_URL": db, "OPSMATCH_DATA_DIR": str(out / "data")}
    got = CliRunner().invoke(app, ["settlement", "--month", "2026-11", "--out", str(out)], env=env)
    assert got.exit_code == 0, got.output
    files = {p.name: p.read_bytes() for p in sorted(out.glob("settlement-*"))}
    assert set(files) == {f"settlement-2026-11-{n}" for n in (
        "lines.csv", "lines.parquet", "provinces.csv", "provinces.parquet", "flows.csv", "flows.parquet",
        "statement.json")}  # fmt: skip
    lines = pd.read_parquet(out / "settlement-2026-11-lines.parquet")
    assert len(lines) == 9 and lines["amount_cents"].sum() == 32000
    return files


def test_bad_input_names_the_field(toy) -> None:  # noqa: ANN001
    settle, _, _ = toy
    nov = month_period("2026-11", "Asia/Shanghai")
    cases = [
        (lambda: settle.period(datetime(2026, 11, 5), datetime(2026, 11, 1), None), ["query", "to"]),
        (lambda: settle.period(None, None, "2026-13"), ["query", "month"]),
        (lambda: settle.period(datetime(2026, 11, 5), None, None), ["query", "to"]),
        (lambda: settle.statement(nov, "P99"), ["query", "province_id"]),
        (lambda: settle.statement(month_period("2026-12", "Asia/Shanghai")), ["query", "month"]),  # not ended
        (lambda: settle.close("2026-12", actor="x"), ["month"]),
    ]
    for call, loc in cases:
        with pytest.raises(ApiError) as err:
            call()
        assert err.value.status == 422 and err.value.loc == loc, (loc, err.value.message)
    assert settle.period(datetime(2026, 11, 1), datetime(2026, 12, 1), None).month == "2026-11"
    part = settle.period(datetime(2026, 11, 1), datetime(2026, 11, 5), None)
    assert part.month is None and settle.statement(part, limit=2)["lines_total"] == 4  # T11, T01-T03


def test_cli_refuses_a_month_not_ended_unless_provisional(toy, tmp_path) -> None:  # noqa: ANN001
    from apps.cli import app

    settle, where, _ = toy
    db = settle.book.engine.url.render_as_string(hide_password=False)
    env = {
        "OPSMATCH_EVENTS_URL": where,
        "OPSMATCH_STATE_DB_URL": db,
        "OPSMATCH_DATA_DIR": str(tmp_path / "d"),
    }
    args = ["settlement", "--month", "2198-12", "--out", str(tmp_path / "out")]
    refused = CliRunner().invoke(app, args, env=env)
    assert refused.exit_code == 2 and "provisional" in refused.output
    assert CliRunner().invoke(app, [*args, "--provisional"], env=env).exit_code == 0
    assert pd.read_csv(tmp_path / "out" / "settlement-2198-12-provinces.csv")["credit_cents"].sum() == 0
