"""Two ways to show a release in progress, both answering "how long is left".

`LineView` writes one timestamped line per change (an event started or ended, the deployment changed status, a slot
filled), never a control character, so CI logs stay readable and greppable; during a long wait (instance boot,
BlockTraffic) it writes a `still waiting:` / `still running:` line whenever it has been quiet for `QUIET_SECONDS`,
so no gap between two lines exceeds `PROGRESS_SECONDS` while the polls come at most `POLL_SECONDS` apart.
`LiveView` redraws a small table in place on an interactive terminal through `rich` (which measures what it drew,
so a narrow terminal that wraps or crops a line leaves nothing stale behind); lines it prints scroll above the
table, and the table goes away when the view closes, leaving the report's summary as the one final word.

Both show the release's elapsed time, the running phase against the release-time model's figure for it and its
deadline (`release.estimate`), once the release has told them (`expect`). `make_view` picks one: `--live`/`--plain`
win, then `live_wanted` (CI set, or TERM=dumb, forces plain), then whether the stream is a terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from release.estimate import Expectation, current_phase, modelled_left
from release.follow import LifecycleEvent, Snapshot, Target, format_seconds
from release.record import ReleaseRecord

Clock = Callable[[], datetime]

# The plain view's promise: during a wait no two lines are further apart than this...
PROGRESS_SECONDS = 30.0
# ...kept by writing a progress line once the view has been quiet this long, since the waits poll at most
# `POLL_SECONDS` apart (Auto Scaling every 10 s, CodeDeploy every 5 s +-20 %; a throttled poll says so itself).
POLL_SECONDS = 10.0
QUIET_SECONDS = PROGRESS_SECONDS - POLL_SECONDS
# Values of CI that do not mean "in CI" (CI=false, CI=0 or empty): anything else does, as CI services set CI=true.
_NOT_CI = frozenset({"", "0", "false", "no"})
_STATUS_STYLES = {"Succeeded": "green", "Failed": "bold red", "InProgress": "cyan", "Stopped": "yellow"}


def live_wanted(flag: bool | None, env: Mapping[str, str]) -> bool | None:
    """Whether to draw the live table: `flag` (--live/--plain) wins; CI set or TERM=dumb means plain; else undecided.

    None leaves the choice to `make_view` (a terminal gets the live table). CI services set CI=true, and a run in
    CI must log greppable lines even when the runner gives it a pseudo-terminal.
    """
    if flag is not None:
        return flag
    if env.get("CI", "").strip().lower() not in _NOT_CI or env.get("TERM") == "dumb":
        return False
    return None


def colour_wanted(env: Mapping[str, str]) -> bool:
    """False when NO_COLOR is set to anything but the empty string (no-color.org); only the live view has colour."""
    return not env.get("NO_COLOR")


def _stamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def deployment_line(snapshot: Snapshot) -> str:
    """`deployment d-1: InProgress (Succeeded 1)`, or `rollback deployment d-2 (of d-1): Succeeded` for a rollback.

    A rollback is the deployment CodeDeploy created itself (creator codeDeployRollback, docs/decisions.md F74): it
    is named so, so that its "Succeeded" is never read as the release's outcome.
    """
    info = snapshot.deployment
    kind = "deployment"
    if info.get("creator") == "codeDeployRollback":
        trigger = (info.get("rollbackInfo") or {}).get("rollbackTriggeringDeploymentId")
        kind = "rollback deployment"
        suffix = f" (of {trigger})" if trigger else ""
    else:
        suffix = ""
    overview = info.get("deploymentOverview") or {}
    counts = ", ".join(f"{key} {value}" for key, value in overview.items() if value)
    return f"{kind} {info.get('deploymentId', '?')}{suffix}: {snapshot.status}" + (f" ({counts})" if counts else "")


class _Progress:
    """What both views say about time: elapsed, the running phase against the model and its deadline."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.started = clock()
        self.record: ReleaseRecord | None = None
        self.expectation = Expectation()

    def expect(self, record: ReleaseRecord, expectation: Expectation) -> None:
        self.record, self.expectation = record, expectation
        self.started = record.started

    def event_text(self, event: LifecycleEvent, now: datetime) -> str:
        """`AllowTraffic 40 s (model ~1 min 00 s)` for a running event."""
        running = max((now - event.start).total_seconds(), 0.0) if event.start is not None else 0.0
        modelled = self.expectation.events.get(event.name)
        return f"{event.name} {format_seconds(running)}" + (f" (model ~{format_seconds(modelled)})" if modelled else "")

    def phases_text(self, now: datetime) -> str:
        """Every modelled phase: `scale-up 1 min 38 s (model ~1 min 40 s); deployment ~7 min 10 s; then ...`.

        A finished phase shows what it took beside the model, the running one what it has taken so far, a later one
        the model alone; the old slot's drain and termination follow the release (the tool does not wait for them).
        """
        took = {phase.name: phase for phase in self.record.phases} if self.record is not None else {}
        parts = []
        for name, modelled in self.expectation.phases.items():
            phase = took.get(name)
            if phase is None:
                parts.append(f"{name} ~{format_seconds(modelled)}")
            elif phase.end is None:
                spent = (now - phase.start).total_seconds()
                parts.append(f"{name} running {format_seconds(spent)} (model ~{format_seconds(modelled)})")
            else:
                parts.append(f"{name} {format_seconds(phase.seconds)} (model ~{format_seconds(modelled)})")
        events = ", ".join(f"{name} ~{format_seconds(seconds)}" for name, seconds in self.expectation.events.items())
        if events:
            parts.append(f"each {events}")
        if self.expectation.after_release:
            parts.append(f"then the old slot drains and terminates, ~{format_seconds(self.expectation.after_release)}")
        return "model: " + "; ".join(parts) if parts else ""

    def phase_text(self, now: datetime) -> str:
        """`scale-up 40 s, model ~1 min 40 s, deadline 12:15:00Z (14 min 20 s left); elapsed 2 min 10 s`."""
        parts: list[str] = []
        current = current_phase(self.record, self.expectation, now) if self.record is not None else None
        if current is not None:
            phase = f"{current.name} {format_seconds(current.spent)}"
            if current.modelled is not None:
                phase += f", model ~{format_seconds(current.modelled)}"
            if current.deadline is not None:
                phase += (
                    f", deadline {current.deadline.strftime('%H:%M:%SZ')} ({format_seconds(current.left(now))} left)"
                )
            parts.append(phase)
        parts.append(f"elapsed {format_seconds((now - self.started).total_seconds())}")
        left = modelled_left(self.record, self.expectation, now) if self.record is not None else None
        if left is not None:
            parts.append(f"model: ~{format_seconds(left)} to go")
        return "; ".join(parts)


def _running(target: Target) -> LifecycleEvent | None:
    return next((event for event in target.events if event.status == "InProgress"), None)


class LineView:
    """Plain, timestamped lines on every change and during long waits; no cursor movement, no colour."""

    def __init__(self, stream: TextIO, clock: Clock) -> None:
        """Write to `stream`, stamping lines with `clock()` (UTC)."""
        self._stream = stream
        self._clock = clock
        self._progress = _Progress(clock)
        self._seen: dict[tuple[str, str, str], str] = {}
        self._status = ""
        self._waiting = ""
        self._last_line: datetime | None = None

    def _write(self, text: str) -> None:
        now = self._clock()
        self._stream.write(f"{_stamp(now)}  {text}\n")
        self._stream.flush()
        self._last_line = now

    def _quiet(self) -> bool:
        return self._last_line is None or (self._clock() - self._last_line).total_seconds() >= QUIET_SECONDS

    def expect(self, record: ReleaseRecord, expectation: Expectation) -> None:
        """Write the model's figure for every phase; from now on, progress lines measure the running phase by it."""
        self._progress.expect(record, expectation)
        plan = self._progress.phases_text(self._clock())
        if plan:
            self._write(plan)

    # How notes name the tool's command (release.cli.as_invoked); the identity until the CLI sets it.
    wording: Callable[[str], str] = staticmethod(str)

    def note(self, text: str) -> None:
        """Write a line."""
        self._write(self.wording(text))

    def progress(self, text: str) -> None:
        """A waiting loop's status: written when it changed, or with the time left when the view has been quiet."""
        if text != self._waiting:
            self._waiting = text
            self._write(text)
        elif self._quiet():
            self._write(f"still waiting: {text}; {self._progress.phase_text(self._clock())}")

    def update(self, snapshot: Snapshot) -> None:
        """A line for each event that started or finished and for a new status; a progress line when quiet."""
        line = deployment_line(snapshot)
        if line != self._status:
            self._status = line
            self._write(line)
        deployment_id = str(snapshot.deployment.get("deploymentId", "?"))
        for target in snapshot.targets:
            who = f"{target.label or '?':5} {target.target_id}"
            for event in target.events:
                key = (deployment_id, target.target_id, event.name)
                if self._seen.get(key) == event.status:
                    continue
                self._seen[key] = event.status
                if event.status == "InProgress":
                    self._write(f"{who}  {event.name} started")
                elif event.status in ("Succeeded", "Failed"):
                    self._write(f"{who}  {event.name} {event.status.lower()} in {format_seconds(event.seconds)}")
                elif event.status == "Skipped":
                    self._write(f"{who}  {event.name} skipped")
        if self._quiet():
            now = self._clock()
            running = [
                f"{target.label or '?'} {target.target_id} {self._progress.event_text(running_event, now)}"
                for target in snapshot.targets
                if (running_event := _running(target)) is not None
            ]
            doing = "; ".join([line, *running])
            self._write(f"still running: {doing}; {self._progress.phase_text(now)}")

    def close(self) -> None:
        """Nothing to tidy."""


class LiveView:
    """A table redrawn in place: the release's time, then one row per instance with its current event and its time."""

    def __init__(
        self,
        stream: TextIO,
        clock: Clock,
        *,
        colour: bool = True,
        width: int | None = None,
        refresh_per_second: float | None = None,
    ) -> None:
        """Draw on `stream` (a terminal); `refresh_per_second` redraws on a timer too (None: on each change only).

        `width` overrides the terminal's width (tests); `colour` False drops every colour (NO_COLOR).
        """
        self._clock = clock
        self._progress = _Progress(clock)
        self._console = Console(
            file=stream,
            force_terminal=True,
            force_interactive=True,
            no_color=not colour,
            width=width,
            highlight=False,
            markup=False,
            emoji=False,
        )
        self._snapshot: Snapshot | None = None
        self._waiting = ""
        self._live = Live(
            console=self._console,
            get_renderable=self._render,
            auto_refresh=refresh_per_second is not None,
            refresh_per_second=refresh_per_second or 1.0,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start()

    def _render(self) -> Group:
        now = self._clock()
        header = Text(self._progress.phase_text(now), no_wrap=True, overflow="ellipsis", style="bold")
        parts: list[Text | Table] = [header]
        plan = self._progress.phases_text(now)
        if plan:
            parts.append(Text(plan, no_wrap=True, overflow="ellipsis", style="dim"))
        if self._waiting:
            parts.append(Text(self._waiting, no_wrap=True, overflow="ellipsis"))
        if self._snapshot is not None:
            status = Text(deployment_line(self._snapshot), no_wrap=True, overflow="ellipsis")
            status.highlight_words([self._snapshot.status], _STATUS_STYLES.get(self._snapshot.status, ""))
            parts.append(status)
            table = Table.grid(padding=(0, 2))
            for _ in range(4):
                table.add_column(no_wrap=True, overflow="ellipsis")
            for target in self._snapshot.targets:
                table.add_row(*self._row(target, now))
            parts.append(table)
        return Group(*parts)

    def _row(self, target: Target, now: datetime) -> tuple[str, str, str, Text]:
        done = sum(1 for event in target.events if event.status in ("Succeeded", "Skipped"))
        current = _running(target)
        if current is not None:
            doing = Text(self._progress.event_text(current, now), style=_STATUS_STYLES["InProgress"])
        elif target.failed_events:
            doing = Text(f"{target.failed_events[0].name} FAILED", style=_STATUS_STYLES["Failed"])
        else:
            doing = Text(target.status, style=_STATUS_STYLES.get(target.status, ""))
        return f"{target.label or '?'}", target.target_id, f"{done}/{len(target.events)}", doing

    def expect(self, record: ReleaseRecord, expectation: Expectation) -> None:
        """From now on, the header measures the record's running phase against `expectation`."""
        self._progress.expect(record, expectation)
        self._live.refresh()

    # How notes name the tool's command (release.cli.as_invoked); the identity until the CLI sets it.
    wording: Callable[[str], str] = staticmethod(str)

    def note(self, text: str) -> None:
        """Print a timestamped line above the table (it stays in the scrollback)."""
        # soft_wrap: the terminal wraps a long line itself, so it stays one line when copied
        self._console.print(Text(f"{_stamp(self._clock())}  {self.wording(text)}"), soft_wrap=True)
        self._live.refresh()

    def progress(self, text: str) -> None:
        """Show a waiting loop's status under the header (it is redrawn, not scrolled)."""
        self._waiting = text
        self._live.refresh()

    def update(self, snapshot: Snapshot) -> None:
        """Redraw the table for `snapshot`."""
        self._snapshot = snapshot
        self._waiting = ""
        self._live.refresh()

    def close(self) -> None:
        """Take the table away: the summary that follows is the final word."""
        self._live.stop()


View = LineView | LiveView


def make_view(
    stream: TextIO, clock: Clock, *, live: bool | None = None, colour: bool = True, refresh_per_second: float = 1.0
) -> View:
    """`LiveView` on an interactive terminal (unless `live` says otherwise, see `live_wanted`), `LineView` elsewhere."""
    if live is None:
        live = stream.isatty()
    if not live:
        return LineView(stream, clock)
    return LiveView(stream, clock, colour=colour, refresh_per_second=refresh_per_second)
