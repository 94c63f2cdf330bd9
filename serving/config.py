"""The dispatch policy and the service limits, with their defaults from ``serving/defaults.yaml``.

The policy (cost weights, province sharing, emergency close, skill minimums, risk tiers, alert
thresholds) is what the ops head changes through ``PUT /policy``; updates are partial and merged
into the policy in force (:func:`merge_policy`), and :func:`policy_diff` says what changed for the
audit trail.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)
from pydantic_core import PydanticCustomError

from opsmatch.contract import TASK_TYPES

if TYPE_CHECKING:
    from opsmatch.settings import Settings


@lru_cache(maxsize=1)
def _defaults_yaml() -> dict[str, Any]:
    text = (Path(__file__).parent / "defaults.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text) or {}


# Every default of the policy and the service is written once, in defaults.yaml (with where each
# number comes from); the models below take their defaults from it. The indicator thresholds and
# risk_step_hours have no entry there and are defaulted here.
_POLICY: dict[str, Any] = _defaults_yaml()["policy"]
_SERVICE: dict[str, Any] = _defaults_yaml()["service"]

TaskType = Literal[TASK_TYPES]  # type: ignore[valid-type]  # the contract's task types
NonNeg = Annotated[float, Field(ge=0, le=1e6)]
Prob = Annotated[float, Field(ge=0, le=1)]
ProvinceId = Annotated[str, Field(min_length=1, max_length=64)]


STAMP_RANGE = (datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC))


def _plausible(ts: datetime) -> datetime:
    if not STAMP_RANGE[0] <= ts < STAMP_RANGE[1]:
        raise ValueError("timestamp must be from 1970 to 2199")
    return ts


def _whole(value: Any) -> Any:
    """JSON Schema counts 1.0 as an integer: take it; refuse strings and booleans as the schema does."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, str | bool):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


WHOLE = BeforeValidator(_whole)  # after the bounds: ``Annotated[int, Field(ge=1), WHOLE]``
# An ISO 8601 timestamp with its offset, in the years the event store can hold.
Stamp = Annotated[AwareDatetime, AfterValidator(_plausible)]


class Strict(BaseModel):
    """Base for every request/policy model: unknown fields, NaN/inf and type coercions ("1.5" for a
    number, "true" for a boolean, a number for a timestamp) are refused, as the JSON Schema says."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


class Weights(Strict):
    """Prices of the parts of the (task, worker) cost, in minute-equivalents (a minute of a handler's
    time); the defaults and where each number comes from are in ``serving/defaults.yaml``."""

    efficiency: NonNeg = Field(
        default=_POLICY["weights"]["efficiency"],
        description="minute-equivalents per expected handling minute",
    )
    quality: NonNeg = Field(
        default=_POLICY["weights"]["quality"], description="minute-equivalents per QA failure (rework)"
    )
    complaint: NonNeg = Field(
        default=_POLICY["weights"]["complaint"], description="minute-equivalents per complaint"
    )
    load: NonNeg = Field(
        default=_POLICY["weights"]["load"],
        description="minute-equivalents at a full queue (open tasks = capacity)",
    )
    cross_province: NonNeg = Field(
        default=_POLICY["weights"]["cross_province"],
        description="minute-equivalents per cross-province hand-off",
    )
    sla: NonNeg = Field(
        default=_POLICY["weights"]["sla"], description="minute-equivalents per hour finished past the SLA"
    )
    shift_end: NonNeg = Field(
        default=_POLICY["weights"]["shift_end"],
        description="minute-equivalents per hour worked past the shift's end",
    )


class Sharing(Strict):
    """Sharing parameters of one province."""

    share_in: bool = _POLICY["default_sharing"]["share_in"]
    share_out: bool = _POLICY["default_sharing"]["share_out"]
    closed: bool = _POLICY["default_sharing"]["closed"]


class RiskTiers(Strict):
    """Thresholds on P(complaint): ``>= high`` is high, ``>= medium`` is medium, else low."""

    high: Prob = _POLICY["risk_tiers"]["high"]
    medium: Prob = _POLICY["risk_tiers"]["medium"]

    @model_validator(mode="after")
    def _ordered(self) -> RiskTiers:
        if self.medium > self.high:
            raise ValueError("risk_tiers.medium must not exceed risk_tiers.high")
        return self


class Threshold(Strict):
    """An operating indicator's alert (``serving/alerts/indicators.py``): raised when the value goes past
    ``raise_at`` (``above`` or ``below`` it), resolved only once it is back past ``clear_at``
    (hysteresis), judged on at least ``min_count`` events of the last ``window_hours``."""

    enabled: bool = True
    direction: Literal["above", "below"] = "above"
    raise_at: Annotated[float, Field(ge=0, le=1e6)] = 1.0
    clear_at: Annotated[float, Field(ge=0, le=1e6)] = 1.0
    min_count: Annotated[int, Field(ge=1, le=10**7), WHOLE] = 20
    window_hours: Annotated[float, Field(gt=0, le=24 * 30)] = 24.0

    @model_validator(mode="after")
    def _band(self) -> Threshold:
        if (self.clear_at > self.raise_at) if self.direction == "above" else (self.clear_at < self.raise_at):
            raise ValueError("clear_at must lie on the normal side of raise_at (hysteresis)")
        return self


Side = Literal["above", "below"]


def _t(direction: Side, raise_at: float, clear_at: float, count: int, hours: float) -> Any:
    return Field(
        default_factory=lambda: Threshold(
            direction=direction, raise_at=raise_at, clear_at=clear_at, min_count=count, window_hours=hours
        )
    )


class Indicators(Strict):
    """Thresholds of the operating indicators per province (the ops head tunes them: PUT /policy)."""

    arrivals: Threshold = _t("above", 2.0, 1.5, 20, 1.0)  # ratio to the expected level of the hour
    arrivals_low: Threshold = _t("below", 0.3, 0.5, 20, 1.0)  # ratio: an intake outage looks like this
    sla_attainment: Threshold = _t("below", 0.6, 0.7, 30, 24.0)  # share of completions within SLA
    qa_pass_rate: Threshold = _t("below", 0.75, 0.8, 30, 24.0)  # share of QA checks passed
    complaint_rate: Threshold = _t("above", 0.08, 0.06, 50, 168.0)  # complaints per completion, 7 days
    surrender_share: Threshold = _t("above", 0.2, 0.15, 50, 24.0)  # share of arrivals
    renewal_share: Threshold = _t("below", 0.05, 0.08, 50, 24.0)  # share of arrivals


class AlertRules(Strict):
    """Thresholds of the early-warning rules (see ``serving/alerts/rules.py``)."""

    high_risk_tier: Literal["high", "medium"] = _POLICY["alerts"]["high_risk_tier"]
    sla_near_hours: Annotated[float, Field(ge=0, le=24 * 30)] = _POLICY["alerts"]["sla_near_hours"]
    backlog_min_tasks: Annotated[int, Field(ge=1, le=10**7), WHOLE] = _POLICY["alerts"]["backlog_min_tasks"]
    backlog_per_worker: Annotated[float, Field(gt=0, le=1e6)] = _POLICY["alerts"]["backlog_per_worker"]
    backlog_clear_per_worker: Annotated[float, Field(gt=0, le=1e6)] | None = Field(
        default=None,
        description="an open backlog incident resolves only once the pending tasks per on-shift worker "
        "fall below this (hysteresis); default two thirds of backlog_per_worker",
    )
    overload_ratio: Annotated[float, Field(gt=0, le=100)] = _POLICY["alerts"]["overload_ratio"]
    risk_step_hours: Annotated[float, Field(gt=0, le=24 * 7)] = Field(
        default=1.0, description="the monitor re-scores an open task's complaint risk every this many hours"
    )
    indicators: Indicators = Indicators()

    @model_validator(mode="after")
    def _backlog_band(self) -> AlertRules:
        if (
            self.backlog_clear_per_worker is not None
            and self.backlog_clear_per_worker > self.backlog_per_worker
        ):
            raise ValueError("backlog_clear_per_worker must not exceed backlog_per_worker (hysteresis)")
        return self

    @property
    def backlog_clear(self) -> float:
        """Pending tasks per on-shift worker below which an open backlog incident resolves."""
        if self.backlog_clear_per_worker is not None:
            return self.backlog_clear_per_worker
        return self.backlog_per_worker * 2.0 / 3.0


class Dispatch(Strict):
    """Urgency levels of ``/assign`` and shift-end awareness (see ``serving/matching/ranking.py``)."""

    sla_near_hours: Annotated[float, Field(ge=0, le=24 * 30)] = _POLICY["dispatch"]["sla_near_hours"]
    shift_end: Literal["exclude", "penalise", "off"] = _POLICY["dispatch"]["shift_end"]
    task_choice: Literal["cost", "advantage"] = _POLICY["dispatch"]["task_choice"]


class MonitorRules(Strict):
    """The monitor's re-dispatch switch and timeouts (see ``serving/tasks/monitor.py``)."""

    redispatch: bool = _POLICY["monitor"]["redispatch"]
    accept_timeout_minutes: Annotated[float, Field(gt=0, le=7 * 24 * 60)] = _POLICY["monitor"][
        "accept_timeout_minutes"
    ]
    start_timeout_minutes: Annotated[float, Field(gt=0, le=7 * 24 * 60)] = _POLICY["monitor"][
        "start_timeout_minutes"
    ]
    pending_max_minutes: Annotated[float, Field(gt=0, le=30 * 24 * 60)] = _POLICY["monitor"][
        "pending_max_minutes"
    ]
    off_shift_grace_minutes: Annotated[float, Field(ge=0, le=24 * 60)] = _POLICY["monitor"][
        "off_shift_grace_minutes"
    ]
    max_assignments: Annotated[int, Field(ge=1, le=100), WHOLE] = _POLICY["monitor"]["max_assignments"]


class Experiment(Strict):
    """A switchback of ML dispatch against a baseline arm (see ``serving/matching/switchback.py``)."""

    enabled: bool = _POLICY["experiment"]["enabled"]
    baseline: Literal["least_busy", "fifo"] = _POLICY["experiment"]["baseline"]
    slice_minutes: Annotated[float, Field(ge=5, le=24 * 60)] = _POLICY["experiment"]["slice_minutes"]
    settle_minutes: Annotated[float, Field(ge=0, le=24 * 60)] = _POLICY["experiment"]["settle_minutes"]
    scope: Literal["national", "province"] = _POLICY["experiment"]["scope"]
    schedule: Literal["alternate", "random"] = _POLICY["experiment"]["schedule"]
    seed: Annotated[int, Field(ge=0, le=2**31 - 1), WHOLE] = _POLICY["experiment"]["seed"]

    @model_validator(mode="after")
    def _settle_inside_slice(self) -> Experiment:
        if self.settle_minutes >= self.slice_minutes:
            raise ValueError("experiment.settle_minutes must be shorter than experiment.slice_minutes")
        return self


class RiskTeam(Strict):
    """The risk team's watchlist (``serving/risk/watchlist.py``): capacity, holdout, the contact effect."""

    calls_per_day: Annotated[int, Field(ge=0, le=10**6), WHOLE] | None = Field(
        default=_POLICY["risk_team"]["calls_per_day"],
        description="national contacts per day; null: capacity_share x expected daily arrivals",
    )
    capacity_share: Annotated[float, Field(ge=0, le=1)] = Field(
        default=_POLICY["risk_team"]["capacity_share"],
        description="contacts per day as a share of the expected daily arrivals",
    )
    province_calls_per_day: dict[ProvinceId, Annotated[int, Field(ge=0, le=10**6), WHOLE]] = Field(
        default_factory=dict, max_length=1000, description="a province's own team: contacts per day"
    )
    holdout_share: Annotated[float, Field(ge=0, lt=1)] = Field(
        default=_POLICY["risk_team"]["holdout_share"],
        description="share of listed customers held out at random (field measurement)",
    )
    contact_effect: Prob = Field(
        default=_POLICY["risk_team"]["contact_effect"],
        description="share of the complaint hazard a contact removes",
    )
    recontact_days: Annotated[float, Field(ge=0, le=365)] = Field(
        default=_POLICY["risk_team"]["recontact_days"],
        description="a customer contacted this recently is not listed again",
    )
    arrival_days: Annotated[int, Field(ge=1, le=365), WHOLE] = Field(
        default=_POLICY["risk_team"]["arrival_days"],
        description="days of arrivals the expected daily arrivals average",
    )


class Proactive(Strict):
    """Proactive return visits at online journeys' break points (``serving/risk/journeys.py``)."""

    enabled: bool = _POLICY["proactive"]["enabled"]
    daily_capacity: Annotated[int, Field(ge=0, le=10**6), WHOLE] = Field(
        default=_POLICY["proactive"]["daily_capacity"],
        description="return_visit tasks created per day at most (national)",
    )
    holdout_share: Annotated[float, Field(ge=0, lt=1)] = Field(
        default=_POLICY["proactive"]["holdout_share"],
        description="share of selected break points held out at random (field measurement)",
    )
    start_hour: Annotated[int, Field(ge=0, le=23), WHOLE] = Field(
        default=_POLICY["proactive"]["start_hour"], description="hour (Beijing time) the day's visits start"
    )
    grace_minutes: Annotated[float, Field(ge=0, le=7 * 24 * 60)] = Field(
        default=_POLICY["proactive"]["grace_minutes"],
        description="an abandonment this recent is left to the customer",
    )
    lookback_hours: Annotated[float, Field(gt=0, le=30 * 24)] = Field(
        default=_POLICY["proactive"]["lookback_hours"], description="abandonments this recent are candidates"
    )
    sla_hours: Annotated[float, Field(gt=0, le=30 * 24)] = Field(
        default=_POLICY["proactive"]["sla_hours"],
        description="a return visit is due this long after it is made",
    )
    base_risk: Prob = Field(
        default=_POLICY["proactive"]["base_risk"],
        description="complaint risk of a customer without an open scored task",
    )


class Policy(Strict):
    """The dispatch policy in force."""

    weights: Weights = Weights()
    sla_cap: Annotated[float, Field(gt=0, le=1000)] = Field(
        default=_POLICY["sla_cap"], description="hours of SLA / shift overrun priced at most"
    )
    default_sharing: Sharing = Sharing()
    provinces: dict[ProvinceId, Sharing] = Field(default_factory=dict, max_length=1000)
    min_skill_level: dict[TaskType, Annotated[int, Field(ge=1, le=5), WHOLE]] = Field(default_factory=dict)
    max_open_tasks: Annotated[int, Field(ge=1, le=10_000), WHOLE] | None = _POLICY["max_open_tasks"]
    risk_tiers: RiskTiers = RiskTiers()
    alerts: AlertRules = AlertRules()
    type_median_minutes: dict[TaskType, Annotated[float, Field(gt=0, le=1e5)]] = Field(
        default_factory=lambda: dict(_POLICY["type_median_minutes"])
    )
    dispatch: Dispatch = Dispatch()
    monitor: MonitorRules = MonitorRules()
    experiment: Experiment = Experiment()
    risk_team: RiskTeam = RiskTeam()
    proactive: Proactive = Proactive()

    def sharing(self, province_id: str) -> Sharing:
        """Sharing parameters of a province (the default when it has none of its own)."""
        return self.provinces.get(province_id, self.default_sharing)

    def closed_provinces(self) -> list[str]:
        """Provinces in emergency close."""
        return sorted(p for p, s in self.provinces.items() if s.closed)


class ServiceConfig(Strict):
    """Request limits and background-loop intervals of the service (defaults and their reasons:
    ``serving/defaults.yaml``, section ``service``)."""

    max_rank_top_k: Annotated[int, Field(ge=1)] = _SERVICE["max_rank_top_k"]
    max_batch_tasks: Annotated[int, Field(ge=1)] = _SERVICE["max_batch_tasks"]
    max_batch_workers: Annotated[int, Field(ge=1)] = _SERVICE["max_batch_workers"]
    max_outcome_rows: Annotated[int, Field(ge=1)] = _SERVICE["max_outcome_rows"]
    max_status_rows: Annotated[int, Field(ge=1)] = _SERVICE["max_status_rows"]
    max_alerts_limit: Annotated[int, Field(ge=1)] = _SERVICE["max_alerts_limit"]
    assign_full_scoring_pairs: Annotated[int, Field(ge=0)] = _SERVICE["assign_full_scoring_pairs"]
    assign_candidates_per_task: Annotated[int, Field(ge=1)] = _SERVICE["assign_candidates_per_task"]
    rank_prescreen: Annotated[int, Field(ge=0)] = _SERVICE["rank_prescreen"]
    rank_prescreen_share: Annotated[float, Field(ge=0, le=1)] = _SERVICE["rank_prescreen_share"]
    predict_threads: Annotated[int, Field(ge=1, le=64)] = _SERVICE["predict_threads"]
    parallel_min_rows: Annotated[int, Field(ge=1)] = _SERVICE["parallel_min_rows"]
    compiled_trees: bool = _SERVICE["compiled_trees"]
    champion_poll_seconds: Annotated[float, Field(gt=0)] = _SERVICE["champion_poll_seconds"]
    profile_refresh_seconds: Annotated[float, Field(gt=0)] = _SERVICE["profile_refresh_seconds"]
    policy_ttl_seconds: Annotated[float, Field(ge=0)] = _SERVICE["policy_ttl_seconds"]
    alert_sweep_seconds: Annotated[float, Field(gt=0)] = _SERVICE["alert_sweep_seconds"]
    status_ttl_seconds: Annotated[float, Field(gt=0)] = _SERVICE["status_ttl_seconds"]
    console_session_hours: Annotated[float, Field(gt=0, le=24 * 30)] = _SERVICE["console_session_hours"]
    console_refresh_seconds: Annotated[float, Field(ge=1, le=600)] = _SERVICE["console_refresh_seconds"]
    mlflow_ui_url: str = _SERVICE["mlflow_ui_url"]
    monitor_seconds: Annotated[float, Field(gt=0)] = _SERVICE["monitor_seconds"]
    indicator_minutes: Annotated[float, Field(ge=0)] = _SERVICE["indicator_minutes"]
    monitor_lease_seconds: Annotated[float, Field(gt=0)] = _SERVICE["monitor_lease_seconds"]
    min_eligible: Annotated[int, Field(ge=0)] = _SERVICE["min_eligible"]
    prediction_log: bool = _SERVICE["prediction_log"]
    prediction_log_queue: Annotated[int, Field(ge=1)] = _SERVICE["prediction_log_queue"]


def default_policy() -> Policy:
    """The policy of ``defaults.yaml`` (in force until the first ``PUT /policy``)."""
    return Policy.model_validate(_defaults_yaml().get("policy", {}))


def load_service_config(
    override: dict[str, Any] | None = None, *, settings: Settings | None = None
) -> ServiceConfig:
    """Service limits from ``defaults.yaml``, then the settings' ``service`` entries (environment
    ``OPSMATCH_SERVICE__<FIELD>``), then ``override``; an unknown or out-of-range entry is refused."""
    data = dict(_defaults_yaml().get("service", {}))
    data.update(settings.service if settings is not None else {})
    data.update(override or {})
    return ServiceConfig.model_validate(data, strict=False)


def _deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def merge_policy(current: Policy, patch: dict[str, Any]) -> Policy:
    """Apply a partial update (nested dicts merge, other values replace); validates the result.

    A province entry in the patch starts from the province's current sharing (or the default
    sharing), so ``{"provinces": {"P15": {"closed": true}}}`` closes P15 and changes nothing else.
    """
    base = current.model_dump(mode="json")
    patch = dict(patch)
    if isinstance(patch.get("provinces"), dict):
        default = base["default_sharing"]
        if isinstance(patch.get("default_sharing"), dict):
            default = {**default, **patch["default_sharing"]}
        provinces = dict(base["provinces"])
        for pid, sharing in patch["provinces"].items():
            start = provinces.get(pid, default)
            provinces[pid] = {**start, **sharing} if isinstance(sharing, dict) else sharing
        base["provinces"] = provinces
        patch.pop("provinces")
    return Policy.model_validate(_deep_merge(base, patch))


def policy_diff(old: Policy, new: Policy) -> dict[str, dict[str, Any]]:
    """Changed leaves as ``{"dotted.path": {"old": ..., "new": ...}}``."""

    def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
        if isinstance(obj, dict):
            out: dict[str, Any] = {}
            for k, v in obj.items():
                out.update(flatten(v, f"{prefix}{k}."))
            return out
        return {prefix[:-1]: obj}

    a, b = flatten(old.model_dump(mode="json")), flatten(new.model_dump(mode="json"))
    return {k: {"old": a.get(k), "new": b.get(k)} for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}
