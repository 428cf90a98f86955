"""Small server-rendered SVG charts: a time series and horizontal bars.

The console is served offline with no JavaScript library, so charts are drawn here as inline
SVG. Every label is escaped; the markup is returned as :class:`markupsafe.Markup` so the
templates insert it as is.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime

from markupsafe import Markup, escape

__all__ = ["PALETTE", "STATUS_COLOURS", "bars", "colour_for", "series"]

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777")
"""Line and bar colours, in order (colour-blind friendly enough for a few series)."""

STATUS_COLOURS = {
    "success": "#16a34a",
    "error": "#dc2626",
    "max_recovery_attempts_exceeded": "#7f1d1d",
    "cancelled": "#6b7280",
    "pending": "#2563eb",
    "enqueued": "#60a5fa",
    "delayed": "#a78bfa",
    "posted": "#16a34a",
    "held": "#d97706",
    "rejected": "#dc2626",
}
"""Run and posting statuses keep one colour on every chart (green for success, red for errors)."""


def colour_for(name: str, index: int) -> str:
    """A status's own colour, else the palette's ``index``-th."""
    return STATUS_COLOURS.get(name.lower(), PALETTE[index % len(PALETTE)])


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.2f}"


def series(
    lines: Mapping[str, Sequence[float]],
    minutes: Sequence[datetime],
    *,
    title: str,
    width: int = 560,
    height: int = 160,
) -> Markup:
    """A line chart of one or more per-minute series sharing the x axis ``minutes``."""
    pad_l, pad_r, pad_t, pad_b = 44, 10, 10, 22
    inner_w, inner_h = width - pad_l - pad_r, height - pad_t - pad_b
    n = max(1, len(minutes) - 1)
    top = max([1.0, *(max(v, default=0) for v in lines.values())])
    parts = [
        (
            f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        ),
        f"<title>{escape(title)}</title>",
    ]
    for frac in (0.0, 0.5, 1.0):
        y = pad_t + inner_h * (1 - frac)
        parts.append(
            f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{pad_l - 4}" y="{y + 4:.1f}" class="axis" text-anchor="end">'
            f"{_fmt(top * frac)}</text>"
        )
    if minutes:
        ticks = ((0, "start"), (len(minutes) // 2, "middle"), (len(minutes) - 1, "end"))
        for i, anchor in ticks:
            x = pad_l + inner_w * i / n
            parts.append(
                f'<text x="{x:.1f}" y="{height - 6}" class="axis" text-anchor="{anchor}">'
                f"{minutes[i]:%H:%M}</text>"
            )
    for index, (name, values) in enumerate(lines.items()):
        colour = colour_for(name, index)
        points = " ".join(
            f"{pad_l + inner_w * i / n:.1f},{pad_t + inner_h * (1 - v / top):.1f}"
            for i, v in enumerate(values)
        )
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.8">'
            f"<title>{escape(name)}</title></polyline>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated label is escaped above


def bars(items: Sequence[tuple[str, float]], *, title: str, width: int = 360) -> Markup:
    """Horizontal bars, one per ``(label, value)``, longest value full width."""
    row, label_w = 22, 150
    height = max(row, row * len(items)) + 4
    top = max([1.0, *(v for _, v in items)])
    parts = [
        (
            f'<svg class="chart bars" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        ),
        f"<title>{escape(title)}</title>",
    ]
    if not items:
        parts.append('<text x="0" y="15" class="axis">nothing yet</text>')
    for i, (label, value) in enumerate(items):
        colour = colour_for(label, i)
        y = 2 + i * row
        w = (width - label_w - 60) * value / top
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" class="label" text-anchor="end">'
            f"{escape(label[:22])}</text>"
            f'<rect x="{label_w}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row - 8}" '
            f'fill="{colour}" rx="2"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 14}" class="value">{_fmt(value)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated label is escaped above
