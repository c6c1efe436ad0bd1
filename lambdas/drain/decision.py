"""When may an instance leaving a slot be let go? The pure decision, with every side effect behind `DrainPorts`.

The rule (DESIGN.md "Scale-in", F4, F5):
1. Record a heartbeat. It proves the lifecycle action is still active (a duplicate event, or one for an instance
   already gone, ends here without further calls) and restarts the hook's timeout, so the bound below fits in it.
2. Deregister the instance from the target group if it is still registered: the slots are not attached to it, so
   Auto Scaling will not. An instance that is not registered at all gets no traffic from the load balancer and has
   not had any for at least the deregistration delay (a deregistering target stays listed as `draining` until the
   delay expires), so the upper bound has already passed.
3. Read the instance's own count of established connections on the app port every `poll_interval`; two zero reads in
   a row mean drained. Target health is never a drain signal: a deregistering target shows `draining` for the whole
   delay even when idle (F4). It serves only as an upper bound: the deregistration delay, measured from our
   deregistration, and, when someone else had already started deregistering, the target leaving the group.
4. Complete with CONTINUE, never ABANDON (ABANDON on a termination hook cancels the other hooks, F5), as soon as a
   signal or the bound ends the wait, also when every read failed. "No active Lifecycle Action found" means someone
   (a duplicate delivery, the hook's own timeout) already completed it: success.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from drain.event import LifecycleAction

# ALB target states that mean "deregistration in progress" (ELBv2 API reference, TargetHealth.State).
DRAINING_STATES = frozenset({"draining", "unhealthy.draining"})
# Reads of zero in a row that count as drained: one zero can be the gap between two keep-alive requests.
ZERO_READS_TO_DRAIN = 2


class Signal(enum.StrEnum):
    """What ended the wait."""

    CONNECTIONS_DRAINED = "connections-drained"
    NOT_REGISTERED = "not-registered"
    TARGET_DEREGISTERED = "target-deregistered"
    BOUND_REACHED = "bound-reached"
    ACTION_NOT_ACTIVE = "action-not-active"


class Completion(enum.StrEnum):
    """What CompleteLifecycleAction said."""

    COMPLETED = "completed"
    ALREADY_COMPLETED = "already-completed"
    FAILED = "failed"


class PortError(Exception):
    """An AWS call failed; `reason` is a short, stable cause for logs (an AWS error code or our own word)."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason


class TransientError(PortError):
    """Throttling, a 5xx or a connection problem: the same call may succeed if tried again."""


class ActionNotActiveError(PortError):
    """Auto Scaling has no active lifecycle action for this instance: it was completed already, or timed out."""


class ProbeError(PortError):
    """The instance's connection count could not be read (SSM unavailable, agent silent, bad output, ...)."""


class CompletionFailedError(Exception):
    """CompleteLifecycleAction kept failing; the hook falls back to its default result (CONTINUE) on timeout.

    `outcome` (set by `drain`) says what the wait decided, so the edge can still log it.
    """

    outcome: DrainOutcome | None = None


class DrainPorts(Protocol):
    """The side effects the decision needs; `drain.aws.AwsDrainPorts` is the real one."""

    def record_heartbeat(self, action: LifecycleAction) -> None:
        """Restart the hook's heartbeat timeout; raise `ActionNotActiveError` when the action is gone."""
        ...

    def complete(self, action: LifecycleAction) -> None:
        """Complete the action with CONTINUE; raise `ActionNotActiveError` when it is gone."""
        ...

    def target_states(self, instance_id: str) -> Mapping[int, str]:
        """The target-group registrations of the instance: port -> target health state (empty: not registered)."""
        ...

    def deregister(self, instance_id: str, ports: Sequence[int]) -> None:
        """Deregister the instance, at these ports, from the target group."""
        ...

    def connection_count(self, instance_id: str, timeout: float) -> int:
        """Established connections on the app port, read on the instance within `timeout` seconds."""
        ...


@dataclass(frozen=True)
class DrainSettings:
    """The bounds of one drain, in seconds (from the construct, through the function's environment)."""

    app_port: int
    deregistration_delay: float
    heartbeat_timeout: float
    poll_interval: float
    # Complete this long before the heartbeat would run out, so the completion itself (with retries) fits.
    heartbeat_margin: float = 10.0
    complete_attempts: int = 6
    first_backoff: float = 0.5
    max_backoff: float = 5.0


@dataclass(frozen=True)
class DrainOutcome:
    """The decision for one lifecycle action, as logged."""

    signal: Signal
    completion: Completion
    drain_seconds: float
    polls: int
    deregistered_ports: tuple[int, ...] = ()
    errors: Mapping[str, int] = field(default_factory=dict)


@dataclass
class _Run:
    """Mutable bookkeeping of one drain (kept out of the signature so the loop reads plainly)."""

    polls: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def failed(self, exc: PortError) -> None:
        self.errors[exc.reason] += 1


def drain(
    action: LifecycleAction,
    settings: DrainSettings,
    ports: DrainPorts,
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    hard_deadline: float | None = None,
) -> DrainOutcome:
    """Wait until the instance has drained or the bound is reached, then complete its lifecycle action.

    `clock` is monotonic seconds and `sleep` waits, both injected so tests and benchmarks control time.
    `hard_deadline` (on `clock`) is when the invocation itself must be done, e.g. Lambda's remaining time.
    Raises `CompletionFailedError` only when CompleteLifecycleAction itself keeps failing.
    """
    start = clock()
    run = _Run()
    try:
        ports.record_heartbeat(action)
    except ActionNotActiveError:
        return DrainOutcome(Signal.ACTION_NOT_ACTIVE, Completion.ALREADY_COMPLETED, 0.0, 0)
    except PortError as exc:
        # Not fatal: the heartbeat only buys time. The bound below still keeps us inside the original timeout
        # as long as the event reached us promptly.
        run.failed(exc)

    deadline = start + min(settings.deregistration_delay, settings.heartbeat_timeout - settings.heartbeat_margin)
    if hard_deadline is not None:
        deadline = min(deadline, hard_deadline)

    signal, deregistered, watch_target = _deregister(action, settings, ports, run)
    if signal is None:
        signal = _wait_for_drain(
            action, settings, ports, run, deadline=deadline, watch_target=watch_target, clock=clock, sleep=sleep
        )
    drain_seconds = clock() - start
    try:
        completion = _complete(action, settings, ports, run, sleep=sleep)
    except CompletionFailedError as exc:
        exc.outcome = DrainOutcome(signal, Completion.FAILED, drain_seconds, run.polls, deregistered, dict(run.errors))
        raise
    return DrainOutcome(signal, completion, drain_seconds, run.polls, deregistered, dict(run.errors))


def _deregister(
    action: LifecycleAction, settings: DrainSettings, ports: DrainPorts, run: _Run
) -> tuple[Signal | None, tuple[int, ...], bool]:
    """Deregister the instance where it is registered; return (signal if the wait is already over, ports, watch)."""
    try:
        states = ports.target_states(action.instance_id)
    except PortError as exc:
        run.failed(exc)
        # Registration unknown: deregister at the app port (the target group's default) and wait the full bound.
        states = {settings.app_port: "unknown"}
    if not states:
        return Signal.NOT_REGISTERED, (), False
    to_deregister = tuple(sorted(port for port, state in states.items() if state not in DRAINING_STATES))
    # Someone else (CodeDeploy's BlockTraffic) started deregistering earlier: its delay ends before ours, and the
    # target leaving the group is the moment the load balancer has stopped using it.
    watch_target = len(to_deregister) < len(states)
    if to_deregister:
        try:
            ports.deregister(action.instance_id, to_deregister)
        except PortError as exc:
            run.failed(exc)
            return None, (), False
    return None, to_deregister, watch_target


def _wait_for_drain(
    action: LifecycleAction,
    settings: DrainSettings,
    ports: DrainPorts,
    run: _Run,
    *,
    deadline: float,
    watch_target: bool,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> Signal:
    """Poll the instance's connection count until two zero reads in a row, or until the deadline."""
    zeros = 0
    while (tick := clock()) < deadline:
        count: int | None = None
        try:
            count = ports.connection_count(action.instance_id, deadline - tick)
            run.polls += 1
        except PortError as exc:
            run.failed(exc)
        if count == 0:
            zeros += 1
            if zeros >= ZERO_READS_TO_DRAIN:
                return Signal.CONNECTIONS_DRAINED
            # Confirm at once rather than after a full interval: the SSM round trip (send, agent pick-up, run,
            # report) already separates the two reads, and waiting longer only delays a drained instance.
            continue
        zeros = 0
        if watch_target and _left_target_group(action, ports, run):
            return Signal.TARGET_DEREGISTERED
        pause = min(settings.poll_interval - (clock() - tick), deadline - clock())
        if pause > 0:
            sleep(pause)
    return Signal.BOUND_REACHED


def _left_target_group(action: LifecycleAction, ports: DrainPorts, run: _Run) -> bool:
    """True when the instance no longer appears in the target group (its deregistration has finished)."""
    try:
        return not ports.target_states(action.instance_id)
    except PortError as exc:
        run.failed(exc)
        return False


def _complete(
    action: LifecycleAction, settings: DrainSettings, ports: DrainPorts, run: _Run, *, sleep: Callable[[float], None]
) -> Completion:
    """CompleteLifecycleAction with CONTINUE, retrying throttling with capped exponential backoff."""
    backoff = settings.first_backoff
    for attempt in range(1, settings.complete_attempts + 1):
        try:
            ports.complete(action)
        except ActionNotActiveError:
            return Completion.ALREADY_COMPLETED
        except TransientError as exc:
            run.failed(exc)
            if attempt == settings.complete_attempts:
                raise CompletionFailedError(f"CompleteLifecycleAction still failing after {attempt} attempts") from exc
            sleep(backoff)
            backoff = min(backoff * 2, settings.max_backoff)
        except PortError as exc:
            raise CompletionFailedError(f"CompleteLifecycleAction failed: {exc}") from exc
        else:
            return Completion.COMPLETED
    raise CompletionFailedError("CompleteLifecycleAction was not attempted")  # complete_attempts < 1
