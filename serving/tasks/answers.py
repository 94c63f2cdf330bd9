"""Many transitions in one transaction: the workers' answers of ``POST /assignments/answers`` and the
monitor's take-backs.

Each answer is validated and decided alone, as ``POST /assignments/{id}/accept|reject|start`` would
(404 unknown assignment, 409 illegal now, 422 a reject without its reason), and answered per item;
the legal ones are stored together as one append of ``task_events`` (source ``worker``, actor = the
key's name, like the single routes). Several answers to one task apply in order (an accept, then its
start). An answer the store already holds for that assignment is a duplicate: 200, nothing written.
When another writer moved one of the tasks meanwhile (the append's optimistic lock,
``serving.tasks.book``), the planned transitions are written one by one, and only those whose task
moved are lost (409).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from opsmatch import events
from opsmatch.contract import REJECT_REASONS
from opsmatch.event_store import StoreConflict
from serving.api import task_schemas as ls
from serving.tasks.book import Assignment, event_row
from serving.tasks.dispatch import TransitionConflict
from serving.tasks.lifecycle import IllegalTransition, TaskEvent, TaskState, apply

if TYPE_CHECKING:
    from serving.tasks.dispatch import Lifecycle

# what the task's state says when the same answer is already stored: the answer's own status or later
AFTER: dict[str, frozenset[str]] = {
    "accept": frozenset({"accepted", "started", "done"}),
    "start": frozenset({"started", "done"}),
}


@dataclass(frozen=True)
class Planned:
    """One transition decided on a known state: the state before, the event, the state after."""

    before: TaskState | None
    event: TaskEvent
    after: TaskState


def plan(state: TaskState | None, event: TaskEvent) -> Planned | IllegalTransition:
    """The transition ``event`` makes from ``state``, or why it is illegal."""
    got = apply(state, event)
    return got if isinstance(got, IllegalTransition) else Planned(state, event, got)


def write_planned(
    life: Lifecycle, planned: Sequence[Planned], loc: Sequence[str | int]
) -> list[TaskState | TransitionConflict]:
    """Store the planned transitions in one append (then one refresh of the book); when another writer
    moved one of their tasks first, each again alone on its task's fresh state: the moved ones are 409s."""
    if not planned:
        return []
    try:
        events.append(
            life.engine.settings, "task_events", pd.DataFrame([event_row(p.event) for p in planned])
        )
    except StoreConflict:
        out: list[TaskState | TransitionConflict] = []
        for p in planned:
            fresh = life.book.state(p.event.task_id)
            try:
                if fresh != p.before:
                    status = None if fresh is None else fresh.status
                    where = "does not exist" if status is None else f"is now {status.value}"
                    what = f"cannot {p.event.kind} task {p.event.task_id}: another writer moved it first"
                    raise TransitionConflict(f"{what}; it {where}", status, loc)
                out.append(life.transition(fresh, p.event, loc))
            except TransitionConflict as exc:
                out.append(exc)
        life.book.refresh()
        return out
    life.book.refresh()
    return [p.after for p in planned]


def _out(a: ls.AnswerIn, status: int, known: Assignment | None = None, **more: Any) -> ls.AnswerOut:
    """One answer's result (``more``: state, at, duplicate, error)."""
    return ls.AnswerOut(
        assignment_id=a.assignment_id,
        action=a.action,
        status=status,
        task_id=None if known is None else known.task_id,
        worker_id=None if known is None else known.worker_id,
        **more,
    )


def _duplicate(life: Lifecycle, a: ls.AnswerIn, task_id: str, state: TaskState | None) -> bool:
    """Whether this very answer to this assignment is already stored."""
    if a.action in AFTER and state is not None and state.assignment_id == a.assignment_id:
        return state.status.value in AFTER[a.action]
    return any(e.kind == a.action and e.assignment_id == a.assignment_id for e in life.book.history(task_id))


def answer_many(life: Lifecycle, req: ls.AnswersIn, *, actor: str) -> ls.AnswersOut:
    """``POST /assignments/answers`` (see the module docstring)."""
    eng = life.engine
    eng.limit(len(req.answers), eng.config.max_outcome_rows, "answers", "answers")
    life.book.refresh()
    now = eng.clock()
    out: list[ls.AnswerOut | None] = [None] * len(req.answers)
    running: dict[str, tuple[TaskState | None, int]] = {}  # task -> (state, events held) within the batch
    planned: list[tuple[int, Planned, Assignment]] = []
    assignments = life.book.assignments(a.assignment_id for a in req.answers)
    for i, a in enumerate(req.answers):
        if (a.action == "reject") != (a.reason_code is not None):
            why = f"a reject needs one of: {', '.join(REJECT_REASONS)}" if a.action == "reject" else None
            out[i] = _out(a, 422, error=f"reason_code: {why or 'only a reject has one'}")
            continue
        known = assignments.get(a.assignment_id)
        if known is None:
            out[i] = _out(a, 404, error=f"unknown assignment {a.assignment_id!r}")
            continue
        tid = known.task_id
        if tid not in running:
            n = int(life.book.next_event_id(tid).rsplit("#", 1)[1]) - 1
            running[tid] = (life.book.peek(tid) or life.book.state(tid), n)  # held: no store probe each
        state, n = running[tid]
        event = TaskEvent(
            f"{tid}#{n + 1}",
            tid,
            a.action,
            now,
            actor,
            "worker",
            assignment_id=a.assignment_id,
            worker_id=known.worker_id,
            reason_code=a.reason_code,
            note=a.note,
        )
        got = plan(state, event)
        if isinstance(got, IllegalTransition):
            if _duplicate(life, a, tid, state):
                held = None if state is None else state.status.value
                out[i] = _out(a, 200, known, state=held, duplicate=True)
            else:
                out[i] = _out(a, 409, known, error=got.message)
            continue
        running[tid] = (got.after, n + 1)
        planned.append((i, got, known))
    written = write_planned(life, [p for _, p, _ in planned], ["answers"])
    for (i, _, known), result in zip(planned, written, strict=True):
        a = req.answers[i]
        if isinstance(result, TransitionConflict):
            out[i] = _out(a, 409, known, error=result.message)
        else:
            out[i] = _out(a, 200, known, state=result.status.value, at=now)
    items = [o for o in out if o is not None]
    return ls.AnswersOut(
        received=len(items),
        answered=sum(1 for o in items if o.status == 200 and not o.duplicate),
        duplicates=sum(1 for o in items if o.duplicate),
        refused=sum(1 for o in items if o.status != 200),
        answers=items,
    )
