"""When may an instance leaving a slot be let go? The pure decision, with every side effect behind `DrainPorts`.

The rule (docs/drain.md; DESIGN.md F4, F5, F12, F13):
1. Deregister the instance from the target group where it is still registered, first of all: the slots are not
   attached to it, so Auto Scaling will not, and every moment it stays registered it may get new requests. A late
   or duplicate event does no harm here (a target already `draining` is left alone). An instance that is not
   registered at all gets no traffic from the load balancer and has not had any for at least the deregistration
   delay (a deregistering target stays listed as `draining` until the delay expires), so it needs no wait.
2. Record a heartbeat before any wait. It restarts the hook's timeout, so the bound below fits in it, and proves the
   lifecycle action is still active: a duplicate event, or one for an instance already gone, ends here.
3. Wait for the instance's own signal: ONE SSM command waits on the instance until no request is in flight (checking
   locally every 0.1 s) or until the bound, and the Lambda waits on that command. Target health is never a drain
   signal: a deregistering target shows `draining` for the whole delay even when idle (F4). It serves only as an
   upper bound: the deregistration delay, measured from our deregistration, and, when the instance cannot be asked
   and someone else had already started deregistering it, the target leaving the group.
4. Complete with CONTINUE, never ABANDON (ABANDON on a termination hook cancels the other hooks, F5), as soon as the
   signal or the bound ends the wait, also when every attempt to ask the instance failed. "No active Lifecycle Action
   found" means someone (a duplicate delivery, the hook's own timeout) already completed it: success.
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


class Signal(enum.StrEnum):
    """What ended the wait."""

    REQUESTS_DRAINED = "requests-drained"
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
    """The instance could not be asked (SSM unavailable, agent silent, the check failing or printing no number)."""


class CompletionFailedError(Exception):
    """CompleteLifecycleAction kept failing; the hook falls back to its default result (CONTINUE) on timeout.

    `outcome` (set by `drain`) says what the wait decided, so the edge can still log it.
    """

    outcome: DrainOutcome | None = None


@dataclass(frozen=True)
class InstanceWait:
    """How one on-instance wait ended: drained (no request in flight), or at its bound with `in_flight` left."""

    drained: bool
    in_flight: int
    checks: int
    instance_seconds: float
    # GetCommandInvocation calls the Lambda made while the command ran (set by the adapter).
    status_reads: int = 0


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

    def wait_for_drain(self, instance_id: str, bound_seconds: float, give_up_at: float) -> InstanceWait:
        """Run one command that waits on the instance until no request is in flight, at most `bound_seconds` there,
        and wait for its result until `give_up_at` (on the decision's clock); raise `ProbeError` when it cannot.
        """
        ...


@dataclass(frozen=True)
class DrainSettings:
    """The bounds of one drain, in seconds (from the construct, through the function's environment)."""

    app_port: int
    deregistration_delay: float
    heartbeat_timeout: float
    # How often the adapter reads the on-instance wait's status (GetCommandInvocation).
    poll_interval: float
    # Complete this long before the heartbeat would run out, so the completion itself (with retries) fits.
    heartbeat_margin: float = 10.0
    # SSM commands per drain at most: a failed attempt (agent not yet answering, a check failing once) is retried
    # while time is left, but the count never grows with the length of the drain.
    max_wait_commands: int = 3
    # Give the command this long to reach the agent and report back: the instance-side bound is this much shorter
    # than the time left, so the result arrives before the Lambda's own deadline.
    command_allowance: float = 3.0
    # Pause before another command after a failed one.
    retry_pause: float = 1.0
    # When the instance cannot be asked and someone else is deregistering it: how often to look at the target group.
    target_watch_interval: float = 5.0
    complete_attempts: int = 6
    first_backoff: float = 0.5
    max_backoff: float = 5.0


@dataclass(frozen=True)
class DrainOutcome:
    """The decision for one lifecycle action, as logged."""

    signal: Signal
    completion: Completion
    drain_seconds: float
    ssm_commands: int = 0
    checks: int = 0
    in_flight: int | None = None
    status_reads: int = 0
    deregistered_ports: tuple[int, ...] = ()
    errors: Mapping[str, int] = field(default_factory=dict)


@dataclass
class _Run:
    """Mutable bookkeeping of one drain (kept out of the signature so the loop reads plainly)."""

    ssm_commands: int = 0
    checks: int = 0
    status_reads: int = 0
    in_flight: int | None = None
    deregistered: tuple[int, ...] = ()
    errors: Counter[str] = field(default_factory=Counter)

    def failed(self, exc: PortError) -> None:
        self.errors[exc.reason] += 1

    def outcome(self, signal: Signal, completion: Completion, drain_seconds: float) -> DrainOutcome:
        return DrainOutcome(
            signal=signal,
            completion=completion,
            drain_seconds=drain_seconds,
            ssm_commands=self.ssm_commands,
            checks=self.checks,
            in_flight=self.in_flight,
            status_reads=self.status_reads,
            deregistered_ports=self.deregistered,
            errors=dict(self.errors),
        )


def drain(
    action: LifecycleAction,
    settings: DrainSettings,
    ports: DrainPorts,
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    hard_deadline: float | None = None,
) -> DrainOutcome:
    """Deregister, wait until the instance has no request in flight or the bound is reached, then complete.

    `clock` is monotonic seconds and `sleep` waits, both injected so tests and benchmarks control time.
    `hard_deadline` (on `clock`) is when the invocation itself must be done, e.g. Lambda's remaining time.
    Raises `CompletionFailedError` only when CompleteLifecycleAction itself keeps failing.
    """
    start = clock()
    run = _Run()
    signal, watch_target = _deregister(action, settings, ports, run)
    try:
        ports.record_heartbeat(action)
    except ActionNotActiveError:
        return run.outcome(Signal.ACTION_NOT_ACTIVE, Completion.ALREADY_COMPLETED, clock() - start)
    except PortError as exc:
        # Not fatal: the heartbeat only buys time. The hook's heartbeat is derived to cover the oldest deliverable
        # event plus the whole drain (bluegreen.config.drain_timing), so the bound below still fits.
        run.failed(exc)

    deadline = start + min(settings.deregistration_delay, settings.heartbeat_timeout - settings.heartbeat_margin)
    if hard_deadline is not None:
        deadline = min(deadline, hard_deadline)
    if signal is None:
        signal = _wait_for_drain(action, settings, ports, run, deadline=deadline, clock=clock, sleep=sleep)
        if signal is None:
            signal = _wait_out_bound(
                action, settings, ports, run, deadline=deadline, watch_target=watch_target, clock=clock, sleep=sleep
            )
    drain_seconds = clock() - start
    try:
        completion = _complete(action, settings, ports, run, sleep=sleep)
    except CompletionFailedError as exc:
        exc.outcome = run.outcome(signal, Completion.FAILED, drain_seconds)
        raise
    return run.outcome(signal, completion, drain_seconds)


def _deregister(
    action: LifecycleAction, settings: DrainSettings, ports: DrainPorts, run: _Run
) -> tuple[Signal | None, bool]:
    """Deregister the instance where it is registered; return (signal if no wait is needed, watch the target)."""
    try:
        states = ports.target_states(action.instance_id)
    except PortError as exc:
        run.failed(exc)
        # Registration unknown: deregister at the app port (the target group's default) and wait for the signal.
        states = {settings.app_port: "unknown"}
    if not states:
        return Signal.NOT_REGISTERED, False
    to_deregister = tuple(sorted(port for port, state in states.items() if state not in DRAINING_STATES))
    # Someone else (CodeDeploy's BlockTraffic) started deregistering earlier: its delay ends before ours, and the
    # target leaving the group is the moment the load balancer has stopped using it.
    watch_target = len(to_deregister) < len(states)
    if to_deregister:
        try:
            ports.deregister(action.instance_id, to_deregister)
        except PortError as exc:
            run.failed(exc)
            return None, False
        run.deregistered = to_deregister
    return None, watch_target


def _wait_for_drain(
    action: LifecycleAction,
    settings: DrainSettings,
    ports: DrainPorts,
    run: _Run,
    *,
    deadline: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> Signal | None:
    """Wait on one on-instance command (another only if one failed); None when the instance could not be asked."""
    for attempt in range(settings.max_wait_commands):
        if attempt:
            sleep(max(0.0, min(settings.retry_pause, deadline - clock())))
        bound = deadline - clock() - settings.command_allowance
        if bound <= 0:
            return None
        run.ssm_commands += 1
        try:
            result = ports.wait_for_drain(action.instance_id, bound, deadline)
        except PortError as exc:
            run.failed(exc)
            continue
        run.checks += result.checks
        run.status_reads += result.status_reads
        run.in_flight = result.in_flight
        return Signal.REQUESTS_DRAINED if result.drained else Signal.BOUND_REACHED
    return None


def _wait_out_bound(
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
    """Without the instance's signal: wait until the bound, or until a target someone else deregisters has left."""
    while (now := clock()) < deadline:
        if watch_target and _left_target_group(action, ports, run):
            return Signal.TARGET_DEREGISTERED
        sleep(min(settings.target_watch_interval if watch_target else deadline - now, deadline - now))
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
