"""One typed settings object for the whole product (env prefix ``OPSMATCH_``)."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class RateLimit(BaseModel):
    """A token bucket: ``per_second`` requests a second on average, bursts of ``burst``."""

    per_second: float = Field(gt=0, le=1e6)
    burst: int = Field(ge=1, le=10**7)


DEFAULT_RATE_LIMITS = {
    "dispatcher": RateLimit(per_second=50, burst=200),
    "risk": RateLimit(per_second=20, burst=100),
    "qa_system": RateLimit(per_second=100, burst=500),
    "ops_head": RateLimit(per_second=20, burst=100),
    "admin": RateLimit(per_second=100, burst=500),
}


class Settings(BaseSettings):
    """Where every store lives and how the product behaves; all overridable by ``OPSMATCH_*`` env vars."""

    model_config = SettingsConfigDict(
        env_prefix="OPSMATCH_", env_file=".env", extra="ignore", env_nested_delimiter="__"
    )

    data_dir: Path = Field(default=PROJECT_ROOT / "data", description="Event store, feature tables, truth.")
    feast_profile: str = Field(default="sqlite", description="Online store profile: sqlite or redis.")
    redis_url: str = Field(
        default="localhost:6379", description="Redis connection string for the redis profile."
    )
    mlflow_tracking_uri: str = Field(
        default=f"sqlite:///{PROJECT_ROOT / 'mlruns' / 'mlflow.db'}", description="MLflow tracking store URI."
    )
    mlflow_artifact_root: Path = Field(default=PROJECT_ROOT / "mlruns" / "artifacts")
    state_db_url: str = Field(
        default="", description="SQLAlchemy URL of service state; default under data dir."
    )
    events_url: str = Field(
        default="",
        description="Event store URL: sqlite:///... (default: events/events.db under the data dir) or "
        "postgresql://user@host:port/db at scale.",
    )
    api_token: SecretStr | None = Field(
        default=None, description="Optional extra admin key (named env-token in the audit); no default."
    )
    key_cache_seconds: float = Field(
        default=2.0, ge=0, le=60, description="How long a worker trusts a cached key row (revocation delay)."
    )
    max_body_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="Larger request bodies are refused (413) unread."
    )
    rate_limits: dict[str, RateLimit] = Field(
        default_factory=lambda: dict(DEFAULT_RATE_LIMITS),
        description='Per-key token bucket by role, JSON: {"dispatcher": {"per_second": 50, "burst": 200}}.',
    )
    rate_limit_url: str = Field(
        default="",
        description="Where the per-key rate buckets live: empty = in each worker's memory (one worker); "
        "redis://host:port/db = shared by every worker and replica.",
    )
    service: dict[str, Any] = Field(
        default_factory=dict,
        description="Service limits over serving/defaults.yaml: OPSMATCH_SERVICE__<FIELD>=value "
        "(e.g. OPSMATCH_SERVICE__CHAMPION_POLL_SECONDS=5) or OPSMATCH_SERVICE as a JSON object.",
    )
    retrain_every_minutes: float = Field(
        default=60.0,
        gt=0,
        description="Period of the retrain loop that `opsmatch demo` runs in the background.",
    )
    monitor_every_minutes: float = Field(
        default=30.0,
        gt=0,
        description="Period of the model monitor (`opsmatch monitor-models`) that `opsmatch demo` runs.",
    )
    clock: Literal["wall", "demo"] = Field(
        default="wall",
        description="wall: the operation's clock is the wall clock (a deployment); demo: `make run`'s "
        "clock, a past working-day morning when the demo starts, never later than the wall clock "
        "(opsmatch/clock.py).",
    )
    clock_anchor: datetime | None = Field(
        default=None,
        description="Demo clock: the wall instant at which the operation's clock reads clock_start "
        "(default: equals the wall clock there) (ISO, with zone).",
    )
    clock_start: datetime | None = Field(
        default=None,
        description="Demo clock: what the operation's clock reads at clock_anchor (ISO, with zone).",
    )
    clock_speed: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        description="Demo clock speed: operation seconds per wall second (1 = real time).",
    )
    scenario: str = Field(default="default", description="Twin scenario name or YAML path.")
    seed: int = Field(default=7, description="Master random seed.")

    @property
    def events_dir(self) -> Path:
        """The embedded event store's folder (and where an old layout's Parquet files are found)."""
        return self.data_dir / "events"

    @property
    def truth_dir(self) -> Path:
        """The twin's hidden truth: read only by evaluation code."""
        return self.data_dir / "truth"

    @property
    def quarantine_dir(self) -> Path:
        """Rows refused by the validator, with file, row, column and reason."""
        return self.data_dir / "quarantine"

    @property
    def feature_data_dir(self) -> Path:
        """Feature tables (Parquet) and the Feast registry/online store."""
        return self.data_dir / "features"

    def rate_limit(self, role: str) -> RateLimit:
        """The bucket of a role (the default of the role when the setting leaves it out)."""
        return self.rate_limits.get(role) or DEFAULT_RATE_LIMITS.get(role) or DEFAULT_RATE_LIMITS["admin"]

    @property
    def resolved_events_url(self) -> str:
        """Event store URL (SQLite under ``events_dir`` unless set)."""
        return self.events_url or f"sqlite:///{self.events_dir.resolve() / 'events.db'}"

    @property
    def resolved_state_db_url(self) -> str:
        """Service-state database URL (SQLite under the data dir unless set)."""
        return self.state_db_url or f"sqlite:///{self.data_dir / 'state.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once from the environment; tests build their own ``Settings(...)``."""
    return Settings()
