"""The bake window's record (`bluegreen.bake.Window.parse`) is total: any bytes are either a window every reader can
act on and print (aware UTC times within range, a known state, printable text) or `WindowUnreadable`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bluegreen import bake

GOOD: dict[str, Any] = {
    "release_id": "r-1",
    "deployment_id": "d-1",
    "old_slot": "slot-b",
    "new_slot": "slot-a",
    "opened": "2026-01-01T12:00:00+00:00",
    "deadline": "2026-01-01T12:30:00+00:00",
    "state": "open",
    "reason": "",
    "requested_by": "",
    "requested_at": None,
}


def record(**changes: Any) -> bytes:
    """A stored record: `GOOD` with `changes` (a value of `...` drops the field)."""
    return json.dumps({key: value for key, value in {**GOOD, **changes}.items() if value is not ...}).encode()


# Bodies that are not a window record; `deployment_id` is "d-1" wherever one is given.
UNREADABLE: dict[str, bytes] = {
    "not JSON": b"{not json",
    "empty": b"",
    "not UTF-8": b"\xff\xfe\x00{",
    "null": b"null",
    "array": b"[1, 2]",
    "string": b'"open"',
    "number": b"42",
    "boolean": b"true",
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
    "no deadline": record(deadline=...),
    "no state": record(state=...),
    "deadline a number": record(deadline=1_700_000_000),
    "deadline not a time": record(deadline="tomorrow"),
    "deadline without time zone": record(deadline="2026-01-01T12:30:00"),
    "opened without time zone": record(opened="2026-01-01T12:00:00"),
    "requested_at without time zone": record(state="rollback-requested", requested_at="2026-01-01T12:10:00"),
    "deadline year 1, +01:00": record(deadline="0001-01-01T00:00:00+01:00"),
    "deadline year 9999, -01:00": record(deadline="9999-12-31T23:59:59-01:00"),
    "requested_at year 9999, -01:00": record(reason="x", requested_by="me", requested_at="9999-12-31T23:59:59-01:00"),
    "unknown state": record(state="exploded"),
    "state an array": record(state=["open"]),
    "slots null": record(old_slot=None, new_slot=None),
    "reason an object": record(reason={"a": 1}),
    "slot with a control character": record(new_slot="slot-a\x1b[2J"),
}


@pytest.mark.parametrize("body", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_a_body_that_is_not_a_window_record_is_unreadable_never_another_error(body: bytes) -> None:
    # Given bytes that are not a window record; When parsed; Then the one outcome is WindowUnreadable, with a reason
    with pytest.raises(bake.WindowUnreadable) as raised:
        bake.Window.parse(body, '"etag"')
    assert raised.value.why


def test_times_with_an_offset_are_read_as_utc() -> None:
    # Given a record whose times carry +02:00
    body = record(opened="2026-01-01T14:00:00+02:00", deadline="2026-01-01T14:30:00+02:00")
    # When parsed
    window = bake.Window.parse(body, '"etag"')
    # Then they are the same instants in UTC, so arithmetic with an aware clock works
    assert window.deadline == datetime(2026, 1, 1, 12, 30, tzinfo=UTC) and window.deadline.tzinfo is UTC


def test_control_characters_in_free_text_are_escaped_and_long_text_is_cut() -> None:
    # Given a reason with ANSI escapes and CR/LF, and a huge requested_by
    body = record(reason="\x1b[2J\x1b[31mred\r\nfake line", requested_by="x" * 1_000_000)
    # When parsed
    window = bake.Window.parse(body, '"etag"')
    # Then the text is printable and bounded
    assert window.reason == "\\x1b[2J\\x1b[31mred\\r\\nfake line"
    assert window.requested_by.isprintable() and len(window.requested_by) == bake.MAX_TEXT


def test_a_window_written_by_the_tool_reads_back_the_same() -> None:
    # Given a window as the tool writes it
    window = bake.Window.parse(record(state="rolled-back", reason="alarm", requested_at="2026-01-01T12:10:00Z"), None)
    # When stored and read again; Then nothing changed
    assert bake.Window.parse(window.to_json(), None) == window


# The defect's examples, for the tests through each reader (status, the finisher, the release tool).
EXAMPLES: dict[str, bytes] = {
    name: UNREADABLE[name]
    for name in (
        "null",
        "array",
        "string",
        "number",
        "boolean",
        "deep nesting",
        "deadline without time zone",
        "deadline year 1, +01:00",
        "deadline year 9999, -01:00",
        "requested_at year 9999, -01:00",
        "unknown state",
    )
}
