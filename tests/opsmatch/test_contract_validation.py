"""validate_table: row-level quarantine with exact row/column/reason, file-level refusal, typing rules."""

from __future__ import annotations

import pandas as pd
import pytest

from opsmatch.contract import LOAD_ORDER, TABLES
from opsmatch.validation import ContractError, Rejection, ValidationResult, validate_table
from tests import factories as f

SOURCE = "in/tasks.csv"


def known_keys() -> dict[str, set[str]]:
    """Keys of every factory table, as the store would know them."""
    return {name: set(df[TABLES[name].key[0]]) for name, df in f.event_tables().items()}


def run(name: str, frame: pd.DataFrame, **kw: object) -> ValidationResult:
    args = {"source": SOURCE, "known_keys": known_keys(), "now": f.NOW} | kw
    return validate_table(TABLES[name], frame, **args)  # type: ignore[arg-type]


def text(name: str) -> pd.DataFrame:
    """The factory table as CSV cells (strings)."""
    return f.to_csv_frame(f.event_tables()[name])


def problems(res: ValidationResult) -> list[tuple[int, str, str, str]]:
    return [(r.row, r.column, r.value, r.reason) for r in res.rejections]


@pytest.mark.parametrize("name", LOAD_ORDER)
@pytest.mark.parametrize("as_text", [True, False], ids=["csv-strings", "typed"])
def test_valid_tables_pass_unchanged(name: str, as_text: bool) -> None:
    typed = f.event_tables()[name]
    res = run(name, f.to_csv_frame(typed) if as_text else typed)
    assert res.rejections == []
    assert res.rows_read == len(typed)
    assert list(res.accepted_rows) == list(range(1, len(typed) + 1))
    pd.testing.assert_frame_equal(res.accepted, typed)


def test_missing_column_refuses_file_naming_file_and_column() -> None:
    with pytest.raises(
        ContractError, match=r"in/tasks\.csv: refused: .*missing required column\(s\): amount"
    ):
        run("tasks", text("tasks").drop(columns=["amount"]))


def test_missing_key_column_is_named_as_key() -> None:
    with pytest.raises(ContractError, match=r"missing key column\(s\) task_id: task_id"):
        run("tasks", text("tasks").drop(columns=["task_id"]))


def test_nullable_column_is_still_required_in_the_header() -> None:
    with pytest.raises(ContractError, match="satisfaction"):
        run("qa_results", text("qa_results").drop(columns=["satisfaction"]))


def test_empty_frame_refused() -> None:
    with pytest.raises(ContractError, match=r"in/tasks\.csv: refused: no data rows"):
        run("tasks", text("tasks").iloc[:0])


def test_extra_columns_ignored_with_warning() -> None:
    res = run("tasks", text("tasks").assign(note="x"))
    assert res.warnings == ["in/tasks.csv: ignored column(s) not in the 'tasks' contract: note"]
    assert list(res.accepted.columns) == TABLES["tasks"].column_names
    assert len(res.accepted) == 4


@pytest.mark.parametrize(
    ("name", "column", "bad", "reason"),
    [
        ("tasks", "complexity", "abc", "not an integer"),
        ("tasks", "complexity", "3.5", "not an integer"),
        ("tasks", "amount", "12,5", "not a number"),
        ("tasks", "amount", "NaN", "NaN is not allowed"),
        ("tasks", "amount", "inf", "infinite value is not allowed"),
        ("tasks", "created_at", "yesterday", "not an ISO-8601 timestamp"),
        ("tasks", "created_at", "2026-13-01", "not an ISO-8601 timestamp"),
        ("tasks", "task_type", "", "missing value (column is required)"),
        ("tasks", "complexity", "9", "out of range [1, 5]"),
        ("tasks", "amount", "-0.01", "out of range [0, 1e+10]"),
        ("tasks", "channel", "fax", "not one of: branch, agent, online, phone"),
        (
            "tasks",
            "task_type",
            "Renewal",
            "not one of: " + ", ".join(TABLES["tasks"].column("task_type").choices),
        ),
        (
            "tasks",
            "customer_id",
            "C999",
            "unknown customers.customer_id: not in the event store nor loaded in this run",
        ),
        (
            "qa_results",
            "checked_at",
            "2026-07-01T00:00:01Z",
            "in the future (after 2026-07-01T00:00:00+00:00)",
        ),
        ("customers", "vip", "maybe", "not a boolean (use true/false or 1/0)"),
        ("provinces", "timezone", "China/Beijing", "not an IANA timezone (e.g. Asia/Shanghai)"),
        ("provinces", "workday_end_hour", "9", "workday_end_hour must be after workday_start_hour"),
        (
            "workers",
            "work_days",
            "0127",
            "work_days must be distinct weekday digits 0-6 (Monday=0), e.g. 01234",
        ),
        (
            "workers",
            "work_days",
            "0011",
            "work_days must be distinct weekday digits 0-6 (Monday=0), e.g. 01234",
        ),
        ("completions", "completed_at", "2026-06-01T08:00:00Z", "completed_at is before started_at"),
        ("qa_results", "satisfaction", "6", "out of range [1, 5]"),
        ("worker_status", "open_tasks", "-1", "out of range [0, 10000]"),
    ],
)
def test_bad_value_quarantines_exactly_that_row(name: str, column: str, bad: str, reason: str) -> None:
    frame = text(name)
    frame.loc[1, column] = bad
    res = run(name, frame)
    assert problems(res) == [(2, column, bad, reason)]
    assert list(res.rejected_rows) == [2]
    assert len(res.accepted) == len(frame) - 1
    assert 2 not in set(res.accepted_rows)


def test_sla_before_created_is_quarantined() -> None:
    frame = text("tasks")
    frame.loc[0, "sla_due_at"] = "2026-06-01T07:59:59Z"
    assert problems(run("tasks", frame)) == [
        (1, "sla_due_at", "2026-06-01T07:59:59Z", "sla_due_at is before created_at")
    ]


def test_sla_in_the_future_is_allowed() -> None:
    frame = text("tasks")
    frame.loc[0, "sla_due_at"] = "2027-01-01T00:00:00Z"
    assert run("tasks", frame).rejections == []


@pytest.mark.parametrize(
    ("skills", "reason"),
    [
        ('{"renewal": 3', "invalid JSON: Expecting ',' delimiter: line 1 column 14 (char 13)"),
        ('["renewal"]', "skills must be a JSON object mapping task_type to level 1-5"),
        ('{"cooking": 3}', "unknown task type 'cooking' in skills (known: " + ", ".join(f.TASK_TYPES) + ")"),
        ('{"renewal": 6}', "skill level for 'renewal' must be an integer 1-5"),
        ('{"renewal": "3"}', "skill level for 'renewal' must be an integer 1-5"),
        ('{"renewal": true}', "skill level for 'renewal' must be an integer 1-5"),
        ('{"renewal": 2.5}', "skill level for 'renewal' must be an integer 1-5"),
    ],
)
def test_bad_skills_json(skills: str, reason: str) -> None:
    frame = text("workers")
    frame.loc[2, "skills"] = skills
    assert problems(run("workers", frame)) == [(3, "skills", skills, reason)]


def test_skills_stored_as_canonical_json() -> None:
    frame = text("workers")
    frame.loc[0, "skills"] = '{ "underwriting": 2,  "policy_change": 3 }'
    res = run("workers", frame)
    assert res.accepted.loc[0, "skills"] == '{"policy_change":3,"underwriting":2}'
    assert res.accepted.loc[1, "skills"] == f.event_tables()["workers"].loc[1, "skills"]


def test_duplicate_key_keeps_first_and_names_it() -> None:
    frame = text("tasks")
    frame.loc[3, "task_id"] = "T0001"
    res = run("tasks", frame)
    assert problems(res) == [(4, "task_id", "T0001", "duplicate key: same task_id as row 1")]
    assert list(res.accepted["task_id"]) == ["T0001", "T0002", "T0003"]


def test_duplicate_composite_key_compares_parsed_timestamps() -> None:
    frame = text("worker_status")
    frame.loc[0, "at"] = "2026-06-01T08:00:00Z"
    frame.loc[2, ["worker_id", "at"]] = ["W001", "2026-06-01 16:00:00+08:00"]  # same instant as row 1
    res = run("worker_status", frame)
    assert problems(res) == [
        (3, "worker_id,at", "W001, 2026-06-01 16:00:00+08:00", "duplicate key: same worker_id, at as row 1")
    ]


def test_several_problems_in_one_row_are_all_reported_once_per_column() -> None:
    frame = text("tasks")
    frame.loc[2, ["complexity", "channel"]] = ["0", "fax"]
    res = run("tasks", frame)
    assert [(r.row, r.column) for r in res.rejections] == [(3, "complexity"), (3, "channel")]
    assert list(res.rejected_rows) == [3]
    assert res.rejections[0] == Rejection(SOURCE, 3, "complexity", "0", "out of range [1, 5]")


def test_unknown_fk_resolves_against_known_keys_only() -> None:
    frame = text("tasks")
    res = run("tasks", frame, known_keys={"provinces": {"P01", "P02"}, "customers": {"C001"}})
    assert [(r.row, r.value) for r in res.rejections] == [(2, "C002"), (3, "C003")]


def test_nullable_column_accepts_empty_and_nulls_are_na() -> None:
    res = run("qa_results", text("qa_results"))
    assert res.rejections == []
    assert res.accepted["satisfaction"].isna().tolist() == [False, False, True, False]


def test_naive_timestamps_are_utc_and_offsets_are_converted() -> None:
    frame = text("tasks")
    frame.loc[0, "created_at"] = "2026-06-01 08:00:00"
    frame.loc[1, "created_at"] = "2026-06-01T16:10:00+08:00"
    res = run("tasks", frame)
    assert res.rejections == []
    assert res.accepted.loc[0, "created_at"] == pd.Timestamp("2026-06-01 08:00", tz="UTC")
    assert res.accepted.loc[1, "created_at"] == pd.Timestamp("2026-06-01 08:10", tz="UTC")


def test_whitespace_is_stripped_and_booleans_are_flexible() -> None:
    frame = text("customers")
    frame.loc[0, ["customer_id", "vip"]] = ["  C001 ", " TRUE"]
    frame.loc[1, "vip"] = "0"
    res = run("customers", frame)
    assert res.rejections == []
    assert res.accepted.loc[0, "customer_id"] == "C001"
    assert res.accepted["vip"].tolist() == [True, False, True]


def test_typed_input_checks_types_too() -> None:
    typed = f.event_tables()["tasks"].astype({"complexity": "object"})
    typed.loc[1, "complexity"] = True
    typed["created_at"] = typed["created_at"].dt.tz_localize(None)  # naive: read as UTC
    res = run("tasks", typed)
    assert problems(res) == [(2, "complexity", "True", "not an integer")]
    assert res.accepted.loc[0, "created_at"] == f.T0


def test_row_numbers_ignore_the_frame_index() -> None:
    frame = text("tasks")
    frame.index = [10, 20, 30, 40]
    frame.loc[30, "amount"] = "x"
    assert problems(run("tasks", frame)) == [(3, "amount", "x", "not a number")]
