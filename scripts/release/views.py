"""Two ways to show a deployment in progress.

`LineView` writes one timestamped line per change (an event started or ended, the deployment changed status): it
never writes a control character, so CI logs stay readable and greppable. `LiveView` redraws a small table in place
on an interactive terminal. `make_view` picks one from whether the stream is a TTY.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TextIO

from release.follow import Snapshot, Target, format_seconds

Clock = Callable[[], datetime]


def _stamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def _overview(snapshot: Snapshot) -> str:
    overview = snapshot.deployment.get("deploymentOverview") or {}
    counts = ", ".join(f"{key} {value}" for key, value in overview.items() if value)
    return f"deployment {snapshot.deployment.get('deploymentId', '?')}: {snapshot.status}" + (
        f" ({counts})" if counts else ""
    )


class LineView:
    """Plain, timestamped lines on every change; no cursor movement, no colour."""

    def __init__(self, stream: TextIO, clock: Clock) -> None:
        """Write to `stream`, stamping lines with `clock()` (UTC)."""
        self._stream = stream
        self._clock = clock
        self._seen: dict[tuple[str, str], str] = {}
        self._status = ""

    def _write(self, text: str) -> None:
        self._stream.write(f"{_stamp(self._clock())}  {text}\n")
        self._stream.flush()

    def note(self, text: str) -> None:
        """Write a progress line."""
        self._write(text)

    def update(self, snapshot: Snapshot) -> None:
        """Write a line for each event that started or finished, and for a new deployment status."""
        line = _overview(snapshot)
        if line != self._status:
            self._status = line
            self._write(line)
        for target in snapshot.targets:
            for event in target.events:
                key = (target.target_id, event.name)
                if self._seen.get(key) == event.status:
                    continue
                self._seen[key] = event.status
                who = f"{target.label or '?':5} {target.target_id}"
                if event.status == "InProgress":
                    self._write(f"{who}  {event.name} started")
                elif event.status in ("Succeeded", "Failed"):
                    self._write(f"{who}  {event.name} {event.status.lower()} in {format_seconds(event.seconds)}")
                elif event.status == "Skipped":
                    self._write(f"{who}  {event.name} skipped")

    def close(self) -> None:
        """Nothing to tidy."""


class LiveView:
    """A table redrawn in place: one row per instance with its current event and how long it has run."""

    def __init__(self, stream: TextIO, clock: Clock) -> None:
        """Draw on `stream` (a terminal)."""
        self._stream = stream
        self._clock = clock
        self._drawn = 0
        self._last: Snapshot | None = None

    def _erase(self) -> None:
        if self._drawn:
            # Cursor to the start of the first drawn line, then clear to the end of the screen.
            self._stream.write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0

    def _row(self, target: Target) -> str:
        current = next((e for e in target.events if e.status == "InProgress"), None)
        done = sum(1 for e in target.events if e.status in ("Succeeded", "Skipped"))
        if current is not None and current.start is not None:
            running = format_seconds((self._clock() - current.start).total_seconds())
            doing = f"{current.name} ({running})"
        else:
            failed = target.failed_events
            doing = f"{failed[0].name} FAILED" if failed else target.status
        return f"  {target.label or '?':5}  {target.target_id:20}  {done:2}/{len(target.events):<2}  {doing}"

    def _draw(self) -> None:
        if self._last is None:
            return
        lines = [_overview(self._last), *(self._row(t) for t in self._last.targets)]
        self._stream.write("\n".join(lines) + "\n")
        self._drawn = len(lines)
        self._stream.flush()

    def note(self, text: str) -> None:
        """Print a line above the table."""
        self._erase()
        self._stream.write(f"{_stamp(self._clock())}  {text}\n")
        self._draw()

    def update(self, snapshot: Snapshot) -> None:
        """Redraw the table."""
        self._last = snapshot
        self._erase()
        self._draw()

    def close(self) -> None:
        """Leave the last table on screen."""
        self._stream.flush()


def make_view(stream: TextIO, clock: Clock, *, live: bool | None = None) -> LineView | LiveView:
    """`LiveView` on an interactive terminal (unless `live` says otherwise), `LineView` elsewhere."""
    if live is None:
        live = stream.isatty()
    return LiveView(stream, clock) if live else LineView(stream, clock)
