"""Scenario configuration: a typed pydantic model parsed from YAML in ``simulator/scenarios/``.

A scenario file may start with ``extends: <name>`` to deep-merge its keys over another scenario.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from opsmatch.contract import AGE_BANDS, CHANNELS, TASK_TYPES, VALUE_BANDS

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskTypeConfig(_Model):
    """One task type: demand share, handling-time base, SLA, skill requirement and outcome bases."""

    name: str
    share: float = Field(gt=0, description="Relative share of national demand")
    median_minutes: float = Field(gt=0, description="Median (lognormal) or mean (exponential) minutes")
    sigma: float = Field(ge=0, description="Lognormal sigma of handling time")
    distribution: Literal["lognormal", "exponential"] = "lognormal"
    sla_hours: float = Field(gt=0)
    min_skill: int = Field(ge=1, le=5, description="Minimum declared skill level to be eligible")
    qa_logit: float = Field(description="Base logit of passing QA")
    complaint_logit: float = Field(default=0.0, description="Type effect on complaint logit")
    complexity_probs: tuple[float, float, float, float, float] = (0.2, 0.3, 0.25, 0.15, 0.1)
    amount_median: float = Field(default=1000.0, ge=0, description="Median amount in CNY (0: no amount)")

    @field_validator("name")
    @classmethod
    def _known_type(cls, v: str) -> str:
        if v not in TASK_TYPES:
            raise ValueError(f"unknown task type {v!r}; known: {', '.join(TASK_TYPES)}")
        return v


class ProvinceConfig(_Model):
    """One provincial centre: demand weight, staffing ratio, calendar and demand-shape offset."""

    name: str
    timezone: str = "Asia/Shanghai"
    demand: float = Field(gt=0, description="Relative demand weight")
    staff: float = Field(default=1.0, gt=0, description="Staff relative to a demand-proportional share")
    peak_shift: float = Field(default=0.0, description="Hours by which the demand profile is shifted")
    works_weekends: bool = False
    shift_starts: tuple[int, ...] | None = Field(default=None, description="Local shift start hours")
    workday_start_hour: int = Field(default=8, ge=0, le=23)
    workday_end_hour: int = Field(default=18, ge=1, le=24)


class DemandConfig(_Model):
    """Time-varying Poisson arrivals."""

    tasks_per_day: float = Field(gt=0, description="National mean tasks per day (before surges)")
    hour_profile: tuple[float, ...] = Field(description="24 local-hour weights")
    weekday_factor: tuple[float, ...] = Field(description="7 weekday multipliers, Monday first")
    surge_prob: float = Field(default=0.0, ge=0, le=1, description="P(surge starts) per province-day")
    surge_factor: tuple[float, float] = (1.6, 2.5)
    surge_days: tuple[int, int] = (1, 3)
    type_mix_concentration: float = Field(default=40.0, gt=0, description="Dirichlet spread of type mix")
    customers_per_task: float = Field(default=0.6, gt=0, le=1)
    repeat_skew: float = Field(default=1.6, ge=1, description=">1 makes some customers repeat often")

    @field_validator("hour_profile")
    @classmethod
    def _24(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if len(v) != 24 or min(v) < 0 or sum(v) <= 0:
            raise ValueError("hour_profile needs 24 non-negative weights")
        return v

    @field_validator("weekday_factor")
    @classmethod
    def _7(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if len(v) != 7 or min(v) < 0:
            raise ValueError("weekday_factor needs 7 non-negative values")
        return v


class WorkforceConfig(_Model):
    """Staff size, shifts, skills and the spread of hidden worker traits."""

    workers: int = Field(gt=0)
    always_on: bool = Field(default=False, description="24/7 availability, no shifts (M/M/N)")
    shift_starts: tuple[int, ...] = (8, 9, 10)
    shift_hours: tuple[int, ...] = (8,)
    weekend_share: float = Field(default=0.2, ge=0, le=1, description="Weekend workers where open")
    skills_per_worker: tuple[int, int] = (2, 5)
    skill_level_probs: tuple[float, float, float, float, float] = (0.1, 0.2, 0.3, 0.25, 0.15)
    min_eligible: int = Field(default=2, ge=1, description="Eligible workers per province and type")
    all_skills_level: int | None = Field(default=None, description="Give every worker every skill")
    daily_capacity: tuple[int, int] = (30, 60)
    tenure_years_median: float = 4.0
    new_hire_share: float = Field(default=0.08, ge=0, le=1)
    speed_sigma: float = Field(default=0.3, ge=0, description="Log-sd of the handling-time multiplier")
    quality_sigma: float = Field(default=0.8, ge=0, description="Sd of the QA logit offset")
    care_sigma: float = Field(default=0.6, ge=0, description="Sd of the complaint-care logit offset")
    general_share: float = Field(default=0.5, ge=0, le=1, description="Variance share common to all types")
    speed_quality_corr: float = Field(default=0.25, ge=-1, le=1, description="Slower workers do better QA")
    skill_speed: float = Field(default=0.08, ge=0, description="Log-speed gain per skill level")
    skill_quality: float = Field(default=0.25, ge=0, description="QA logit gain per skill level")
    tasks_per_year: float = Field(default=400.0, ge=0, description="Prior experience per year on a type")


class BehaviourConfig(_Model):
    """Fatigue, learning, complexity, QA and complaint mechanics (the hidden outcome model)."""

    complexity_minutes: tuple[float, float, float, float, float] = (0.6, 0.8, 1.0, 1.3, 1.7)
    complexity_qa_logit: float = 0.35
    fatigue_threshold: int = 8
    fatigue_minutes: float = Field(default=0.03, ge=0, description="Handling-time growth per task beyond")
    fatigue_qa_logit: float = Field(default=0.06, ge=0, description="QA logit loss per task beyond")
    learning_amplitude: float = Field(default=0.6, ge=0, description="Extra time of a complete novice")
    learning_tau: float = Field(default=120.0, gt=0, description="Experience scale of learning (tasks)")
    qa_sample: float = Field(default=0.4, ge=0, le=1, description="Share of completions QA-checked")
    qa_delay_hours: tuple[float, float] = (2.0, 72.0)
    survey_share: float = Field(default=0.35, ge=0, le=1, description="Share of QA rows with satisfaction")
    complaint_base: float = -4.6
    complaint_prior: float = Field(default=0.35, description="Per prior complaint (capped at 5)")
    complaint_vip: float = 0.5
    complaint_age: dict[str, float] = {"18-29": 0.1, "30-44": 0.0, "45-59": 0.1, "60+": 0.35}
    complaint_value: dict[str, float] = {"low": -0.1, "mid": 0.0, "high": 0.3}
    complaint_channel: dict[str, float] = {"branch": 0.0, "agent": 0.1, "online": -0.15, "phone": 0.25}
    complaint_complexity: float = 0.1
    complaint_late_per_hour: float = 0.05
    complaint_late_cap_hours: float = 48.0
    complaint_qa_fail: float = 1.4
    complaint_care: float = 1.0
    complaint_delay_days_median: float = 5.0

    @model_validator(mode="after")
    def _bands(self) -> BehaviourConfig:
        for name, table, keys in (
            ("complaint_age", self.complaint_age, AGE_BANDS),
            ("complaint_value", self.complaint_value, VALUE_BANDS),
            ("complaint_channel", self.complaint_channel, CHANNELS),
        ):
            if set(table) != set(keys):
                raise ValueError(f"{name} must have exactly the keys {keys}")
        return self


class RiskTeamConfig(_Model):
    """The risk team that works the watchlist (issue 15). Fixed defaults, never tuned to a target:
    capacity 3 % of the day's expected national arrivals, a contact halves the complaint hazard for the
    7 days after it (seed 003's resolution team, > 80 % resolved with context, bounds it from above)."""

    capacity_share: float = Field(default=0.03, ge=0, le=1, description="Contacts/day per expected arrival")
    effect: float = Field(default=0.5, ge=0, le=1, description="Hazard cut while a contact is active")
    effect_days: float = Field(default=7.0, gt=0, description="Days a contact stays active")
    lookback_days: float = Field(default=3.0, gt=0, description="Tasks completed this recently are listed")
    holdout_share: float = Field(default=0.1, ge=0, lt=1, description="Eligible customers held out")
    minutes_per_contact: float = Field(default=12.0, gt=0, description="Team minutes per contact")
    workday_start_hour: float = Field(default=9.0, ge=0, lt=24, description="Local (scenario) start hour")
    workday_hours: float = Field(default=8.0, gt=0, le=24)
    outcome_shares: tuple[float, float, float] = Field(
        default=(0.7, 0.2, 0.1), description="resolved, no_answer, escalated (descriptive only)"
    )


class DisruptionConfig(_Model):
    """A province's staff unavailable from a local time for some hours (e.g. a snowstorm)."""

    province: str = Field(description="Province name or id (P01...)")
    day: int = Field(ge=0, description="Simulation day (local)")
    hour: float = Field(ge=0, lt=24, description="Local hour of the day when staff become unavailable")
    duration_hours: float = Field(gt=0)


class VoiceConfig(_Model):
    """What customers say (issue 27): contacts whose text carries a hidden dissatisfaction. The
    dissatisfaction is correlated ``text_signal`` with the latent of the task's complaint draw, a part of
    the complaint hazard no task or customer feature holds: only the text does (0 = text says nothing)."""

    text_signal: float = Field(default=0.85, ge=0, le=1, description="Corr(d, complaint latent)")
    intake_share: float = Field(default=0.8, ge=0, le=1, description="Tasks whose request came by a contact")
    followups_per_day: float = Field(default=0.35, ge=0, description="Follow-up contacts per day open")
    followup_dissatisfaction: float = Field(default=0.7, description="Log-rate of follow-ups per SD")
    signal_base: float = Field(default=-2.6, description="Complaint phrase logit at d = 0")
    signal_slope: float = Field(default=2.2, ge=0, description="Per SD of dissatisfaction")
    signal_late_per_hour: float = Field(default=0.03, ge=0, description="Per hour past the SLA")
    negation_share: float = Field(default=0.3, ge=0, le=1, description="Contacts with a negated phrase")
    typo_share: float = Field(default=0.25, ge=0, le=1, description="Complaint phrases said with a typo")
    pii_share: float = Field(default=0.2, ge=0, le=1, description="Texts quoting a phone or ID number")


class JourneyConfig(_Model):
    """Online journeys and their break points (issue 27, seed 002; ``simulator/journeys.py``). Hidden
    truth: what an abandonment does to the customer and what a return visit does to the journey reach
    only evaluation. Assumptions, no seed figure: seed 002 reports only its outcome (interrupted online
    operations -50 %, ~7,000 proactive prompts a day)."""

    per_task: float = Field(default=0.3, ge=0, le=5, description="Online journeys per task's customer")
    window_days: float = Field(default=5.0, gt=0, description="Journey within +- this of the task")
    abandon_scale: float = Field(default=1.0, ge=0, description="Odds multiplier of every step's break")
    senior_factor: float = Field(default=1.6, ge=0, description="Break odds multiplier, customers 60+")
    self_resume: float = Field(default=0.3, ge=0, le=1, description="Abandoned journeys completed alone")
    resume_days_mean: float = Field(default=2.0, gt=0)
    complaint_uplift: float = Field(default=0.8, ge=0, description="Complaint logit while unresolved")
    effect_days: float = Field(default=14.0, gt=0, description="An abandonment weighs at most this long")
    contact_share: float = Field(default=0.5, ge=0, le=1, description="Unresolved ones the customer calls")
    contact_days_mean: float = Field(default=1.5, gt=0)
    visit_completion: float = Field(default=0.6, ge=0, le=1, description="P(done after a return visit)")


class ScenarioConfig(_Model):
    """A whole twin scenario."""

    name: str
    description: str = ""
    start: dt.datetime = Field(description="Timezone-aware start, a Monday at local midnight")
    status_every_hours: int = Field(default=1, ge=1, le=24, description="worker_status snapshot period")
    task_types: tuple[TaskTypeConfig, ...]
    provinces: tuple[ProvinceConfig, ...]
    demand: DemandConfig
    workforce: WorkforceConfig
    behaviour: BehaviourConfig = BehaviourConfig()
    disruptions: tuple[DisruptionConfig, ...] = ()
    risk_team: RiskTeamConfig = RiskTeamConfig()
    voice: VoiceConfig = VoiceConfig()
    journeys: JourneyConfig = JourneyConfig()

    @field_validator("start")
    @classmethod
    def _aware(cls, v: dt.datetime) -> dt.datetime:
        if v.tzinfo is None:
            raise ValueError("start must be timezone-aware, e.g. 2026-06-01T00:00:00+08:00")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> ScenarioConfig:
        names = [t.name for t in self.task_types]
        if len(set(names)) != len(names):
            raise ValueError("duplicate task types")
        for p in self.provinces:
            ZoneInfo(p.timezone)  # raises on an unknown zone
        for d in self.disruptions:
            self.province_index(d.province)
        return self

    @property
    def start_utc(self) -> dt.datetime:
        return self.start.astimezone(dt.UTC)

    def province_id(self, i: int) -> str:
        return f"P{i + 1:02d}"

    def province_index(self, name_or_id: str) -> int:
        """Index of a province given its name or id."""
        for i, p in enumerate(self.provinces):
            if name_or_id in (p.name, self.province_id(i)):
                return i
        raise ValueError(f"unknown province {name_or_id!r}")

    def utc_offset_minutes(self, i: int) -> int:
        """The province's UTC offset at the start (DST changes are ignored)."""
        off = self.start.astimezone(ZoneInfo(self.provinces[i].timezone)).utcoffset()
        return int(off.total_seconds() // 60) if off is not None else 0

    def local_origin(self, i: int) -> tuple[int, int]:
        """(minutes past local midnight, local weekday) of the start instant in province ``i``."""
        local = self.start.astimezone(ZoneInfo(self.provinces[i].timezone))
        return local.hour * 60 + local.minute, local.weekday()


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read(name_or_path: str | Path, depth: int = 0) -> dict[str, Any]:
    path = Path(name_or_path)
    if not path.suffix:
        path = SCENARIO_DIR / f"{name_or_path}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml")))
        raise FileNotFoundError(f"no scenario {name_or_path!r} (known: {known})")
    raw = yaml.safe_load(path.read_text()) or {}
    parent = raw.pop("extends", None)
    if parent is not None:
        if depth > 5:
            raise ValueError("scenario 'extends' chain too deep")
        sibling = path.parent / (parent if Path(parent).suffix else f"{parent}.yaml")
        raw = _deep_merge(_read(sibling if sibling.exists() else parent, depth + 1), raw)
    return raw


def load_scenario(name_or_path: str | Path) -> ScenarioConfig:
    """Load a scenario by name (``default``, ``small``, ``mmc``, ``snowstorm``) or by YAML path."""
    return ScenarioConfig.model_validate(_read(name_or_path))


def list_scenarios() -> list[str]:
    """Names of the bundled scenarios."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))
