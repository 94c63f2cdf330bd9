"""The twin's online journeys (issue 27): a valid contract table from its own random stream, and an
abandonment that raises the customer's later complaints and calls."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from opsmatch.contract import TABLES
from opsmatch.validation import validate_table
from simulator.engine import SimResult
from simulator.journeys import generate_journeys
from simulator.outcomes import task_outcomes
from simulator.tables import event_table_builders


def _with(result: SimResult, **journeys: float) -> SimResult:
    cfg = result.config.model_copy(update={"journeys": result.config.journeys.model_copy(update=journeys)})
    return replace(result, config=cfg)


def test_journeys_table_is_valid_and_censored_at_the_end(small_result: SimResult, small_outcomes) -> None:  # noqa: ANN001
    built = event_table_builders(small_result, small_outcomes)
    j = built["journeys"]()
    arr = small_result.arrivals
    known = {
        "customers": set(arr.customers["customer_id"]),
        "provinces": set(small_result.workforce.provinces["province_id"]),
    }
    end = pd.Timestamp(small_result.config.start_utc) + pd.Timedelta(minutes=small_result.end)
    res = validate_table(TABLES["journeys"], j, source="twin", known_keys=known, now=end)
    assert res.rejections == []
    assert len(res.accepted) == len(j) > 500
    share = j["abandoned_at"].notna().mean()
    assert 0.2 < share < 0.45  # every flow breaks off somewhere, most journeys go through
    assert j["journey_id"].is_unique and j["started_at"].is_monotonic_increasing
    calls = built["contacts"]()
    mine = calls[calls["contact_id"].str.startswith("CJ")]
    assert len(mine) > 20 and mine["text"].str.contains("到第").all() and mine["task_id"].isna().all()


def test_journeys_draw_from_their_own_stream(small_result: SimResult, small_outcomes) -> None:  # noqa: ANN001
    more = _with(small_result, per_task=0.6, complaint_uplift=0.0)
    other = task_outcomes(more)
    for col in ("worker", "started", "minutes", "passed", "filed_at", "checked_at"):
        pd.testing.assert_series_equal(small_outcomes[col], other[col])  # dispatch and QA untouched
    assert len(generate_journeys(more.config, more.arrivals, more.seed)) > len(
        generate_journeys(small_result.config, small_result.arrivals, small_result.seed)
    )


def test_an_abandonment_raises_complaints_only_while_unresolved(
    small_result: SimResult, small_outcomes
) -> None:  # noqa: ANN001
    calm = task_outcomes(_with(small_result, complaint_uplift=0.0))
    hit = small_outcomes["journey_uplift"].to_numpy(dtype=bool)
    base, now = calm["complaint"].to_numpy(dtype=bool), small_outcomes["complaint"].to_numpy(dtype=bool)
    assert hit.any() and not hit.all()
    assert np.array_equal(base[~hit], now[~hit])  # tasks no abandonment weighs on: bit for bit
    assert (now[hit] >= base[hit]).all() and now[hit].sum() > base[hit].sum()  # only complaints appear
    resolved = task_outcomes(_with(small_result, self_resume=1.0, resume_days_mean=1e-4))
    assert resolved["journey_uplift"].sum() < hit.sum()  # resolved at once: hardly any weight left
