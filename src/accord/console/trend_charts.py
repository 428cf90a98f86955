"""Server-rendered SVG trend charts for the Business page: lines and columns over periods.

Like :mod:`accord.console.charts` they are inline SVG with no JavaScript, every label escaped.
Every point and bar carries a ``<title>`` with its period and value (the browser shows it on
hover), the y axis is labelled in the chart's own unit, and a period
without data leaves a gap rather than a misleading zero.
"""

import math
from collections.abc import Callable, Mapping, Sequence

from markupsafe import Markup, escape

__all__ = ["columns", "nice_top", "trend"]

Formatter = Callable[[float], str]

_PAD_L, _PAD_R, _PAD_T, _PAD_B = 64, 12, 12, 24


def nice_top(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above ``value`` (1 for nothing)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0):
        if value <= step * power * (1 + 1e-9):
            return step * power
    return 10.0 * power


def _frame(
    title: str, labels: Sequence[str], top: float, fmt: Formatter, *, width: int, height: int,
    empty: str | None,
) -> list[str]:  # fmt: skip
    """The opening tag, the title and the axes (and ``empty`` across them, when given)."""
    parts = [
        (
            f'<svg class="chart trend" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        ),
        f"<title>{escape(title)}</title>",
    ]
    _axes(parts, labels, top, fmt, width=width, height=height)
    if empty is not None:
        parts.append(
            f'<text x="{width / 2:.0f}" y="{height / 2:.0f}" class="axis empty" '
            f'text-anchor="middle">{escape(empty)}</text>'
        )
    return parts


def _axes(
    parts: list[str], labels: Sequence[str], top: float, fmt: Formatter, *, width: int, height: int
) -> None:
    inner_h = height - _PAD_T - _PAD_B
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = _PAD_T + inner_h * (1 - frac)
        parts.append(
            f'<line x1="{_PAD_L}" x2="{width - _PAD_R}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{_PAD_L - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">'
            f"{escape(fmt(top * frac))}</text>"
        )
    every = max(1, math.ceil(len(labels) / 7))
    for i, label in enumerate(labels):
        if i % every and i != len(labels) - 1:
            continue
        if i != len(labels) - 1 and len(labels) - 1 - i < every:
            continue  # the last label is always drawn; skip a neighbour it would overlap
        parts.append(
            f'<text x="{_x(i, len(labels), width):.1f}" y="{height - 6}" class="axis" '
            f'text-anchor="middle">{escape(label)}</text>'
        )


def _x(i: int, n: int, width: int) -> float:
    inner_w = width - _PAD_L - _PAD_R
    return _PAD_L + inner_w * (i + 0.5) / max(1, n)


def _y(value: float, top: float, height: int) -> float:
    inner_h = height - _PAD_T - _PAD_B
    return _PAD_T + inner_h * (1 - value / top)


def trend(
    lines: Mapping[str, Sequence[float | None]],
    labels: Sequence[str],
    *,
    title: str,
    fmt: Formatter,
    colours: Mapping[str, str],
    top: float | None = None,
    width: int = 560,
    height: int = 200,
    empty: str = "Nothing measured in this window yet",
) -> Markup:
    """Lines over the periods ``labels``; ``None`` values are gaps."""
    values = [v for series in lines.values() for v in series if v is not None]
    top = top or nice_top(max(values, default=0.0))
    blank = None if values else empty
    parts = _frame(title, labels, top, fmt, width=width, height=height, empty=blank)
    for name, series in lines.items():
        colour = colours.get(name, "#2563eb")
        run: list[str] = []
        for i, value in enumerate([*series, None]):
            if value is None:
                if len(run) > 1:
                    parts.append(
                        f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" '
                        'stroke-width="2"/>'
                    )
                run = []
                continue
            x, y = _x(i, len(labels), width), _y(value, top, height)
            run.append(f"{x:.1f},{y:.1f}")
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                f"<title>{escape(f'{labels[i]} · {name}: {fmt(value)}')}</title></circle>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated label is escaped above


def columns(
    groups: Mapping[str, Sequence[float | None]],
    labels: Sequence[str],
    *,
    title: str,
    fmt: Formatter,
    colours: Mapping[str, str],
    width: int = 560,
    height: int = 200,
    empty: str = "Nothing in this window yet",
) -> Markup:
    """Columns per period, one per series side by side; ``None`` draws no column."""
    values = [v for series in groups.values() for v in series if v is not None]
    top = nice_top(max(values, default=0.0))
    blank = None if any(values) else empty
    parts = _frame(title, labels, top, fmt, width=width, height=height, empty=blank)
    slot = (width - _PAD_L - _PAD_R) / max(1, len(labels))
    bar = max(1.0, min(28.0, slot * 0.8 / max(1, len(groups))))
    show_values = len(labels) * len(groups) <= 16
    for k, (name, series) in enumerate(groups.items()):
        colour = colours.get(name, "#2563eb")
        for i, value in enumerate(series):
            if value is None:
                continue
            x = _x(i, len(labels), width) - bar * len(groups) / 2 + k * bar
            y = _y(value, top, height)
            base = _y(0, top, height)
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar - 1:.1f}" '
                f'height="{max(0.0, base - y):.1f}" fill="{colour}" rx="1.5">'
                f"<title>{escape(f'{labels[i]} · {name}: {fmt(value)}')}</title></rect>"
            )
            if show_values and value:
                parts.append(
                    f'<text x="{x + bar / 2:.1f}" y="{y - 3:.1f}" class="value" '
                    f'text-anchor="middle">{escape(fmt(value))}</text>'
                )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated label is escaped above
