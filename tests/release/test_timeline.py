"""The timeline picture: well-formed, one bar per span, escaped, deterministic."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

from release.timeline import (
    STATUS_COLOURS,
    Span,
    format_duration,
    mermaid_gantt,
    render_svg,
    svg_height,
    write_timeline,
)

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
    assert "BeforeInstall: Succeeded, 1.5 s" in svg
    assert "BlockTraffic failed after 37 s" in svg


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


# --- compact layout, one duration format, the reason, Mermaid ------------------------------------------------------

GREEN = ("ApplicationStop", "DownloadBundle", "BeforeInstall", "Install", "AfterInstall", "ApplicationStart")
GREEN += ("ValidateService", "BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic")
BLUE = ("BeforeBlockTraffic", "BlockTraffic", "AfterBlockTraffic")


def _release_of(green: int, blue: int) -> list[Span]:
    """A release's phases plus `green` instances with 10 events each and `blue` with 3, all succeeded."""
    phases = [
        Span("bundle and upload", "bundle", at(0), at(2), "Succeeded", "release"),
        Span("instance boot", "scale-up", at(2), at(100), "Succeeded", "release"),
        Span("deployment", "deployment", at(100), at(400), "Succeeded", "release"),
        Span("switch", "switch", at(400), at(402), "Succeeded", "release"),
    ]
    events = [
        Span(f"i-g{n}", name, at(100 + 10 * i), at(110 + 10 * i), "Succeeded", "Green")
        for n in range(green)
        for i, name in enumerate(GREEN)
    ]
    events += [
        Span(f"i-b{n}", name, at(300 + 20 * i), at(320 + 20 * i), "Succeeded", "Blue")
        for n in range(blue)
        for i, name in enumerate(BLUE)
    ]
    return phases + events


def test_an_eight_instance_release_is_drawn_in_a_picture_446_pixels_tall() -> None:
    # Given an 8-instance release (4 Green with 10 events, 4 Blue with 3: 1 452 px when each event had its own row)
    spans = _release_of(4, 4)
    # When drawn
    root = ET.fromstring(render_svg(spans, title="t"))
    # Then every event still has its bar, but each instance takes one row: 446 px
    assert len(bars(render_svg(spans, title="t"))) == len(spans)
    assert root.get("height") == "446" == str(svg_height(spans))


def test_the_height_grows_by_one_row_per_instance() -> None:
    assert svg_height(_release_of(5, 4)) - svg_height(_release_of(4, 4)) == 22
    assert svg_height(_release_of(16, 16)) < 1000  # 32 instances; 5 460 px with a row per event


def test_sections_head_their_lanes_once() -> None:
    svg = render_svg(_release_of(2, 1), title="t")

    sections = [text.text for text in ET.fromstring(svg).iter(f"{SVG}text") if text.get("class") == "section"]

    assert sections == ["release", "Green", "Blue"]


DURATION = re.compile(r"^(\d+\.\d s|\d+ s|\d+ min \d\d s)$")


def test_every_duration_in_the_picture_has_the_one_format() -> None:
    # Given spans from a tenth of a second to minutes, drawn on an axis of minutes
    spans = [
        Span("a", "short", at(0), at(0.42), "Succeeded"),
        Span("b", "medium", at(0), at(12.4), "Succeeded"),
        Span("c", "long", at(0), at(185), "Failed"),
    ]
    root = ET.fromstring(render_svg(spans, title="t"))
    # When reading every duration it writes (tooltips, notes, axis ticks)
    tooltips = [t.text.rsplit(", ", 1)[1] for t in root.iter(f"{SVG}title") if t.text and ", " in t.text]
    notes = [t.text.rsplit(" after ", 1)[-1] for t in root.iter(f"{SVG}text") if t.get("class") == "note"]
    ticks = [t.text for t in root.iter(f"{SVG}text") if t.get("text-anchor") == "middle"]
    # Then each reads the same way
    assert tooltips == ["0.4 s", "12 s", "3 min 05 s"]
    assert all(DURATION.match(text or "") for text in tooltips + notes + ticks), (notes, ticks)
    assert format_duration(9.96) == "10.0 s" and format_duration(59.6) == "1 min 00 s"


def test_a_failed_release_says_why_under_the_title() -> None:
    svg = render_svg(SPANS, title="t", reason="deployment d-1 failed; traffic stays on slot-a.")

    reason = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text") if t.get("class") == "reason"]

    assert reason == ["deployment d-1 failed; traffic stays on slot-a."]


# The Mermaid Gantt grammar GitHub's renderer applies (docs/decisions.md F75): a task is `name :data`, the name free of
# `#`, `:`, `;` (and, to stay clear of comments, `%`), not starting with a statement keyword or a digit; the data is
# tags, a start in dateFormat and a positive length.
KEYWORDS = ("gantt", "dateformat", "axisformat", "title", "section", "click", "href", "call", "excludes", "includes")
TASK = re.compile(r"^    (?P<name>[^#:;%\n]+?) :(?P<data>[^#;\n]+)$")
LENGTH = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?:ms|[Mdhmswy])$")


def assert_valid_gantt(text: str) -> list[str]:
    """Check `text` against the grammar above; return the task names."""
    lines = text.rstrip("\n").split("\n")
    assert lines[0] == "gantt"
    assert lines[2] == "    dateFormat YYYY-MM-DD HH:mm:ss"
    names = []
    for line in lines[1:]:
        statement = line.strip().split(" ", 1)[0].lower()
        if statement in ("title", "section"):
            assert not set(line) & set("#;%"), line
            continue
        if statement in ("dateformat", "axisformat"):
            continue
        task = TASK.match(line)
        assert task is not None, line
        name = task["name"]
        assert not name[0].isdigit() and not name.lower().startswith(KEYWORDS), name
        *tags, start, length = (part.strip() for part in task["data"].split(","))
        assert set(tags) <= {"done", "active", "crit", "milestone"}, tags
        datetime.strptime(start, "%Y-%m-%d %H:%M:%S")
        size = LENGTH.match(length)
        assert size is not None and float(size["n"]) > 0, length
        names.append(name)
    return names


def test_the_mermaid_chart_is_valid_with_one_task_per_lane() -> None:
    names = assert_valid_gantt(mermaid_gantt(_release_of(2, 1), title="app d-1 (released)"))

    assert names == ["bundle and upload", "instance boot", "deployment", "switch", "i-g0", "i-g1", "i-b0"]


def test_the_mermaid_chart_escapes_hostile_names_and_keeps_lengths_positive() -> None:
    # Given names with the grammar's separators and keywords, and a zero-length span
    hostile = [
        Span("section: a;b #c", "x", at(0), at(0), "Succeeded", "Green: #1"),
        Span("2024-01-01 lane", "AfterInstall", at(0), at(3), "Failed", "title;x"),
        Span("50%", "y", at(1), None, "InProgress"),
    ]
    # When written as Mermaid
    text = mermaid_gantt(hostile, title="a # b ; c % d", now=at(5))
    # Then it is valid, every length is at least a second, and the failure is named
    names = assert_valid_gantt(text)
    assert names == ["- section a b c", "- 2024-01-01 lane AfterInstall failed", "- 50"]
    assert ":crit, " in text and ":active, " in text
