"""Time and cancellation, injected so the release logic runs instantly and deterministically under test.

`Runtime.system()` is the real thing: wall clock, a sleep that wakes early when a stop was requested, and a
`StopSignal` that SIGINT/SIGTERM/SIGHUP set. Tests build a `Runtime` with a fake clock whose `sleep` only advances time.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType

# The signals that stop a release (stop the deployment with rollback, clean up, report).
STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# Granularity of the real sleep: a stop request is noticed at most this late, well inside the few seconds a CI
# runner grants between SIGTERM and SIGKILL.
_SLEEP_SLICE_SECONDS = 0.25


@dataclass
class StopSignal:
    """Set once a stop was requested; remembers which signal asked, for the report."""

    reason: str | None = None
    count: int = 0

    def request(self, reason: str) -> None:
        """Record a stop request (a second request is counted: it means "do not wait for cleanup")."""
        self.reason = self.reason or reason
        self.count += 1

    @property
    def requested(self) -> bool:
        """Whether a stop was requested."""
        return self.count > 0


@dataclass
class Runtime:
    """Clock, sleep and stop signal used by every waiting loop of the tool."""

    now: Callable[[], datetime]
    sleep: Callable[[float], None]
    stop: StopSignal = field(default_factory=StopSignal)

    @classmethod
    def system(cls) -> Runtime:
        """The real clock, and a sleep that returns early when SIGINT/SIGTERM arrives during it."""
        stop = StopSignal()

        def sleep(seconds: float) -> None:
            # Wake early only for a stop requested during this sleep: after the first signal the cleanup still
            # polls at its normal pace, and a second signal interrupts it.
            seen = stop.count
            deadline = time.monotonic() + seconds
            while stop.count == seen:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                time.sleep(min(_SLEEP_SLICE_SECONDS, remaining))

        return cls(now=lambda: datetime.now(UTC), sleep=sleep, stop=stop)


@contextlib.contextmanager
def stop_on_signals(stop: StopSignal) -> Iterator[None]:
    """Turn SIGINT/SIGTERM/SIGHUP into a stop request for the duration of the block, then restore the old handlers.

    SIGHUP is what a closed terminal or a lost SSH session sends: without a handler it would kill the run with the
    deployment unwatched and scaling processes suspended, so it is handled exactly like SIGTERM.

    The handler only records the request: the loops check it between polls, so the deployment is stopped through
    the API (StopDeployment) rather than by unwinding the stack in the middle of an AWS call.
    """

    def handler(signum: int, _frame: FrameType | None) -> None:
        stop.request(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
