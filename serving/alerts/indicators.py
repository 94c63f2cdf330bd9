"""Threshold alerts on the operating indicators per province (seed 004), pure: the counts of
:mod:`serving.alerts.indicator_feed` -> values -> alerts, with hysteresis (an open alert stays until the
value is
back past ``clear_at``; a new one needs ``raise_at``). The thresholds are policy (``alerts.indicators``).
"""

from __future__ import annotations

from collections.abc import Collection

from serving.alerts.indicator_feed import Readings
from serving.alerts.rules import Alert
from serving.config import Indicators, Threshold

WORDS: dict[str, tuple[str, str, bool]] = {  # kind -> (name, what is counted, shown as a percentage)
    "arrivals": ("arrivals vs expected", "arrivals", False),
    "arrivals_low": ("arrivals vs expected", "expected arrivals", False),
    "sla_attainment": ("SLA attainment", "completions", True),
    "qa_pass_rate": ("QA pass rate", "QA checks", True),
    "complaint_rate": ("complaint rate", "completions", True),
    "surrender_share": ("surrender share of arrivals", "arrivals", True),
    "renewal_share": ("renewal share of arrivals", "arrivals", True),
}


def _ratio(
    num: dict[str, int] | dict[str, float], den: dict[str, int] | dict[str, float]
) -> dict[str, tuple[float, int]]:
    return {p: (float(num.get(p, 0)) / float(n), int(n)) for p, n in den.items() if n}


def values(r: Readings) -> dict[str, dict[str, tuple[float, int]]]:
    """kind -> province -> (value, events it rests on)."""
    arrivals = {
        p: (r.arrivals.get(p, 0) / e, int(max(e, r.arrivals.get(p, 0))))
        for p, e in r.expected.items()
        if e > 0
    }
    return {
        "arrivals": arrivals,
        "arrivals_low": {p: (v, int(r.expected[p])) for p, (v, _) in arrivals.items()},
        "sla_attainment": _ratio(r.within_sla, r.completed),
        "qa_pass_rate": _ratio(r.qa_passed, r.qa_checked),
        "complaint_rate": _ratio(r.complaints, r.completed_long),
        "surrender_share": _ratio(r.surrenders, r.arrivals_day),
        "renewal_share": _ratio(r.renewals, r.arrivals_day),
    }


def _beyond(value: float, level: float, direction: str) -> bool:
    return value > level if direction == "above" else value < level


def _fmt(value: float, pct: bool) -> str:
    return f"{value:.0%}" if pct else f"{value:.2f}x"


def evaluate(readings: Readings, rules: Indicators, active: Collection[tuple[str, str]]) -> list[Alert]:
    """One alert per (indicator, province) past its threshold, or still open and not yet back past
    ``clear_at`` (``active``: the (kind, province) pairs open now)."""
    out = []
    for kind, by_province in values(readings).items():
        rule: Threshold = getattr(rules, kind)
        if not rule.enabled:
            continue
        name, counted, pct = WORDS[kind]
        for prov, (value, n) in sorted(by_province.items()):
            if n < rule.min_count:
                continue
            is_open = (kind, prov) in active
            if not _beyond(value, rule.clear_at if is_open else rule.raise_at, rule.direction):
                continue
            side = "above" if rule.direction == "above" else "below"
            extra = ""
            if kind.startswith("arrivals"):
                got, exp = readings.arrivals.get(prov, 0), readings.expected.get(prov, 0.0)
                interval = readings.expected_band.get(prov)  # the forecast's interval, when there is one
                if interval is not None and interval[0] <= got <= interval[1]:
                    continue  # inside the forecast's interval: expected variation, not an alert
                extra = f" ({got} arrived, {exp:.0f} expected" + (
                    f", interval {interval[0]:.0f}-{interval[1]:.0f})"
                    if interval is not None
                    else ", same hour last week)"
                )
            band = max(abs(rule.raise_at - rule.clear_at), 1e-9)
            far = _beyond(value, rule.raise_at, rule.direction) and abs(value - rule.raise_at) > 2 * band
            out.append(
                Alert(
                    kind=kind,
                    severity="critical" if far else "warning",
                    subject_id=prov,
                    province_id=prov,
                    message=f"{prov}: {name} {_fmt(value, pct)} {side} {_fmt(rule.raise_at, pct)}{extra}; "
                    f"clears at {_fmt(rule.clear_at, pct)} ({n} {counted}, {rule.window_hours:g} h)",
                    details={
                        "indicator": kind,
                        "value": round(value, 4),
                        "threshold": rule.raise_at,
                        "clear_at": rule.clear_at,
                        "direction": rule.direction,
                        "events": n,
                        "window_hours": rule.window_hours,
                        **({"expected": readings.expected.get(prov)} if kind.startswith("arrivals") else {}),
                    },
                    value=round(value, 4),
                )
            )
    return out
