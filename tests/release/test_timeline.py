"""The timeline picture: well-formed, one bar per span, escaped, deterministic."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

from release.timeline import STATUS_COLOURS, Span, render_svg, write_timeline

SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


SPANS = (
    Span("i-0abc (Green)", "BeforeInstall", at(0), at(1.5), "Succeeded"),
    Span("i-0abc (Green)", "AllowTraffic", at(2), None, "InProgress"),
    Span("i-0def (Blue)", "BlockTraffic", at(3), at(40), "Failed"),
    Span("i-0def (Blue)", "AfterBlockTraffic", at(40), None, "Pending"),
)


def bars(svg: str) -> list[ET.Element]:
    return [rect for rect in ET.fromstring(svg).iter(f"{SVG}rect") if rect.get("class") == "span"]


def test_the_picture_is_well_formed_svg_with_one_bar_per_span() -> None:
    svg = render_svg(SPANS, title="Release d-123")

    root = ET.fromstring(svg)

    assert root.tag == f"{SVG}svg"
    assert [bar.get("data-status") for bar in bars(svg)] == ["Succeeded", "InProgress", "Failed", "Pending"]


def test_each_lane_appears_once_in_the_order_of_its_first_span() -> None:
    svg = render_svg(SPANS, title="t")

    lanes = [group.get("data-lane") for group in ET.fromstring(svg).iter(f"{SVG}g") if group.get("class") == "lane"]

    assert lanes == ["i-0abc (Green)", "i-0def (Blue)"]


def test_bars_are_coloured_by_status() -> None:
    fills = [bar.get("fill") for bar in bars(render_svg(SPANS, title="t"))]

    assert fills == [STATUS_COLOURS[span.status] for span in SPANS]


def test_a_longer_span_gets_a_wider_bar_and_its_duration_is_written() -> None:
    svg = render_svg(SPANS, title="t")

    widths = [float(bar.get("width", "0")) for bar in bars(svg)]

    assert widths[2] > widths[0]
    assert "1.50 s" in svg
    assert "37.0 s" in svg


def test_text_is_escaped() -> None:
    hostile = (Span('lane <"&">', "Hook </text><script>", at(0), at(1), "Succeeded"),)

    svg = render_svg(hostile, title="a & b <c>")

    root = ET.fromstring(svg)
    texts = "".join(root.itertext())
    assert "Hook </text><script>" in texts
    assert "a & b <c>" in texts
    assert "<script>" not in svg


def test_the_output_is_deterministic() -> None:
    assert render_svg(SPANS, title="t") == render_svg(list(SPANS), title="t")


def test_an_open_span_is_drawn_up_to_now() -> None:
    open_only = (Span("i-1 (Green)", "AllowTraffic", at(0), None, "InProgress"),)

    short = float(bars(render_svg(open_only, title="t", now=at(1)))[0].get("width", "0"))
    longer_axis = render_svg((*open_only, Span("i-1 (Green)", "x", at(0), at(10), "Succeeded")), title="t", now=at(5))

    assert short > 100  # one second fills the axis when nothing else is drawn
    widths = [float(bar.get("width", "0")) for bar in bars(longer_axis)]
    assert widths[0] < widths[1]


def test_no_spans_still_gives_a_picture() -> None:
    svg = render_svg((), title="empty")

    assert bars(svg) == []
    assert "no lifecycle events" in svg


def test_write_timeline_creates_the_file_and_its_directory(tmp_path: Path) -> None:
    path = write_timeline(tmp_path / "report" / "timeline.svg", SPANS, title="t")

    assert path.read_text(encoding="utf-8") == render_svg(SPANS, title="t")
