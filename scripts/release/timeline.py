"""The timeline picture of a release or a rehearsal: one lane per instance, one bar per lifecycle event.

The release tool draws it from CodeDeploy's per-instance lifecycle events (`BatchGetDeploymentTargets`), the rehearsal
from the hooks it ran on this machine; both hand `Span`s to `render_svg`. The output is a self-contained SVG (no
script, no external font or stylesheet) so it can be attached to a CI run, opened in a browser or embedded in a
GitHub step summary, and it is byte-for-byte deterministic for a given input (and `now`), so it can be tested and
diffed.

Layout: a Gantt chart. Each lane (for example "i-0abc (Green)") has a header row and one row per span under it, so a
short event's label never collides with its neighbour's; the bar sits on a shared time axis in seconds from the
earliest start, its duration is written next to it, and its colour says its status.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

__all__ = ["STATUSES", "STATUS_COLOURS", "Span", "render_svg", "write_timeline"]

# The statuses CodeDeploy reports for a lifecycle event (LifecycleEvent.status), minus "Unknown", which the release
# tool maps to "Pending" before drawing.
STATUSES: tuple[str, ...] = ("Succeeded", "Failed", "InProgress", "Skipped", "Pending")
# Colour-blind-safe enough: the failed and succeeded bars also differ in lightness, and every bar carries a
# <title> tooltip and a duration text, so colour is never the only carrier of the status.
STATUS_COLOURS: dict[str, str] = {
    "Succeeded": "#2e7d32",
    "Failed": "#c62828",
    "InProgress": "#1565c0",
    "Skipped": "#9e9e9e",
    "Pending": "#eeeeee",
}

_MARGIN = 16
_TITLE_HEIGHT = 28
_AXIS_HEIGHT = 26
_LABEL_WIDTH = 280
_CHART_WIDTH = 600
_DURATION_WIDTH = 90
_LANE_HEADER_HEIGHT = 24
_ROW_HEIGHT = 22
_BAR_HEIGHT = 14
_LEGEND_HEIGHT = 30
_MIN_BAR_WIDTH = 2.0
_FONT = "font-family:'DejaVu Sans',Arial,Helvetica,sans-serif"
# Tick steps a reader can add up at a glance; the first one giving at most `_MAX_TICKS` ticks is used.
_TICK_STEPS: tuple[float, ...] = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)
_MAX_TICKS = 10


@dataclass(frozen=True)
class Span:
    """One lifecycle event of one instance.

    `lane` groups spans (one lane per instance, e.g. "i-0abc (Green)"); `end` is None while the event runs (or has
    not started: status "Pending"); `status` is one of `STATUSES`.
    """

    lane: str
    label: str
    start: datetime
    end: datetime | None
    status: str


def render_svg(spans: Sequence[Span], *, title: str, now: datetime | None = None) -> str:
    """Draw `spans` as a self-contained SVG document and return its text.

    Lanes appear in the order of their first span, spans in the order given. An open span (`end` None) is drawn up to
    `now`, or up to the latest time known from the other spans when `now` is None, so the output depends only on the
    arguments. All text is XML-escaped. An empty `spans` gives a picture saying so.
    """
    lanes: dict[str, list[Span]] = {}
    for span in spans:
        lanes.setdefault(span.lane, []).append(span)

    origin = min((span.start for span in spans), default=None)
    horizon = _horizon(spans, now)
    total = max((horizon - origin).total_seconds(), 0.0) if origin is not None and horizon is not None else 0.0
    step = _tick_step(total)
    # Round the axis up to a whole tick so the last bar never touches the edge.
    axis_end = step * max(1, math.ceil(total / step - 1e-9)) if total > 0 else step

    chart_left = _MARGIN + _LABEL_WIDTH
    width = chart_left + _CHART_WIDTH + _DURATION_WIDTH + _MARGIN
    rows_height = sum(_LANE_HEADER_HEIGHT + _ROW_HEIGHT * len(lane_spans) for lane_spans in lanes.values())
    body_top = _MARGIN + _TITLE_HEIGHT + _AXIS_HEIGHT
    body_height = max(rows_height, _ROW_HEIGHT)
    height = body_top + body_height + _LEGEND_HEIGHT + _MARGIN

    def x_of(seconds: float) -> float:
        return chart_left + _CHART_WIDTH * (seconds / axis_end)

    parts: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_attr(title)}">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{_MARGIN}" y="{_MARGIN + 18}" style="{_FONT};font-size:16px;font-weight:bold" '
        f'fill="#212121">{escape(title)}</text>',
    ]

    # Time axis: grid lines through the whole body, labels above it.
    tick_count = round(axis_end / step)
    for index in range(tick_count + 1):
        seconds = index * step
        x = _num(x_of(seconds))
        parts.append(
            f'<line class="grid" x1="{x}" y1="{body_top - 4}" x2="{x}" y2="{body_top + body_height}" '
            'stroke="#e0e0e0" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{x}" y="{body_top - 8}" text-anchor="middle" style="{_FONT};font-size:11px" '
            f'fill="#616161">{_tick_label(seconds, step)}</text>'
        )

    if not spans:
        parts.append(
            f'<text x="{chart_left}" y="{body_top + 15}" style="{_FONT};font-size:12px" fill="#616161">'
            "no lifecycle events</text>"
        )

    y = body_top
    for lane_index, (lane, lane_spans) in enumerate(lanes.items()):
        lane_height = _LANE_HEADER_HEIGHT + _ROW_HEIGHT * len(lane_spans)
        band = "#f5f5f5" if lane_index % 2 == 0 else "#ffffff"
        parts.append(
            f'<g class="lane" data-lane="{_attr(lane)}">'
            f'<rect x="{_MARGIN}" y="{y}" width="{width - 2 * _MARGIN}" height="{lane_height}" fill="{band}"/>'
            f'<text x="{_MARGIN + 4}" y="{y + 16}" style="{_FONT};font-size:13px;font-weight:bold" '
            f'fill="#212121">{escape(lane)}</text>'
        )
        y += _LANE_HEADER_HEIGHT
        for span in lane_spans:
            parts.append(_span_row(span, origin, horizon, y, x_of))
            y += _ROW_HEIGHT
        parts.append("</g>")

    parts.append(_legend(_MARGIN, body_top + body_height + 20))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_timeline(path: Path, spans: Sequence[Span], *, title: str) -> Path:
    """Render `spans` (see `render_svg`) into the file `path`, creating its directory; return `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_svg(spans, title=title), encoding="utf-8")
    return path


def _span_row(
    span: Span,
    origin: datetime | None,
    horizon: datetime | None,
    y: float,
    x_of: Callable[[float], float],
) -> str:
    """One row: the span's label on the left, its bar on the axis, its duration (or status) after the bar."""
    assert origin is not None  # a span exists, so the earliest start does
    start_s = (span.start - origin).total_seconds()
    end = span.end if span.end is not None else (horizon if span.status == "InProgress" else span.start)
    end_s = max((end - origin).total_seconds(), start_s) if end is not None else start_s
    duration = end_s - start_s
    x1, x2 = x_of(start_s), x_of(end_s)
    bar_width = max(x2 - x1, _MIN_BAR_WIDTH)
    colour = STATUS_COLOURS.get(span.status, STATUS_COLOURS["Pending"])
    stroke = ' stroke="#9e9e9e" stroke-width="1"' if span.status == "Pending" else ""
    if span.status in ("Skipped", "Pending"):
        note = span.status.lower()
    elif span.end is None:
        note = f"{_duration(duration)}, running"
    else:
        note = _duration(duration)
    tooltip = f"{span.label}: {span.status}, {_duration(duration)}"
    bar_y = y + (_ROW_HEIGHT - _BAR_HEIGHT) / 2
    return (
        f'<text x="{_MARGIN + 16}" y="{_num(y + 15)}" style="{_FONT};font-size:12px" fill="#212121">'
        f"{escape(span.label)}</text>"
        f'<rect class="span" data-status="{_attr(span.status)}" x="{_num(x1)}" y="{_num(bar_y)}" '
        f'width="{_num(bar_width)}" height="{_BAR_HEIGHT}" rx="2" fill="{colour}"{stroke}>'
        f"<title>{escape(tooltip)}</title></rect>"
        f'<text x="{_num(x1 + bar_width + 6)}" y="{_num(y + 15)}" style="{_FONT};font-size:11px" '
        f'fill="#424242">{escape(note)}</text>'
    )


def _legend(x: float, y: float) -> str:
    items = []
    for status in STATUSES:
        stroke = ' stroke="#9e9e9e" stroke-width="1"' if status == "Pending" else ""
        items.append(
            f'<rect x="{_num(x)}" y="{_num(y - 10)}" width="12" height="12" rx="2" '
            f'fill="{STATUS_COLOURS[status]}"{stroke}/>'
            f'<text x="{_num(x + 16)}" y="{_num(y)}" style="{_FONT};font-size:11px" fill="#424242">{status}</text>'
        )
        x += 110
    return '<g class="legend">' + "".join(items) + "</g>"


def _horizon(spans: Sequence[Span], now: datetime | None) -> datetime | None:
    """Where open spans end: `now` when given, else the latest start or end among the spans."""
    if now is not None:
        return now
    times = [span.start for span in spans] + [span.end for span in spans if span.end is not None]
    return max(times, default=None)


def _tick_step(total_seconds: float) -> float:
    for step in _TICK_STEPS:
        if total_seconds / step <= _MAX_TICKS:
            return step
    # Longer than 20 hours: whole hours, still at most `_MAX_TICKS` ticks.
    return 3600.0 * math.ceil(total_seconds / 3600 / _MAX_TICKS)


def _tick_label(seconds: float, step: float) -> str:
    if step < 1:
        return f"{seconds:.1f} s"
    if step >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{round(seconds)} s"


def _duration(seconds: float) -> str:
    """A human duration: "0.42 s", "12.3 s", "2 min 05 s"."""
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def _num(value: float) -> str:
    """A coordinate with fixed precision, so the output is deterministic and compact."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text if text != "-0" else "0"


def _attr(text: str) -> str:
    return escape(text, {'"': "&quot;", "'": "&apos;"})
