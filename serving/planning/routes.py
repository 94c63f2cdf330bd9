"""``GET /forecast`` and ``GET /staffing`` (ops head and dispatchers): JSON, or CSV with ``format=csv``.

Filters: ``province_id``, ``task_type`` (forecast), ``from`` and ``to`` (ISO timestamps; ``to`` after
``from``). Before the first forecast is made both answer 404 ``forecast_unavailable``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import pandas as pd
from fastapi import APIRouter, Query
from pydantic import BaseModel
from starlette.responses import Response

from serving.api import schemas as s
from serving.planning import reads as planning

router = APIRouter()


class ForecastRow(BaseModel):
    start: datetime
    province_id: str
    task_type: str
    expected: float
    low: float
    high: float
    actual: float | None = None  # arrivals so far (past intervals of the forecast)


class ForecastOut(BaseModel):
    origin: str
    zone: str
    rows: list[ForecastRow]


class StaffingRow(BaseModel):
    start: datetime
    province_id: str
    needed: float
    rostered: float
    gap: float


class StaffingOut(BaseModel):
    origin: str
    rows: list[StaffingRow]
    recommendations: list[dict[str, Any]]


def _engine() -> Any:
    import bentoml  # the service instance of this worker

    return bentoml.get_current_service().engine


def _csv(frame: pd.DataFrame, name: str) -> Response:
    out = frame.assign(start=frame["start"].map(lambda t: pd.Timestamp(t).isoformat()))
    return Response(
        out.to_csv(index=False),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


Province = Query(default=None, min_length=1, max_length=64)
CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}
Format = Literal["json", "csv"]


@router.get("/forecast", response_model=ForecastOut, responses=CSV)
def get_forecast(
    province_id: str | None = Province,
    task_type: str | None = Query(default=None, min_length=1, max_length=64),
    start: s.QueryStamp | None = Query(default=None, alias="from"),
    end: s.QueryStamp | None = Query(default=None, alias="to"),
    format: Format = "json",  # noqa: A002 - the query parameter's name
) -> Any:
    """Expected arrivals per 30 minutes, 80 % interval (``all``: a province's or the nation's total)."""
    engine = _engine()
    rows = planning.forecast_rows(engine.settings, province_id, task_type, start, end)
    if format == "csv":
        return _csv(rows, "forecast")
    inputs = planning.stored(engine.settings).inputs
    records = rows.astype(object).where(rows.notna(), None).to_dict("records")
    return {"origin": inputs["origin"], "zone": inputs["zone"], "rows": records}


@router.get("/staffing", response_model=StaffingOut, responses=CSV)
def get_staffing(
    province_id: str | None = Province,
    start: s.QueryStamp | None = Query(default=None, alias="from"),
    end: s.QueryStamp | None = Query(default=None, alias="to"),
    format: Format = "json",  # noqa: A002 - the query parameter's name
) -> Any:
    """People needed per province and hour against the roster (``gap`` < 0: short), with sharing advice."""
    engine = _engine()
    open_tasks = planning.backlog(engine.book)
    rows, recs = planning.staffing(engine.settings, province_id, start, end, open_tasks=open_tasks)
    if format == "csv":
        return _csv(rows, "staffing")
    inputs = planning.stored(engine.settings).inputs
    return {"origin": inputs["origin"], "rows": rows.to_dict("records"), "recommendations": recs}
