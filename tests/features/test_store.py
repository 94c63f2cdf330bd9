"""Real Feast in temp dirs: apply, materialize, online == latest offline (SQLite and a real redis-server)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import yaml
from feast.repo_operations import get_repo_files

from features.pipeline import EVENT_TIME_COLUMNS, build_features, read_manifest
from features.push import push_qa_outcomes, push_worker_status
from features.spec import VIEWS
from features.store import apply_repo, build_store, materialize, repo_config, repo_dir
from opsmatch.settings import Settings
from tests.factories.events import make_events, online_mismatches, start_redis, write_events

FEATURES_DIR = Path(__file__).resolve().parents[2] / "features"


def _ready(settings: Settings) -> dict:
    build_features(settings)
    apply_repo(settings)
    return materialize(settings)


def _check_all_views(settings: Settings) -> None:
    store = build_store(settings)
    since = pd.Timestamp(read_manifest(settings.feature_data_dir)["online_since"])
    for view, spec in VIEWS.items():
        n, bad = online_mismatches(store, settings, view, since=since if spec.cadence == "event" else None)
        assert n > 0, view
        assert not bad, bad[:5]


@pytest.fixture(scope="module")
def sqlite_env(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = Settings(data_dir=tmp_path_factory.mktemp("sqlite") / "data")
    write_events(settings, make_events(days=6, seed=3))
    _ready(settings)
    return settings


def test_yaml_is_generated_with_absolute_paths_under_the_data_dir(sqlite_env: Settings) -> None:
    cfg = yaml.safe_load((repo_dir(sqlite_env) / "feature_store.yaml").read_text())
    base = sqlite_env.feature_data_dir.resolve()
    assert cfg["online_store"] == {"type": "sqlite", "path": str(base / "online.db")}
    assert cfg["registry"]["path"] == str(base / "registry.db")
    assert cfg["offline_store"]["type"] == "duckdb"
    store = build_store(sqlite_env)
    for view in VIEWS:
        path = Path(store.get_feature_view(view).batch_source.path)
        assert path.is_absolute() and path.is_relative_to(base) and path.exists()


def test_redis_profile_config(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path, feast_profile="redis", redis_url="10.0.0.5:6380")
    assert repo_config(s)["online_store"] == {"type": "redis", "connection_string": "10.0.0.5:6380"}
    with pytest.raises(ValueError):
        repo_config(Settings(data_dir=tmp_path, feast_profile="cassandra"))


def test_online_equals_latest_offline_on_sqlite(sqlite_env: Settings) -> None:
    _check_all_views(sqlite_env)


def test_services_and_odfvs_are_registered(sqlite_env: Settings) -> None:
    store = build_store(sqlite_env)
    assert {s.name for s in store.list_feature_services()} == {
        "handling_time",
        "qa_pass",
        "complaint",
        "complaint_pre",
    }
    pre = store.get_feature_service("complaint_pre")
    assert [p.name for p in pre.feature_view_projections] == [
        "task_profile",
        "customer_profile",
        "province_status",
        "sla_urgency",
    ]
    for fv in store.list_feature_views():
        assert fv.ttl and fv.ttl.total_seconds() > 0 and fv.description and fv.tags
    assert {o.name for o in store.list_on_demand_feature_views()} == {"sla_urgency", "worker_load"}


def test_request_time_features_online(sqlite_env: Settings) -> None:
    store = build_store(sqlite_env)
    task = pd.read_parquet(sqlite_env.feature_data_dir / "tables" / "task_profile.parquet").iloc[-1]
    now = task["task_created_at"] + pd.Timedelta(hours=2)
    out = store.get_online_features(
        features=[
            "sla_urgency:hours_to_sla",
            "sla_urgency:task_age_hours",
            "worker_load:load_ratio",
            "worker_profile:worker_daily_capacity",
            "worker_status:open_tasks",
        ],
        entity_rows=[{"task_id": task["task_id"], "worker_id": "W0001", "now": now}],
    ).to_dict()
    expected = (task["task_sla_due_at"] - now).total_seconds() / 3600
    assert out["hours_to_sla"][0] == pytest.approx(expected)
    assert out["task_age_hours"][0] == pytest.approx(2.0)
    assert out["load_ratio"][0] == pytest.approx(out["open_tasks"][0] / out["worker_daily_capacity"][0])


def test_push_updates_online_values(sqlite_env: Settings) -> None:
    store = build_store(sqlite_env)
    later = pd.Timestamp.now(tz="UTC")
    push_worker_status(
        store, pd.DataFrame({"worker_id": ["W0002"], "at": [later], "on_shift": [True], "open_tasks": [7]})
    )
    push_qa_outcomes(
        store,
        pd.DataFrame(
            {
                "qa_id": ["Qx"],
                "task_id": ["T0000001"],
                "worker_id": ["W0002"],
                "checked_at": [later],
                "passed": [False],
                "score": [12.5],
                "satisfaction": [2],
            }
        ),
    )
    out = store.get_online_features(
        features=[
            "worker_status:open_tasks",
            "worker_status:on_shift",
            "worker_load:load_ratio",
            "worker_last_qa:last_qa_score",
            "worker_last_qa:last_qa_passed",
            "worker_profile:worker_daily_capacity",
        ],
        entity_rows=[{"worker_id": "W0002"}],
    ).to_dict()
    assert (out["open_tasks"][0], out["on_shift"][0]) == (7, True)
    assert out["load_ratio"][0] == pytest.approx(7 / out["worker_daily_capacity"][0])
    assert (out["last_qa_score"][0], out["last_qa_passed"][0]) == (12.5, False)


def test_apply_is_idempotent_and_keeps_materialization_state(sqlite_env: Settings) -> None:
    before = build_store(sqlite_env).get_feature_view("worker_profile").most_recent_end_time
    yaml_bytes = (repo_dir(sqlite_env) / "feature_store.yaml").read_bytes()
    apply_repo(sqlite_env)
    assert build_store(sqlite_env).get_feature_view("worker_profile").most_recent_end_time == before
    assert (repo_dir(sqlite_env) / "feature_store.yaml").read_bytes() == yaml_bytes


def test_incremental_materialize_picks_up_new_days(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    full = make_events(days=6, seed=5)
    cut = full["tasks"]["created_at"].min().normalize() + pd.Timedelta(days=4)
    first = {
        k: (v[v[EVENT_TIME_COLUMNS[k]] < cut] if k in EVENT_TIME_COLUMNS else v) for k, v in full.items()
    }
    first["completions"] = first["completions"][
        first["completions"]["task_id"].isin(first["tasks"]["task_id"])
    ]
    write_events(settings, first)
    r1 = _ready(settings)
    write_events(settings, full)
    build_features(settings)
    r2 = materialize(settings, incremental=True)
    wp = r2["views"]["worker_profile"]
    assert wp["start"] == r1["views"]["worker_profile"]["end"] and wp["end"] > wp["start"]
    _check_all_views(settings)


def test_feastignore_leaves_only_the_definitions_module() -> None:
    assert [p.name for p in get_repo_files(FEATURES_DIR)] == ["repo.py"]


# -- Redis (real server) ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory):
    # `make test` installs redis-server (scripts/system-deps.sh): a missing server is a failure, not a skip.
    proc, url = start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.mark.integration
def test_online_equals_latest_offline_on_redis(redis_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", feast_profile="redis", redis_url=redis_url)
    write_events(settings, make_events(days=6, seed=3))
    _ready(settings)
    assert build_store(settings).config.online_store.type == "redis"
    _check_all_views(settings)
    store = build_store(settings)
    push_worker_status(
        store,
        pd.DataFrame(
            {
                "worker_id": ["W0003"],
                "at": [pd.Timestamp.now(tz="UTC")],
                "on_shift": [False],
                "open_tasks": [4],
            }
        ),
    )
    out = store.get_online_features(
        features=["worker_status:open_tasks"], entity_rows=[{"worker_id": "W0003"}]
    ).to_dict()
    assert out["open_tasks"] == [4]


def test_apply_drops_objects_that_are_no_longer_defined(sqlite_env: Settings) -> None:
    from feast import FeatureService

    store = build_store(sqlite_env)
    store.apply([FeatureService(name="obsolete", features=[store.get_feature_view("task_profile")])])
    assert "obsolete" in {s.name for s in build_store(sqlite_env).list_feature_services()}
    apply_repo(sqlite_env)
    assert "obsolete" not in {s.name for s in build_store(sqlite_env).list_feature_services()}
    assert build_store(sqlite_env).get_feature_view("worker_profile").most_recent_end_time is not None


def test_empty_event_log_materializes_nothing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    build_features(settings)
    apply_repo(settings)
    assert materialize(settings)["views"] == {}
    with pytest.raises(RuntimeError):
        materialize(Settings(data_dir=tmp_path / "never-built"))


@pytest.mark.parametrize(
    "profile,name", [("sqlite", "feature_store.yaml"), ("redis", "feature_store.redis.yaml")]
)
def test_committed_cli_yaml_matches_the_generated_config(
    tmp_path: Path, monkeypatch, profile: str, name: str
) -> None:
    monkeypatch.setenv("OPSMATCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("OPSMATCH_REDIS_URL", "127.0.0.1:6390")
    committed = yaml.safe_load(os.path.expandvars((FEATURES_DIR / name).read_text()))
    generated = repo_config(Settings(data_dir=tmp_path, feast_profile=profile, redis_url="127.0.0.1:6390"))
    assert committed == generated
