"""May an instance that joined a slot take traffic? The pure decision, with every side effect behind `JoinPorts`.

The slots are not attached to the target group, and whether CodeDeploy's automatic launch deployment in a blue/green
group registers a new instance is not documented (docs/decisions.md F15, U2), so this function registers it itself, and
only when both of these hold, checked in this order:
1. The instance is `InService`. Auto Scaling moves an instance to InService only once every launch lifecycle hook is
   complete (docs/decisions.md F20, F21): our agent-ready hook, and in the live slot CodeDeploy's own launch hook
   (F19), which CodeDeploy completes with CONTINUE only after its deployment of the last successful revision to the
   instance succeeded, ABANDON otherwise (CodeDeploy user guide, "Integrating CodeDeploy with Amazon EC2 Auto
   Scaling", "After CodeDeploy adds the lifecycle hook, how is it used?"). So an InService instance of the live slot
   runs the live revision. The event's timing relative to the hooks is not documented, so the state is read, not
   assumed; an instance still Pending is waited for within the invocation, then left to Lambda's retries.
2. Its group is the one slot the blue/green deployment group lists. The list is read first, so an instance of the
   idle slot (a release filling it; CodeDeploy's AllowTraffic registers it) is left alone at once, without waiting,
   and read again after a wait, so a release that finished meanwhile is seen. A group that lists no slot, or both, is
   not guessed at (issue 9 §3).

RegisterTargets is idempotent (ELBv2 API reference: registering a registered target changes nothing), so an instance
CodeDeploy registered already, or a duplicate event (EventBridge delivers at least once, docs/decisions.md F5), is
harmless.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from join.event import Launch

IN_SERVICE = "InService"
# Auto Scaling lifecycle states before InService (Auto Scaling API reference, Instance.LifecycleState).
_PENDING_PREFIX = "Pending"


class Decision(enum.StrEnum):
    """What the function did with the instance, as logged."""

    REGISTERED = "registered"
    IDLE_SLOT = "idle-slot"
    NO_LIVE_SLOT = "no-live-slot"
    BOTH_SLOTS_LISTED = "both-slots-listed"
    NOT_IN_SERVICE = "not-in-service"
    INSTANCE_GONE = "instance-gone"


class PortError(Exception):
    """An AWS call failed; `reason` is a short, stable cause for logs (an AWS error code or our own word)."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason


class TransientError(PortError):
    """Throttling, a 5xx or a connection problem: the same call may succeed if tried again."""


class InstanceGoneError(PortError):
    """The target group refused the instance as a target: it no longer exists or is not running."""


class StillPendingError(Exception):
    """The instance was still Pending when the invocation's time ran out; Lambda's retry will look again."""


class JoinPorts(Protocol):
    """The side effects the decision needs; `join.aws.AwsJoinPorts` is the real one."""

    def lifecycle_state(self, instance_id: str) -> str | None:
        """The instance's Auto Scaling lifecycle state, or None when no group knows it (any more)."""
        ...

    def live_groups(self) -> tuple[str, ...]:
        """The Auto Scaling groups the blue/green deployment group lists now."""
        ...

    def register(self, instance_id: str) -> None:
        """Register the instance with the target group (at the target group's port)."""
        ...


@dataclass(frozen=True)
class JoinOutcome:
    """The decision for one launch, as logged."""

    decision: Decision
    lifecycle_state: str | None
    live_groups: tuple[str, ...] = ()
    waited_seconds: float = 0.0


def join(
    launch: Launch,
    ports: JoinPorts,
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    deadline: float,
    poll_interval: float = 10.0,
) -> JoinOutcome:
    """Register the launched instance with the target group if it is InService in the live slot (module docstring).

    Raises `PortError` when an AWS call fails (the handler lets Lambda retry), `StillPendingError` when the instance
    is still Pending at `deadline` (a clock() value).
    """
    live = ports.live_groups()
    refusal = _refusal(launch, live, None, 0.0)
    if refusal is not None:
        return refusal
    start = clock()
    state, polls = _wait_until_settled(
        launch.instance_id, ports, clock=clock, sleep=sleep, deadline=deadline, poll=poll_interval
    )
    waited = clock() - start
    if state != IN_SERVICE:
        return JoinOutcome(Decision.INSTANCE_GONE if state is None else Decision.NOT_IN_SERVICE, state, live, waited)
    if polls > 1:
        live = ports.live_groups()
        refusal = _refusal(launch, live, state, waited)
        if refusal is not None:
            return refusal
    try:
        ports.register(launch.instance_id)
    except InstanceGoneError:
        return JoinOutcome(Decision.INSTANCE_GONE, state, live, waited)
    return JoinOutcome(Decision.REGISTERED, state, live, waited)


def _refusal(launch: Launch, live: tuple[str, ...], state: str | None, waited: float) -> JoinOutcome | None:
    """The outcome when the deployment group does not list the instance's slot alone, else None."""
    if launch.group_name not in live:
        return JoinOutcome(Decision.NO_LIVE_SLOT if not live else Decision.IDLE_SLOT, state, live, waited)
    if len(live) > 1:
        return JoinOutcome(Decision.BOTH_SLOTS_LISTED, state, live, waited)
    return None


def _wait_until_settled(
    instance_id: str,
    ports: JoinPorts,
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    deadline: float,
    poll: float,
) -> tuple[str | None, int]:
    """The instance's first lifecycle state that is not Pending (None: gone), and how many reads it took.

    Waits for it, reading every `poll` seconds, until `deadline`.
    """
    polls = 0
    while True:
        state = ports.lifecycle_state(instance_id)
        polls += 1
        if state is None or not state.startswith(_PENDING_PREFIX):
            return state, polls
        if clock() + poll > deadline:
            raise StillPendingError(f"instance {instance_id} still {state}")
        sleep(poll)
