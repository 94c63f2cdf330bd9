"""Sharing recommendations from the staffing gap, in words for the ops head and as a ``PUT /policy`` patch.

A province short by at least ``min_short`` people for consecutive hours of one day is a shortage block;
the provinces with at least ``min_idle`` spare people through every hour of the block can lend: the
short province shares out, the lenders share in. Pure.
"""

from __future__ import annotations

from typing import Any

import pandas as pd


def shortage_blocks(gaps: pd.DataFrame, min_short: float) -> list[dict[str, Any]]:
    """Runs of consecutive hours where one province's gap is ``<= -min_short``."""
    short = gaps[gaps["gap"] <= -min_short].sort_values(["province_id", "start"])
    blocks: list[dict[str, Any]] = []
    for pid, rows in short.groupby("province_id"):
        current: dict[str, Any] | None = None
        for r in rows.itertuples():
            start = pd.Timestamp(r.start)
            if current is not None and start == current["end"]:
                current["end"] = start + pd.Timedelta(hours=1)
                current["short"] = max(current["short"], -r.gap)
                current["hours"].append(start)
                continue
            current = {
                "province_id": pid,
                "start": start,
                "end": start + pd.Timedelta(hours=1),
                "short": -r.gap,
                "hours": [start],
            }
            blocks.append(current)
    return blocks


def recommendations(
    gaps: pd.DataFrame,
    names: dict[str, str],
    *,
    min_short: float = 2.0,
    min_idle: float = 1.0,
    zone: str = "Asia/Shanghai",
    limit: int = 50,
) -> list[dict[str, Any]]:
    """The largest shortages first, each with its lenders, a sentence and the policy patch."""
    idle = gaps.pivot_table(index="start", columns="province_id", values="gap", aggfunc="sum")
    out = []
    for b in sorted(shortage_blocks(gaps, min_short), key=lambda x: -x["short"] * len(x["hours"])):
        spare = idle.reindex(b["hours"]).drop(columns=[b["province_id"]], errors="ignore").min()
        lenders = spare[spare >= min_idle].sort_values(ascending=False).head(3)
        if lenders.empty:
            continue
        start = b["start"].tz_convert(zone) if b["start"].tzinfo else b["start"]
        end = b["end"].tz_convert(zone) if b["end"].tzinfo else b["end"]
        who = " and ".join(names.get(p, p) for p in lenders.index)
        text = (
            f"{names.get(b['province_id'], b['province_id'])} short {int(b['short'])} people "
            f"{start:%H:%M}-{end:%H:%M} {start:%A %Y-%m-%d}; "
            f"{who} idle {int(lenders.sum())} then: share-in on"
        )
        patch = {
            "provinces": {
                b["province_id"]: {"share_out": True},
                **{p: {"share_in": True} for p in lenders.index},
            }
        }
        out.append(
            {
                "province_id": b["province_id"],
                "start": b["start"].isoformat(),
                "end": b["end"].isoformat(),
                "short": int(b["short"]),
                "lenders": {p: int(v) for p, v in lenders.items()},
                "text": text,
                "policy_patch": patch,
            }
        )
        if len(out) >= limit:
            break
    return out
