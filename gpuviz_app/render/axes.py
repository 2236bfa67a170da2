"""Tick positions and labels for linear and log10 axes (pure functions, no GL)."""

from __future__ import annotations

import math


def nice_step(span: float, max_ticks: int) -> float:
    """A 1-2-5 step giving at most `max_ticks` ticks over `span`."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(max_ticks, 1)
    exp = math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * 10**exp >= raw:
            return m * 10.0**exp
    return 10.0 ** (exp + 1)


def linear_ticks(lo: float, hi: float, max_ticks: int) -> list[float]:
    """Round ticks inside [lo, hi]: at most `max_ticks` where that gives two or more, else
    finer steps until there are two (a narrow axis still shows a scale, not one "0")."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return []
    for n in (max_ticks, 2 * max_ticks, 4 * max_ticks):
        step = nice_step(hi - lo, n)
        first = math.ceil(lo / step - 1e-9)
        last = math.floor(hi / step + 1e-9)
        if last - first >= 1:
            break
    return [round(i * step, 12) for i in range(first, last + 1)]


def decade_ticks(lo: float, hi: float, max_ticks: int = 8) -> list[float]:
    """Tick positions (in log10 units) for a log axis spanning [lo, hi]: at least three
    where the axis has room, from whole decades, then 1-2-5 and 1-3 within decades, then 1..9."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return []
    max_ticks = max(max_ticks, 2)
    step = max(1, math.ceil((hi - lo) / max_ticks))
    decades = [float(d) for d in range(math.ceil(lo), math.floor(hi) + 1) if d % step == 0]
    candidates = [decades, _within(lo, hi, (1, 3)), _within(lo, hi, (1, 2, 5)), _within(lo, hi, range(1, 10))]
    fitting = [c for c in candidates if len(c) <= max_ticks]
    for c in fitting:
        if len(c) >= min(3, max_ticks):
            return c
    best = max(fitting, key=len, default=decades)
    if len(best) >= 2:
        return best
    for n in (max_ticks, 6, 10):  # less than a decade between round values: round linear steps
        values = _positive(linear_ticks(10**lo, 10**hi, n))
        if len(values) >= 2:
            break
    return [math.log10(v) for v in values]


def _within(lo: float, hi: float, multiples) -> list[float]:
    """log10 of m * 10^d for the multiples m, inside [lo, hi]."""
    out = []
    for d in range(math.floor(lo), math.ceil(hi) + 1):
        for m in multiples:
            v = d + math.log10(m)
            if lo - 1e-9 <= v <= hi + 1e-9:
                out.append(v)
    return out


def _positive(values: list[float]) -> list[float]:
    return [v for v in values if v > 0]


def format_tick(value: float) -> str:
    """Short labels: 0.001, 0.25, 150, 20k, 1.5M."""
    a = abs(value)
    if a >= 1e4 and float(value).is_integer():
        for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if a >= div:
                return f"{value / div:.3g}{suffix}"
    if a != 0 and (a < 1e-3 or a >= 1e6):
        return f"{value:.2g}"
    return f"{value:.4g}"


def ticks(lo: float, hi: float, max_ticks: int, log: bool = False) -> list[tuple[float, str]]:
    """(position, label) pairs; positions are in the axis's own units (log10 units when `log`)."""
    if log:
        return [(v, format_tick(10**v)) for v in decade_ticks(lo, hi, max_ticks)]
    return [(v, format_tick(v)) for v in linear_ticks(lo, hi, max_ticks)]
