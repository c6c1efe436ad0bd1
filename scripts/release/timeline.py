"""The timeline picture of a release or a rehearsal, as an SVG file and as a Mermaid Gantt chart.

The release tool draws its own phases (bundle, upload, instance boot, the deployment, the switch, the rollback), the
old instances' drain and every instance's CodeDeploy lifecycle events; the rehearsal draws the hooks it ran on this
machine. Both hand `Span`s to `render_svg`. The output is a self-contained SVG (no script, no external font or
stylesheet) so it can be attached to a CI run, opened in a browser or embedded in a page, and it is byte-for-byte
deterministic for a given input (and `now`), so it can be tested and diffed. `mermaid_gantt` gives the same story as
Mermaid text, which GitHub draws inline in a step summary (docs/decisions.md F75).

Layout: a Gantt chart kept compact. Lanes are grouped under section headings (for example "release", "Green",
"Blue"); each lane is one row, its spans side by side on a shared time axis (events of one instance never overlap),
so the picture grows by one row per instance. A span's name is written inside its bar when it fits, and always in
its tooltip; the row ends with the lane's outcome (its failed or running span, or its total). Every duration in the
picture has one format (`format_duration`). A failed release says why under the title.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

__all__ = [
    "STATUSES",
    "STATUS_COLOURS",
    "Span",
    "format_duration",
    "mermaid_gantt",
    "render_svg",
    "svg_height",
    "write_timeline",
]

# The statuses CodeDeploy reports for a lifecycle event (LifecycleEvent.status), minus "Unknown", which the release
# tool maps to "Pending" before drawing.
STATUSES: tuple[str, ...] = ("Succeeded", "Failed", "InProgress", "Skipped", "Pending")
# Colour-blind-safe enough: the failed and succeeded bars also differ in lightness, and every bar carries a
# <title> tooltip, so colour is never the only carrier of the status.
STATUS_COLOURS: dict[str, str] = {
    "Succeeded": "#2e7d32",
    "Failed": "#c62828",
    "InProgress": "#1565c0",
    "Skipped": "#9e9e9e",
    "Pending": "#eeeeee",
}

_MARGIN = 16
_TITLE_HEIGHT = 28
_REASON_HEIGHT = 20
_AXIS_HEIGHT = 26
_LABEL_WIDTH = 220
_CHART_WIDTH = 640
_NOTE_WIDTH = 200
_SECTION_HEIGHT = 22
_ROW_HEIGHT = 22
_BAR_HEIGHT = 16
_LEGEND_HEIGHT = 30
_MIN_BAR_WIDTH = 2.0
# About how wide an 11 px DejaVu Sans character is: a span's name goes inside its bar only when it fits.
_CHAR_WIDTH = 6.4
_FONT = "font-family:'DejaVu Sans',Arial,Helvetica,sans-serif"
# Tick steps a reader can add up at a glance; the first one giving at most `_MAX_TICKS` ticks is used.
_TICK_STEPS: tuple[float, ...] = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)
_MAX_TICKS = 10


@dataclass(frozen=True)
class Span:
    """One stretch of work: a lifecycle event of one instance, or a phase of the release.

    `lane` is the row it is drawn on (e.g. "i-0abc"); `section` groups lanes under a heading (e.g. "Green"; "" for
    none); `end` is None while it runs (or has not started: status "Pending"); `status` is one of `STATUSES`.
    """

    lane: str
    label: str
    start: datetime
    end: datetime | None
    status: str
    section: str = ""


def format_duration(seconds: float) -> str:
    """The picture's one duration format: "0.4 s", "9.5 s", "12 s", "2 min 05 s"."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    return f"{whole} s" if whole < 60 else f"{whole // 60} min {whole % 60:02d} s"


def _sections(spans: Sequence[Span]) -> dict[str, dict[str, list[Span]]]:
    """Sections in the order of their first span, lanes likewise inside each, spans in the order given."""
    sections: dict[str, dict[str, list[Span]]] = {}
    for span in spans:
        sections.setdefault(span.section, {}).setdefault(span.lane, []).append(span)
    return sections


def svg_height(spans: Sequence[Span], *, reason: str | None = None) -> int:
    """The picture's height in pixels: one row per lane, one heading per named section."""
    sections = _sections(spans)
    rows = sum(len(lanes) for lanes in sections.values())
    headings = sum(1 for name in sections if name)
    body = max(rows * _ROW_HEIGHT + headings * _SECTION_HEIGHT, _ROW_HEIGHT)
    return _MARGIN + _TITLE_HEIGHT + (_REASON_HEIGHT if reason else 0) + _AXIS_HEIGHT + body + _LEGEND_HEIGHT + _MARGIN


def render_svg(spans: Sequence[Span], *, title: str, now: datetime | None = None, reason: str | None = None) -> str:
    """Draw `spans` as a self-contained SVG document and return its text.

    An open span (`end` None) is drawn up to `now`, or up to the latest time known from the other spans when `now` is
    None, so the output depends only on the arguments. `reason` (why a release failed) is written under the title.
    All text is XML-escaped. An empty `spans` gives a picture saying so.
    """
    origin = min((span.start for span in spans), default=None)
    horizon = _horizon(spans, now)
    total = max((horizon - origin).total_seconds(), 0.0) if origin is not None and horizon is not None else 0.0
    step = _tick_step(total)
    # Round the axis up to a whole tick so the last bar never touches the edge.
    axis_end = step * max(1, math.ceil(total / step - 1e-9)) if total > 0 else step

    chart_left = _MARGIN + _LABEL_WIDTH
    width = chart_left + _CHART_WIDTH + _NOTE_WIDTH + _MARGIN
    height = svg_height(spans, reason=reason)
    body_top = _MARGIN + _TITLE_HEIGHT + (_REASON_HEIGHT if reason else 0) + _AXIS_HEIGHT
    body_bottom = height - _LEGEND_HEIGHT - _MARGIN

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
    if reason:
        parts.append(
            f'<text class="reason" x="{_MARGIN}" y="{_MARGIN + _TITLE_HEIGHT + 12}" '
            f'style="{_FONT};font-size:12px;font-weight:bold" fill="{STATUS_COLOURS["Failed"]}">'
            f"{escape(reason)}</text>"
        )
    for index in range(round(axis_end / step) + 1):
        x = _num(x_of(index * step))
        parts.append(
            f'<line class="grid" x1="{x}" y1="{body_top - 4}" x2="{x}" y2="{body_bottom}" '
            'stroke="#e0e0e0" stroke-width="1"/>'
            f'<text x="{x}" y="{body_top - 8}" text-anchor="middle" style="{_FONT};font-size:11px" '
            f'fill="#616161">{_tick_label(index * step, step)}</text>'
        )
    if not spans:
        parts.append(
            f'<text x="{chart_left}" y="{body_top + 15}" style="{_FONT};font-size:12px" fill="#616161">'
            "no lifecycle events</text>"
        )

    y = body_top
    row_index = 0
    for section, lanes in _sections(spans).items():
        if section:
            parts.append(
                f'<text class="section" x="{_MARGIN}" y="{y + 16}" style="{_FONT};font-size:13px;font-weight:bold" '
                f'fill="#212121">{escape(section)}</text>'
            )
            y += _SECTION_HEIGHT
        for lane, lane_spans in lanes.items():
            assert origin is not None  # a span exists, so the earliest start does
            band = "#f5f5f5" if row_index % 2 == 0 else "#ffffff"
            parts.append(
                _lane_row(lane, lane_spans, origin=origin, horizon=horizon, y=y, x_of=x_of, band=band, width=width)
            )
            y += _ROW_HEIGHT
            row_index += 1

    parts.append(_legend(_MARGIN, height - _MARGIN - 10))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_timeline(path: Path, spans: Sequence[Span], *, title: str, reason: str | None = None) -> Path:
    """Render `spans` (see `render_svg`) into the file `path`, creating its directory; return `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_svg(spans, title=title, reason=reason), encoding="utf-8")
    return path


def _bounds(span: Span, origin: datetime, horizon: datetime | None) -> tuple[float, float]:
    """A span's start and end in seconds from `origin`; an open running span ends at `horizon`."""
    start_s = (span.start - origin).total_seconds()
    end = span.end if span.end is not None else (horizon if span.status == "InProgress" else span.start)
    end_s = max((end - origin).total_seconds(), start_s) if end is not None else start_s
    return start_s, end_s


def _lane_note(lane_spans: Sequence[Span], origin: datetime, horizon: datetime | None) -> str:
    """How the lane ended: its failed or running span, or its total duration."""
    for span in lane_spans:
        start_s, end_s = _bounds(span, origin, horizon)
        if span.status == "Failed":
            return f"{span.label} failed after {format_duration(end_s - start_s)}"
        if span.status == "InProgress":
            return f"{span.label} running, {format_duration(end_s - start_s)}"
    first = min(_bounds(span, origin, horizon)[0] for span in lane_spans)
    last = max(_bounds(span, origin, horizon)[1] for span in lane_spans)
    return format_duration(last - first)


def _lane_row(
    lane: str,
    lane_spans: Sequence[Span],
    *,
    origin: datetime,
    horizon: datetime | None,
    y: float,
    x_of: Callable[[float], float],
    band: str,
    width: int,
) -> str:
    """One row: the lane's name on the left, its spans' bars on the axis, its outcome after the last bar."""
    parts = [
        f'<g class="lane" data-lane="{_attr(lane)}">'
        f'<rect x="{_MARGIN}" y="{_num(y)}" width="{width - 2 * _MARGIN}" height="{_ROW_HEIGHT}" fill="{band}"/>'
        f'<text x="{_MARGIN + 8}" y="{_num(y + 15)}" style="{_FONT};font-size:12px" fill="#212121">'
        f"{escape(lane)}</text>"
    ]
    bar_y = y + (_ROW_HEIGHT - _BAR_HEIGHT) / 2
    right = 0.0
    for span in lane_spans:
        start_s, end_s = _bounds(span, origin, horizon)
        x1 = x_of(start_s)
        bar_width = max(x_of(end_s) - x1, _MIN_BAR_WIDTH)
        right = max(right, x1 + bar_width)
        colour = STATUS_COLOURS.get(span.status, STATUS_COLOURS["Pending"])
        stroke = ' stroke="#9e9e9e" stroke-width="1"' if span.status == "Pending" else ""
        tooltip = f"{span.label}: {span.status}, {format_duration(end_s - start_s)}"
        parts.append(
            f'<rect class="span" data-status="{_attr(span.status)}" x="{_num(x1)}" y="{_num(bar_y)}" '
            f'width="{_num(bar_width)}" height="{_BAR_HEIGHT}" rx="2" fill="{colour}"{stroke}>'
            f"<title>{escape(tooltip)}</title></rect>"
        )
        if bar_width >= len(span.label) * _CHAR_WIDTH + 6:
            ink = "#212121" if span.status in ("Skipped", "Pending") else "#ffffff"
            parts.append(
                f'<text x="{_num(x1 + 3)}" y="{_num(y + 15)}" style="{_FONT};font-size:11px" fill="{ink}">'
                f"{escape(span.label)}</text>"
            )
    parts.append(
        f'<text class="note" x="{_num(right + 6)}" y="{_num(y + 15)}" style="{_FONT};font-size:11px" '
        f'fill="#424242">{escape(_lane_note(lane_spans, origin, horizon))}</text></g>'
    )
    return "".join(parts)


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
    # Sub-second steps need the decimal; whole steps read as the durations do.
    return f"{seconds:.1f} s" if step < 1 else format_duration(seconds)


def _num(value: float) -> str:
    """A coordinate with fixed precision, so the output is deterministic and compact."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text if text != "-0" else "0"


def _attr(text: str) -> str:
    return escape(text, {'"': "&quot;", "'": "&apos;"})


# -- Mermaid -----------------------------------------------------------------------------------------------------------

# Statement keywords of Mermaid's Gantt lexer (case-insensitive, matched at a line's start before a task's name).
_MERMAID_KEYWORDS = (
    "gantt",
    "dateformat",
    "inclusiveenddates",
    "topaxis",
    "axisformat",
    "tickinterval",
    "includes",
    "excludes",
    "todaymarker",
    "weekday",
    "title",
    "accdescription",
    "acctitle",
    "accdescr",
    "section",
    "click",
    "href",
    "call",
)
_MERMAID_TAGS = {"Succeeded": "done", "Failed": "crit", "InProgress": "active"}


def mermaid_text(text: str) -> str:
    """`text` made safe as a Mermaid Gantt task, section or title name (docs/decisions.md F75).

    `#`, `:`, `;` and `%` (comments, entity codes, the name/data separator) and line breaks become spaces; a name that
    would read as a statement keyword or start with a digit (a date) is prefixed with "- ".
    """
    cleaned = " ".join(re.sub(r"[#:;%\r\n]", " ", text).split()) or "-"
    lowered = cleaned.lower()
    if cleaned[0].isdigit() or any(lowered.startswith(keyword) for keyword in _MERMAID_KEYWORDS):
        cleaned = f"- {cleaned}"
    return cleaned


def mermaid_gantt(spans: Sequence[Span], *, title: str, now: datetime | None = None) -> str:
    """The spans as a Mermaid `gantt` chart: one task per lane (its whole stretch), sections as in the picture.

    One task per lane keeps the chart as compact as the picture (Mermaid gives every task its own row). A lane's tag
    says how it ended (done, crit for a failure, active while running); times are UTC, lengths whole seconds (at
    least 1, so every bar is drawn). Spans that never started (Pending) are left out.
    """
    horizon = _horizon(spans, now)
    lines = [
        "gantt",
        f"    title {mermaid_text(title)}",
        "    dateFormat YYYY-MM-DD HH:mm:ss",
        "    axisFormat %H:%M:%S",
    ]
    for section, lanes in _sections([span for span in spans if span.status != "Pending"]).items():
        lines.append(f"    section {mermaid_text(section or 'release')}")
        for lane, lane_spans in lanes.items():
            start = min(span.start for span in lane_spans)
            end = max(span.start.timestamp() + _open_seconds(span, horizon) for span in lane_spans)
            statuses = {span.status for span in lane_spans}
            status = next((s for s in ("Failed", "InProgress", "Succeeded") if s in statuses), "Skipped")
            tag = _MERMAID_TAGS.get(status)
            failed = next((span.label for span in lane_spans if span.status == "Failed"), None)
            name = lane if failed is None else f"{lane} failed" if failed == lane else f"{lane} {failed} failed"
            seconds = max(1, round(end - start.timestamp()))
            data = ", ".join([*([tag] if tag else []), start.strftime("%Y-%m-%d %H:%M:%S"), f"{seconds}s"])
            lines.append(f"    {mermaid_text(name)} :{data}")
    return "\n".join(lines) + "\n"


def _open_seconds(span: Span, horizon: datetime | None) -> float:
    end = span.end or (horizon if span.status == "InProgress" else None) or span.start
    return max((end - span.start).total_seconds(), 0.0)
