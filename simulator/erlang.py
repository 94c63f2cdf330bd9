"""Erlang C (M/M/N, FIFO) reference formulas, used to validate the twin's queueing engine."""

from __future__ import annotations

import math


def erlang_b(load: float, servers: int) -> float:
    """Blocking probability of M/M/N/N with offered load ``load`` (Erlangs), by the stable recursion."""
    if servers < 0 or load < 0:
        raise ValueError("servers and load must be non-negative")
    b = 1.0
    for k in range(1, servers + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c(load: float, servers: int) -> float:
    """P(wait) = [A^N/N! * N/(N-A)] / [sum_{k<N} A^k/k! + A^N/N! * N/(N-A)]; 1 when A >= N."""
    if load >= servers:
        return 1.0
    b = erlang_b(load, servers)
    return servers * b / (servers - load * (1 - b))


def mean_wait(load: float, servers: int, aht: float) -> float:
    """Average speed of answer: ASA = P(wait) * AHT / (N - A) (same unit as ``aht``)."""
    if load >= servers:
        return math.inf
    return erlang_c(load, servers) * aht / (servers - load)


def service_level(load: float, servers: int, aht: float, t: float) -> float:
    """SL(t) = P(wait <= t) = 1 - P(wait) * exp(-(N - A) * t / AHT)."""
    if load >= servers:
        return 0.0
    return 1.0 - erlang_c(load, servers) * math.exp(-(servers - load) * t / aht)
