"""Small inline SVG charts, written by hand: no plotting library, no script, no network.

Each function returns one ``<svg>`` element as a string, sized in CSS pixels, with a
``<title>`` on every mark so that hovering shows the exact value. Series are drawn in the
order given; by convention the baseline comes first (grey) and the new file second (blue).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

FONT = "font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:11px"
AXIS = "#57606a"
GRID = "#d0d7de"


@dataclass(frozen=True)
class Series:
    """A named sequence of values (None: no value there), its colour and its dash."""

    name: str
    values: Sequence[float | None]
    color: str
    dashed: bool = False


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [low, high]."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0, 1.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 12))
    return ticks


def line_chart(
    series: Sequence[Series],
    x_labels: Sequence[str],
    *,
    title: str,
    x_title: str,
    y_title: str,
    y_format: Callable[[float], str] = lambda v: f"{v:g}",
    y_min: float | None = 0.0,
    y_max: float | None = None,
    width: int = 560,
    height: int = 300,
) -> str:
    """Lines over categorical x positions (one per label), with points and a legend."""
    left, right, top, bottom = 58, 16, 50, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for s in series for v in s.values if v is not None and math.isfinite(v)]
    low = y_min if y_min is not None else (min(values) if values else 0.0)
    high = y_max if y_max is not None else (max(values) if values else 1.0)
    ticks = nice_ticks(low, high)
    low, high = ticks[0], ticks[-1]
    count = max(1, len(x_labels))

    def x_at(i: int) -> float:
        return left + (plot_w * (i + 0.5) / count)

    def y_at(v: float) -> float:
        return top + plot_h - (v - low) / (high - low) * plot_h

    out = [_open(width, height, title)]
    out.append(_text(left, 16, title, weight="600", size=13))
    for t in ticks:
        y = y_at(t)
        out.append(_line(left, y, left + plot_w, y, GRID))
        out.append(_text(left - 6, y + 4, y_format(t), anchor="end"))
    step = max(1, math.ceil(count / 16))
    for i, label in enumerate(x_labels):
        if i % step == 0:
            out.append(_text(x_at(i), top + plot_h + 15, label, anchor="middle"))
    out.append(_line(left, top + plot_h, left + plot_w, top + plot_h, AXIS))
    out.append(_line(left, top, left, top + plot_h, AXIS))
    out.append(_text(left + plot_w / 2, height - 8, x_title, anchor="middle"))
    out.append(
        f'<text x="12" y="{top + plot_h / 2:.1f}" transform="rotate(-90 12 {top + plot_h / 2:.1f})"'
        f' text-anchor="middle" fill="{AXIS}">{escape(y_title)}</text>'
    )
    for s in series:
        points = [
            (x_at(i), y_at(v), v)
            for i, v in enumerate(s.values)
            if v is not None and math.isfinite(v)
        ]
        if not points:
            continue
        dash = ' stroke-dasharray="5 4"' if s.dashed else ""
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
        out.append(
            f'<polyline points="{path}" fill="none" stroke="{s.color}" stroke-width="2"{dash}/>'
        )
        for (x, y, v), i in zip(points, _indices(s.values), strict=True):
            label = f"{s.name}, {x_labels[i]}: {y_format(v)}"
            out.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{s.color}">'
                f"<title>{escape(label)}</title></circle>"
            )
    out.append(_legend(series, left + plot_w, 34))
    out.append("</svg>")
    return "".join(out)


def bar_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    value_format: Callable[[float], str] = lambda v: f"{v:g}",
    width: int = 560,
    bar: int = 9,
) -> str:
    """Horizontal grouped bars: one group per label, one bar per series."""
    left, right, top = 150, 70, 44
    group = bar * len(series) + 6
    height = top + group * len(labels) + 12
    plot_w = width - left - right
    values = [v for s in series for v in s.values if v is not None]
    high = max(values) if values else 1.0
    high = high or 1.0
    out = [_open(width, height, title)]
    out.append(_text(8, 16, title, weight="600", size=13))
    out.append(_legend(series, width - right + 60, 32))
    for g, label in enumerate(labels):
        y0 = top + g * group
        out.append(_text(left - 6, y0 + group / 2 + 2, label, anchor="end"))
        for j, s in enumerate(series):
            v = s.values[g]
            if v is None:
                continue
            w = max(1.0, plot_w * v / high) if v > 0 else 0.0
            y = y0 + j * bar
            out.append(
                f'<rect x="{left}" y="{y:.1f}" width="{w:.1f}" height="{bar - 1}" '
                f'fill="{s.color}"><title>{escape(f"{s.name}, {label}: {value_format(v)}")}'
                f"</title></rect>"
            )
            out.append(_text(left + w + 4, y + bar - 1.5, value_format(v), size=9))
    out.append(_line(left, top - 2, left, top + group * len(labels), AXIS))
    out.append("</svg>")
    return "".join(out)


def _indices(values: Sequence[float | None]) -> list[int]:
    return [i for i, v in enumerate(values) if v is not None and math.isfinite(v)]


def _open(width: int, height: int, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'style="{FONT}">'
    )


def _text(
    x: float,
    y: float,
    text: str,
    *,
    anchor: str = "start",
    weight: str = "normal",
    size: int = 11,
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-weight="{weight}" '
        f'font-size="{size}" fill="#24292f">{escape(text)}</text>'
    )


def _line(x1: float, y1: float, x2: float, y2: float, color: str) -> str:
    return (
        f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{color}" '
        f'stroke-width="1"/>'
    )


def _legend(series: Sequence[Series], right: float, y: float) -> str:
    parts = []
    x = right
    for s in reversed(series):
        width = 26 + 6.5 * len(s.name)
        x -= width
        dash = ' stroke-dasharray="5 4"' if s.dashed else ""
        parts.append(
            f'<line x1="{x:.1f}" y1="{y - 4}" x2="{x + 18:.1f}" y2="{y - 4}" stroke="{s.color}" '
            f'stroke-width="3"{dash}/>'
        )
        parts.append(_text(x + 22, y, s.name))
    return "".join(parts)
