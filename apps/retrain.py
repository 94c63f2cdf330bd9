"""The closed retraining loop: new outcomes in the event store -> features -> challengers -> gate.

``retrain(settings)`` is what a scheduler runs (``opsmatch retrain`` from cron, a systemd timer or an
orchestrator task; see docs/operations.md):

1. take an exclusive, non-blocking lock (``<data>/retrain/retrain.lock``): a second run at the same time
   returns ``status="locked"`` naming the holder's pid, and touches nothing;
2. compare the event store with the state of the last completed retrain (``<data>/retrain/state.json``:
   per-table content hash, row count and newest event time). Nothing changed -> ``nothing_to_do``.
   Live worker status alone does not count (it streams in all day and carries no labels);
3. rebuild the feature tables, apply the Feast repo, materialize incrementally;
4. check every model's point-in-time Feast frame against its champion's reference profile
   (``training.preflight``: rows, label rate, join coverage, nulls, PSI). A failure stops the loop
   before anything is registered (``status="blocked"``, a ``model_health`` alert per model, nothing
   recorded, so the next run checks again) unless ``override_checks`` (``opsmatch retrain --force``),
   which trains anyway and tags the runs ``data_checks=overridden`` with the failures;
5. train a challenger for every model (MLflow runs tagged with the data they saw) and put each
   through the champion/challenger gate (``training.gate.promote``); a gate held by the champion check
   (the champion's figures collapsed on the new holdout) raises a ``model_health`` alert;
6. write the new state atomically (temp file + rename), and append one line to ``history.jsonl``.

The state is written only when every stage succeeded: a failed run (``RetrainError``) is retried in
full by the next one. The state records the event store as it was *before* the feature build, so rows
that arrive during a run make the next run retrain again; none is ever skipped. The running service
needs no call: it polls the registry's ``champion`` alias and hot-swaps models, and reloads worker
profiles when the feature tables' fingerprint changes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from opsmatch.contract import LIFECYCLE_TABLES, LOAD_ORDER, TABLES
from opsmatch.locking import FileLock, LockHeld
from opsmatch.settings import Settings

if TYPE_CHECKING:
    from training.data_checks import CheckReport, CheckThresholds
    from training.gate import GateTolerances

STATE_VERSION = 1
# Changes here alone do not trigger a retrain (live status; the lifecycle's own events).
LIVE_ONLY_TABLES: tuple[str, ...] = ("worker_status", *LIFECYCLE_TABLES)
STAGES: tuple[str, ...] = ("detect", "features", "feast_apply", "materialize", "train", "gate")
Status = Literal["retrained", "nothing_to_do", "locked", "blocked"]
Progress = Callable[[float, float], None]
"""``progress(done, total)`` as elsewhere in opsmatch: ``done`` counts stages (fractions within one) out
of ``total`` = len(STAGES); the stage names are in STAGES and the report's ``seconds``."""


def retrain_dir(settings: Settings) -> Path:
    """Folder of the loop's lock, state and history (under the data dir)."""
    return Path(settings.data_dir) / "retrain"


def state_path(settings: Settings) -> Path:
    return retrain_dir(settings) / "state.json"


def lock_path(settings: Settings) -> Path:
    return retrain_dir(settings) / "retrain.lock"


@dataclass
class ModelOutcome:
    """One model's challenger and the gate's verdict, with the figures behind it."""

    model: str
    challenger_version: str | None
    champion_before: str | None
    champion_after: str | None
    promoted: bool
    reasons: list[str] = field(default_factory=list)
    holdout_rows: int = 0
    challenger_metrics: dict[str, float] = field(default_factory=dict)  # gate holdout
    champion_metrics: dict[str, float] = field(default_factory=dict)  # same holdout
    test_metrics: dict[str, float] = field(default_factory=dict)  # the training run's test slice
    rows: dict[str, int] = field(default_factory=dict)  # train / valid / test
    run_id: str | None = None
    held: bool = False  # the champion check stopped promotion: waits for a person
    intervals: dict[str, dict[str, float]] = field(default_factory=dict)  # paired bootstrap, per metric


@dataclass
class RetrainReport:
    """What one ``retrain`` call did; ``lines()`` renders it for a terminal or a log."""

    status: Status
    message: str
    forced: bool = False
    changed_tables: list[str] = field(default_factory=list)
    new_rows: dict[str, int] = field(default_factory=dict)  # rows since the last retrain, per table
    previous_run_at: str | None = None
    data_as_of: str | None = None
    models: dict[str, ModelOutcome] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # per stage, and "total"
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # this process's CPU time per stage
    lock_holder: dict[str, Any] = field(default_factory=dict)
    state_file: str = ""
    data_checks: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # model -> failures, warnings, figures
    checks_overridden: bool = False
    alerts: list[str] = field(default_factory=list)  # model_health alert ids raised by this run

    @property
    def promoted(self) -> list[str]:
        return [m for m, o in self.models.items() if o.promoted]

    @property
    def refused(self) -> list[str]:
        return [m for m, o in self.models.items() if not o.promoted]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """A human summary: the verdict, then one line per model with its reasons indented."""
        out = [self.message]
        if self.new_rows:
            out.append("new rows: " + ", ".join(f"{t} {n:+,}" for t, n in self.new_rows.items() if n))
        for name, c in self.data_checks.items():
            if c["failures"]:
                state = "overridden (--force)" if self.checks_overridden else "failed"
                out.append(f"{name}: data checks {state}")
                out += [f"    - {f}" for f in c["failures"]]
        for name, o in self.models.items():
            verdict = (
                "promoted"
                if o.promoted
                else "held for review (champion kept)"
                if o.held
                else "refused (champion kept)"
            )
            out.append(
                f"{name}: challenger {_v(o.challenger_version)} {verdict}; "
                f"champion {_v(o.champion_before)} -> {_v(o.champion_after)}"
            )
            out += [f"    - {r}" for r in o.reasons]
        if "total" in self.seconds:
            out.append("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in self.seconds.items()))
        if self.cpu_seconds:
            out.append("CPU seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in self.cpu_seconds.items()))
        return out


def _v(version: str | None) -> str:
    return f"v{version}" if version else "none"


class RetrainError(RuntimeError):
    """A stage failed; nothing was recorded, so the next run starts over. ``stage`` names it."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        self.stage = stage
        super().__init__(f"retrain failed at stage {stage!r}: {type(cause).__name__}: {cause}")


# -- detecting new data ---------------------------------------------------------------------------
def table_state(events: Settings | Path) -> dict[str, dict[str, Any]]:
    """Per contract table holding rows: a content hash (of the store version that last added rows: stored
    rows are immutable), rows and newest event time (ISO, UTC); read through the event store."""
    from opsmatch import events as event_log

    out: dict[str, dict[str, Any]] = {}
    store = event_log.store_id(events)
    for name, version in event_log.table_versions(events).items():
        digest = hashlib.sha256(f"{store}:{name}:{version}".encode()).hexdigest()
        info: dict[str, Any] = {
            "sha256": digest,
            "rows": event_log.row_count(events, name),
            "version": version,
        }
        newest = event_log.newest_time(events, name)
        if TABLES[name].time_column:
            info["watermark"] = newest.isoformat() if newest is not None else None
        out[name] = info
    return {name: out[name] for name in LOAD_ORDER if name in out}


def changes_since(previous: dict[str, Any], current: dict[str, dict[str, Any]]) -> tuple[list[str], dict]:
    """Tables whose content differs from ``previous`` (trigger tables only) and row deltas (all)."""
    before = previous.get("tables", {})
    changed = [
        t
        for t in current
        if t not in LIVE_ONLY_TABLES and before.get(t, {}).get("sha256") != current[t]["sha256"]
    ]
    changed += [t for t in before if t not in current and t not in LIVE_ONLY_TABLES]
    delta = {
        t: current.get(t, {}).get("rows", 0) - before.get(t, {}).get("rows", 0)
        for t in dict.fromkeys([*current, *before])
    }
    return changed, {t: n for t, n in delta.items() if n}


def read_state(settings: Settings) -> dict[str, Any]:
    """The last completed retrain's record, or {} when there is none (or it is unreadable)."""
    path = state_path(settings)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("version") == STATE_VERSION else {}


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers see the old or the new content, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


# -- the loop -------------------------------------------------------------------------------------
def retrain(
    settings: Settings,
    *,
    force: bool = False,
    progress: Progress | None = None,
    models: Sequence[str] | None = None,
    tolerances: GateTolerances | None = None,
    override_checks: bool = False,
    check_thresholds: CheckThresholds | None = None,
) -> RetrainReport:
    """Run the loop once (see the module docstring). Never prints.

    ``force`` retrains even when nothing new arrived (it does not force promotion: the gate decides).
    ``override_checks`` trains even when a frame fails its data checks (recorded on the runs and in the
    report); ``check_thresholds`` go to the checks.
    ``models`` restricts the loop to some models (default: all; a partial run does not update the
    state, so the next scheduled run still retrains everything); ``tolerances`` go to the gate.
    Returns a report with ``status`` ``retrained``, ``nothing_to_do``, ``locked`` or ``blocked`` (data
    checks failed: nothing registered or recorded); raises
    :class:`RetrainError` when a stage fails (lock released, state untouched).
    """
    started = time.perf_counter()
    state_file = state_path(settings)
    lock = FileLock(lock_path(settings), purpose="retrain")
    try:
        lock.acquire()
    except LockHeld as held:
        pid = held.holder.get("pid", "unknown")
        since = held.holder.get("since")
        return RetrainReport(
            "locked",
            f"another retrain is running (pid {pid}{f', since {since}' if since else ''}); "
            "this run did nothing",
            forced=force,
            lock_holder=held.holder,
            state_file=str(state_file),
        )
    try:
        checks = _Checks(override_checks, check_thresholds)
        return _run_locked(settings, force, progress, models, tolerances, started, checks)
    finally:
        lock.release()


def _run_locked(
    settings: Settings,
    force: bool,
    progress: Progress | None,
    models: Sequence[str] | None,
    tolerances: GateTolerances | None,
    started: float,
    checks: _Checks | None = None,
) -> RetrainReport:
    from training.specs import MODEL_NAMES, get_spec

    chosen = tuple(models or MODEL_NAMES)
    for name in chosen:
        get_spec(name)  # a clear KeyError for an unknown model, before any work
    report = RetrainReport("retrained", "", forced=force, state_file=str(state_path(settings)))
    stage = _Stages(report, progress)

    with stage("detect"):
        previous = read_state(settings)
        current = table_state(settings)
        changed, delta = changes_since(previous, current)
        report.previous_run_at = previous.get("finished_at")
        report.changed_tables, report.new_rows = changed, delta
    if not current.get("tasks", {}).get("rows"):
        return stage.finish(
            "nothing_to_do",
            f"the event store {settings.events_dir} holds no tasks yet: ingest or simulate history first",
            started,
        )
    if not changed and not force:
        when = report.previous_run_at or "unknown"
        message = f"nothing to do: no new outcomes since the last retrain ({when})"
        return stage.finish("nothing_to_do", message, started)

    run_tag = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    with stage("features"):
        from features.pipeline import build_features

        built = build_features(settings, progress=stage.sub("features"))
        report.data_as_of = built.get("as_of")
    with stage("feast_apply"):
        from features.store import apply_repo

        apply_repo(settings)
    with stage("materialize"):
        from features.store import materialize

        materialize(settings, incremental=True, progress=stage.sub("materialize"))
    checks = checks or _Checks()
    with stage("train"):
        from evaluation.oracle_truth import oracle_for
        from training.frames import train_from_store, training_frames

        tags = {
            "retrain_run": run_tag,
            "data_as_of": str(report.data_as_of),
            "trigger": "forced" if force and not changed else "new_data",
            "events_fingerprint": built.get("fingerprint", ""),
        }
        with stage.part("train.frames"):
            frames = training_frames(settings, chosen)
        with stage.part("train.checks"):
            model_tags = checks.run(settings, frames, report)
        if model_tags is not None:
            truth = oracle_for(settings)
            trained = {}
            for m in chosen:
                with stage.part(f"train.{m}"):
                    trained[m] = train_from_store(
                        settings, [m], tags={**tags, **model_tags[m]}, truth=truth, frames=frames
                    )[m]
    if model_tags is None:
        return stage.finish("blocked", checks.message(report), started)
    with stage("gate"):
        from apps.model_health import HealthIssue, raise_alerts
        from training.gate import promote

        for i, name in enumerate(chosen):
            stage.sub("gate")(float(i), float(len(chosen)))
            d = promote(settings, name, tolerances)
            if d.held and d.alert:
                details = {"challenger_version": d.challenger_version, "change": d.change}
                issue = HealthIssue(name, "champion_check", d.alert, details)
                report.alerts += raise_alerts(settings, [issue])
            result = trained[name]
            report.models[name] = ModelOutcome(
                model=name,
                challenger_version=d.challenger_version,
                champion_before=d.champion_version,
                champion_after=d.challenger_version if d.promoted else d.champion_version,
                promoted=d.promoted,
                reasons=list(d.reasons),
                holdout_rows=d.holdout_rows,
                challenger_metrics=dict(d.challenger_metrics),
                champion_metrics=dict(d.champion_metrics),
                test_metrics={k: float(v) for k, v in result.metrics.items()},
                rows=dict(result.counts),
                run_id=result.run_id,
                held=d.held,
                intervals=dict(d.intervals),
            )
    promoted = report.promoted
    message = (
        f"retrained {len(chosen)} model(s) on data up to {report.data_as_of}: "
        f"{len(promoted)} promoted ({', '.join(promoted) or 'none'}), "
        f"{len(chosen) - len(promoted)} kept their champion"
    )
    finished = stage.finish("retrained", message, started)
    try:
        _record(settings, current, report, run_tag, complete=set(chosen) == set(MODEL_NAMES))
    except OSError as exc:
        raise RetrainError("record", exc) from exc
    return finished


def _record(
    settings: Settings, tables: dict[str, dict[str, Any]], report: RetrainReport, run_tag: str, complete: bool
) -> None:
    """The success record: state.json (atomic, what the next run compares with) + a history line.

    A run over some models only (``complete`` False) leaves state.json alone: the others still have
    to see the new data.
    """
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    verdicts = {
        m: {
            "challenger_version": o.challenger_version,
            "promoted": o.promoted,
            "champion_version": o.champion_after,
        }
        for m, o in report.models.items()
    }
    if complete:
        state = {
            "version": STATE_VERSION,
            "finished_at": now,
            "run": run_tag,
            "forced": report.forced,
            "data_as_of": report.data_as_of,
            "tables": tables,
            "models": verdicts,
        }
        write_atomic(state_path(settings), json.dumps(state, indent=1, sort_keys=True))
    line = {
        "finished_at": now,
        "run": run_tag,
        "complete": complete,
        "changed_tables": report.changed_tables,
        "new_rows": report.new_rows,
        "models": verdicts,
        "seconds": report.seconds,
    }
    with open(retrain_dir(settings) / "history.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line) + "\n")


@dataclass
class _Checks:
    """The data-check step of the loop: check every frame, then stop (alerts) or tag the runs."""

    override: bool = False
    thresholds: CheckThresholds | None = None

    def run(self, settings: Settings, frames: Any, report: RetrainReport) -> dict[str, dict[str, str]] | None:
        """Per-model run tags, or ``None`` when a check failed and is not overridden (alerts raised)."""
        from apps.model_health import HealthIssue, raise_alerts
        from training.preflight import check_frames

        results: dict[str, CheckReport] = check_frames(settings, frames, self.thresholds)
        report.data_checks = {
            m: {
                "failures": c.failures,
                "warnings": c.warnings,
                "figures": c.figures,
                "reference": c.reference,
            }
            for m, c in results.items()
        }
        failed = {m: c for m, c in results.items() if not c.ok}
        if failed and not self.override:
            issues = [
                HealthIssue(
                    m,
                    "data_checks",
                    f"{m}: training frame failed its data checks; retrain stopped before registering: "
                    + "; ".join(c.failures),
                    {"failures": c.failures, "champion_version": c.figures.get("champion_version")},
                )
                for m, c in failed.items()
            ]
            report.alerts += raise_alerts(settings, issues)
            return None
        report.checks_overridden = bool(failed)
        return {
            m: {
                "data_checks": "overridden" if not c.ok else "passed" if c.reference else "no_reference",
                **({"data_check_failures": "; ".join(c.failures)[:4000]} if not c.ok else {}),
            }
            for m, c in results.items()
        }

    @staticmethod
    def message(report: RetrainReport) -> str:
        failed = [m for m, c in report.data_checks.items() if c["failures"]]
        return (
            f"blocked: the training frames of {', '.join(failed)} failed their data checks; nothing was "
            "registered or recorded (model_health alert raised; after review, `opsmatch retrain --force` "
            "overrides)"
        )


class _Stages:
    """Times each stage into the report, reports progress, and wraps a failure in RetrainError."""

    def __init__(self, report: RetrainReport, progress: Progress | None) -> None:
        self.report = report
        self.progress = progress
        self.total = float(len(STAGES))

    def __call__(self, name: str) -> _Stage:
        return _Stage(self, name)

    def sub(self, name: str) -> Callable[[float, float], None]:
        """A ``(done, total)`` callback for work inside stage ``name``, mapped onto the whole loop."""
        base = float(STAGES.index(name))

        def update(done: float, total: float) -> None:
            if self.progress is not None and total:
                self.progress(base + min(done / total, 1.0), self.total)

        return update

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        """Wall and CPU seconds of a part of a stage (``train.frames``, ``train.<model>``) in the report."""
        t0, cpu0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.report.seconds[name] = round(time.perf_counter() - t0, 3)
            self.report.cpu_seconds[name] = round(time.process_time() - cpu0, 3)

    def finish(self, status: Status, message: str, started: float) -> RetrainReport:
        self.report.status, self.report.message = status, message
        self.report.seconds["total"] = round(time.perf_counter() - started, 3)
        if self.progress is not None:
            self.progress(self.total, self.total)
        return self.report


class _Stage:
    def __init__(self, stages: _Stages, name: str) -> None:
        self.stages, self.name = stages, name

    def __enter__(self) -> None:
        self.t0, self.cpu0 = time.perf_counter(), time.process_time()
        self.stages.sub(self.name)(0.0, 1.0)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        self.stages.report.seconds[self.name] = round(time.perf_counter() - self.t0, 3)
        self.stages.report.cpu_seconds[self.name] = round(time.process_time() - self.cpu0, 3)
        if exc is not None and not isinstance(exc, RetrainError | KeyboardInterrupt):
            raise RetrainError(self.name, exc) from exc
