"""Feast definitions: entities, sources, feature views, on-demand views and one feature service per model.

Declared from ``features.spec``; the only parameter is the feature-table folder, because the DuckDB
offline store needs absolute FileSource paths (generated from settings, never committed).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from feast import Entity, FeatureService, FeatureView, Field, FileSource, PushSource, RequestSource
from feast.data_format import ParquetFormat
from feast.on_demand_feature_view import OnDemandFeatureView
from feast.types import Bool, Float64, Int64, String, UnixTimestamp
from feast.value_type import ValueType

from features.spec import (
    ENTITY_KEYS,
    EVENT_TS,
    ODFV_FEATURES,
    REQUEST_FIELDS,
    SERVICES,
    VIEWS,
    ViewSpec,
    table_path,
)

FEAST_TYPES = {"int": Int64, "float": Float64, "str": String, "bool": Bool, "ts": UnixTimestamp}
PUSH_SOURCES = {"worker_status": "worker_status_push", "worker_last_qa": "worker_qa_push"}

# Feast entities have one join key each (spec.ENTITY_KEYS): worker x task type is a view keyed by both.
ENTITY_DESCRIPTIONS: dict[str, str] = {
    "worker": "An operations worker.",
    "task": "A back-office task.",
    "customer": "A (pseudonymous) customer.",
    "province": "A provincial operations centre.",
    "task_type": "A task type; with worker it keys the worker x type performance (matching signal).",
}


@dataclass
class Definitions:
    """Every Feast object of the repo, by name."""

    entities: dict[str, Entity] = field(default_factory=dict)
    sources: dict[str, FileSource | PushSource | RequestSource] = field(default_factory=dict)
    views: dict[str, FeatureView] = field(default_factory=dict)
    odfvs: dict[str, OnDemandFeatureView] = field(default_factory=dict)
    services: dict[str, FeatureService] = field(default_factory=dict)

    def objects(self) -> list:
        """All objects, in the order ``FeatureStore.apply`` wants them."""
        return [
            *self.entities.values(),
            *self.sources.values(),
            *self.views.values(),
            *self.odfvs.values(),
            *self.services.values(),
        ]


def _schema(spec: ViewSpec) -> list[Field]:
    keys = [Field(name=k, dtype=String) for k in spec.keys]
    return keys + [Field(name=n, dtype=FEAST_TYPES[t]) for n, t in spec.features]


def _file_source(feature_data_dir: Path, spec: ViewSpec) -> FileSource:
    return FileSource(
        name=f"{spec.name}_file",
        path=str(table_path(feature_data_dir, spec.name)),
        file_format=ParquetFormat(),
        timestamp_field=EVENT_TS,
        description=f"Parquet table written by features.pipeline for {spec.name}.",
    )


def hours_to_sla_udf(inputs: pd.DataFrame) -> pd.DataFrame:
    """Hours left before the SLA and task age, at the request-time ``now`` (``request_time.sla_urgency``)."""
    import pandas as pd  # the UDF is shipped by value (dill): keep imports inside

    from features.request_time import sla_urgency

    now = pd.to_datetime(inputs["now"], utc=True)
    due = pd.to_datetime(inputs["task_sla_due_at"], utc=True)
    created = pd.to_datetime(inputs["task_created_at"], utc=True)
    return pd.DataFrame(sla_urgency(due, created, now), index=inputs.index)


def load_ratio_udf(inputs: pd.DataFrame) -> pd.DataFrame:
    """Open tasks over the worker's daily capacity (``request_time.load_ratio``)."""
    import pandas as pd  # the UDF is shipped by value (dill): keep imports inside

    from features.request_time import load_ratio

    ratio = load_ratio(inputs["open_tasks"], inputs["worker_daily_capacity"])
    return pd.DataFrame({"load_ratio": ratio}, index=inputs.index)


def _odfv(name: str, sources: list, udf, description: str) -> OnDemandFeatureView:
    """A pandas on-demand view whose output schema is ``spec.ODFV_FEATURES[name]``.

    Built with the class, not the decorator: the decorator rewrites the UDF's __module__ to __main__,
    which breaks building the definitions twice in one process. The registry stores the source text.
    """
    return OnDemandFeatureView(
        name=name,
        sources=sources,
        schema=[Field(name=n, dtype=FEAST_TYPES[t]) for n, t in ODFV_FEATURES[name]],
        mode="pandas",
        udf=udf,
        udf_string=inspect.getsource(udf),
        description=description,
        tags={"team": "ops-ml"},
    )


def build_definitions(feature_data_dir: Path) -> Definitions:
    """All Feast objects, with FileSource paths under ``feature_data_dir`` (absolute)."""
    d = Definitions()
    for name, key in ENTITY_KEYS.items():
        d.entities[name] = Entity(
            name=name,
            join_keys=[key],
            value_type=ValueType.STRING,
            description=ENTITY_DESCRIPTIONS[name],
            tags={"team": "ops-ml"},
        )
    for spec in VIEWS.values():
        batch = _file_source(feature_data_dir, spec)
        d.sources[batch.name] = batch
        source: FileSource | PushSource = batch
        if spec.name in PUSH_SOURCES:
            source = PushSource(
                name=PUSH_SOURCES[spec.name],
                batch_source=batch,
                description=f"Live updates of {spec.name}; batch side is the event log.",
            )
            d.sources[source.name] = source
        d.views[spec.name] = FeatureView(
            name=spec.name,
            entities=[d.entities[e] for e in spec.entities],
            ttl=spec.ttl,
            schema=_schema(spec),
            source=source,
            online=True,
            description=spec.description,
            tags=spec.tags,
        )
    request = RequestSource(
        name="request_context",
        schema=[Field(name=n, dtype=FEAST_TYPES[t]) for n, t in REQUEST_FIELDS],
        description="Request-time values: now (UTC).",
    )
    d.sources[request.name] = request

    task, profile, status = d.views["task_profile"], d.views["worker_profile"], d.views["worker_status"]
    for odfv in (
        _odfv(
            "sla_urgency",
            [task[["task_created_at", "task_sla_due_at"]], request],
            hours_to_sla_udf,
            "Hours to the SLA deadline and task age at request time.",
        ),
        _odfv(
            "worker_load",
            [profile[["worker_daily_capacity"]], status[["open_tasks"]]],
            load_ratio_udf,
            "Live load ratio: open tasks / daily capacity.",
        ),
    ):
        d.odfvs[odfv.name] = odfv

    for model, parts in SERVICES.items():
        d.services[model] = FeatureService(
            name=model,
            features=[d.views[p] if p in d.views else d.odfvs[p] for p in parts],
            description=f"Features of the {model} model (see features.spec.SERVICES).",
            tags={"team": "ops-ml", "model": model},
        )
    return d
