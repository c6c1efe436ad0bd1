"""The two Auto Scaling groups ("slots"): their state, their capacity, and the processes paused while deploying.

Which processes a release pauses, and how they are resumed, is `bluegreen.finish` (shared with the AWS-side finisher).

The tool owns the slots' capacity (docs/decisions.md F6): the template gives them min 0 and no desired capacity.
Between releases the live slot runs the fleet and the idle slot is empty; during a release the idle slot is filled,
deployed to, and either becomes live (the old one is emptied) or is emptied again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from bluegreen.finish import SUSPENDED_PROCESSES, resume_processes
from release.errors import Cancelled, TargetsError, TimedOut
from release.retry import AWS_ERRORS, error_code, retried
from release.runtime import Runtime

# How often a slot is re-read while waiting for its instances; Auto Scaling moves in tens of seconds.
SLOT_POLL_SECONDS = 10.0
WAIT_HINT = (
    "Check the slot's scaling activities and instance console output (launch template, AMI, capacity, subnets); "
    "raise --scale-timeout if instances are merely slow."
)

Log = Callable[[str], None]


@dataclass(frozen=True)
class Instance:
    """One instance of a slot as DescribeAutoScalingGroups reports it."""

    instance_id: str
    lifecycle_state: str
    health_status: str

    @property
    def serving(self) -> bool:
        """InService and healthy: ready to be deployed to."""
        return self.lifecycle_state == "InService" and self.health_status == "Healthy"

    @property
    def leaving(self) -> bool:
        """On its way out (Terminating, Terminating:Wait, Terminating:Proceed; the drain Lambda may still hold it)."""
        return self.lifecycle_state.startswith("Terminating") or self.lifecycle_state == "Detaching"


@dataclass(frozen=True)
class SlotState:
    """A slot's capacity settings, instances and suspended processes."""

    name: str
    min_size: int
    max_size: int
    desired: int
    instances: tuple[Instance, ...]
    suspended: frozenset[str]

    @property
    def serving(self) -> int:
        """Number of instances InService and healthy."""
        return sum(1 for instance in self.instances if instance.serving)

    @property
    def staying(self) -> tuple[Instance, ...]:
        """Instances that are not leaving."""
        return tuple(instance for instance in self.instances if not instance.leaving)

    @property
    def occupied(self) -> bool:
        """Whether the slot wants or holds instances that are not leaving (a crashed release leaves this behind)."""
        return self.desired > 0 or bool(self.staying)


def describe_slots(autoscaling: Any, names: Iterable[str]) -> dict[str, SlotState]:
    """Read both slots (DescribeAutoScalingGroups); a missing one is a `TargetsError`."""
    wanted = list(names)
    groups: dict[str, SlotState] = {}
    paginator = autoscaling.get_paginator("describe_auto_scaling_groups")
    for page in paginator.paginate(AutoScalingGroupNames=wanted):
        for group in page["AutoScalingGroups"]:
            groups[group["AutoScalingGroupName"]] = SlotState(
                name=group["AutoScalingGroupName"],
                min_size=group["MinSize"],
                max_size=group["MaxSize"],
                desired=group["DesiredCapacity"],
                instances=tuple(
                    Instance(item["InstanceId"], item["LifecycleState"], item["HealthStatus"])
                    for item in group.get("Instances", [])
                ),
                suspended=frozenset(item["ProcessName"] for item in group.get("SuspendedProcesses", [])),
            )
    missing = [name for name in wanted if name not in groups]
    if missing:
        raise TargetsError(
            f"Auto Scaling group(s) {', '.join(missing)} not found",
            hint="Check --slots/SLOTS (or the stack's SlotAName/SlotBName outputs) and the region.",
        )
    return groups


def scale(autoscaling: Any, state: SlotState, desired: int, *, minimum: int | None = None) -> None:
    """Set a slot's desired capacity (UpdateAutoScalingGroup), widening min/max so the value is accepted.

    `minimum` defaults to 0 when emptying and to the current minimum otherwise; the maximum only ever grows, since
    it belongs to the template.
    """
    new_min = minimum if minimum is not None else min(state.min_size, desired)
    autoscaling.update_auto_scaling_group(
        AutoScalingGroupName=state.name,
        MinSize=min(new_min, desired),
        MaxSize=max(state.max_size, desired),
        DesiredCapacity=desired,
    )


def _last_failed_activity(autoscaling: Any, name: str) -> str:
    try:
        activities = autoscaling.describe_scaling_activities(AutoScalingGroupName=name, MaxRecords=10)["Activities"]
    except ClientError:
        return ""
    for activity in activities:
        if activity.get("StatusCode") in ("Failed", "Cancelled"):
            return f" Last failed scaling activity: {activity.get('StatusMessage') or activity.get('Description')}"
    return ""


def wait_for(
    autoscaling: Any,
    name: str,
    ready: Callable[[SlotState], bool],
    *,
    what: str,
    runtime: Runtime,
    timeout: float,
    log: Log,
    hint: str = WAIT_HINT,
    progress: Log | None = None,
) -> SlotState:
    """Poll the slot until `ready` holds; `TimedOut` (with `hint`) after `timeout` s, `Cancelled` on SIGINT/SIGTERM.

    Each poll's status line goes to `progress` (a view's, which also says how long is left while nothing changes),
    or, without one, to `log` when it changed.
    """
    started = runtime.now()
    last_line = ""
    while True:
        state = describe_slots(autoscaling, [name])[name]
        line = f"{name}: {state.serving}/{state.desired} InService, {len(state.instances) - len(state.staying)} leaving"
        if progress is not None:
            progress(line)
        elif line != last_line:
            log(line)
            last_line = line
        if ready(state):
            return state
        if runtime.stop.requested:
            raise Cancelled(f"cancelled ({runtime.stop.reason}) while waiting for {name} to {what}")
        if (runtime.now() - started).total_seconds() >= timeout:
            raise TimedOut(
                f"{name} did not {what} within {timeout:.0f} s.{_last_failed_activity(autoscaling, name)}",
                hint=hint,
            )
        runtime.sleep(SLOT_POLL_SECONDS)


def wait_serving(
    autoscaling: Any,
    name: str,
    count: int,
    *,
    runtime: Runtime,
    timeout: float,
    log: Log,
    progress: Log | None = None,
) -> SlotState:
    """Wait until exactly `count` instances are InService and healthy and none is still pending: agent ready.

    The stack's launch lifecycle hook keeps a new instance in Pending:Wait until its user data has started the
    CodeDeploy agent (or Auto Scaling abandons and replaces it when the hook's heartbeat runs out; docs/decisions.md
    F21), so InService means
    "ready to be deployed to"; `timeout` (--scale-timeout) is the budget for launch, boot, user data and the agent.
    """

    def ready(state: SlotState) -> bool:
        return state.serving >= count and len(state.staying) == state.serving

    return wait_for(
        autoscaling,
        name,
        ready,
        what=f"reach {count} InService instances (InService = CodeDeploy agent running)",
        runtime=runtime,
        timeout=timeout,
        log=log,
        progress=progress,
        hint=(
            f"The scale-up budget (--scale-timeout, {timeout:.0f} s) covers launch, boot, user data and the CodeDeploy "
            "agent's start: the launch hook keeps each instance out of InService until its agent runs, and Auto "
            "Scaling replaces one whose hook times out (stack setting agentReadyTimeoutSeconds), so keep the budget "
            "above that heartbeat. Check the slot's scaling activities and the instances' console output (launch "
            "template, AMI, capacity, subnets, the agent install); raise --scale-timeout if they are merely slow."
        ),
    )


def wait_empty(
    autoscaling: Any, name: str, *, runtime: Runtime, timeout: float, log: Log, progress: Log | None = None
) -> SlotState:
    """Wait until the slot holds no instance at all (the drain Lambda lets each terminating one go)."""
    return wait_for(
        autoscaling,
        name,
        lambda state: not state.instances,
        what="empty",
        runtime=runtime,
        timeout=timeout,
        log=log,
        progress=progress,
    )


def resume(autoscaling: Any, names: Iterable[str]) -> None:
    """Resume the processes this tool suspends (only those: an operator's own suspensions are left alone).

    Every slot is tried even when one call fails; the first failure is raised afterwards.
    """
    first: BaseException | None = None
    for name in names:
        try:
            resume_processes(autoscaling, name)
        except AWS_ERRORS as exc:
            first = first or exc
    if first is not None:
        raise first


def suspend(autoscaling: Any, names: tuple[str, ...], log: Log) -> list[str]:
    """Suspend `SUSPENDED_PROCESSES` on the slots (docs/decisions.md F9); returns the slots suspended so far.

    When a call fails, the slots already suspended are resumed before the error goes up.
    """
    suspended: list[str] = []
    try:
        for name in names:
            autoscaling.suspend_processes(AutoScalingGroupName=name, ScalingProcesses=list(SUSPENDED_PROCESSES))
            suspended.append(name)
    except AWS_ERRORS:
        resume(autoscaling, suspended)
        raise
    log(f"suspended {', '.join(SUSPENDED_PROCESSES)} on {', '.join(names)}")
    return suspended


def resume_every(autoscaling: Any, names: Iterable[str], *, runtime: Runtime, log: Log) -> list[str]:
    """Resume each slot's processes, retrying each call; returns the slots still suspended (never raises on AWS errors).

    One slot's failure never keeps the other suspended: every slot gets its own retried call.
    """
    failed: list[str] = []
    done: list[str] = []
    for name in names:
        try:
            retried(
                lambda name=name: resume_processes(autoscaling, name),  # type: ignore[misc]
                runtime=runtime,
                log=log,
                what=f"ResumeProcesses on {name}",
            )
            done.append(name)
        except AWS_ERRORS as exc:
            log(f"ResumeProcesses on {name} failed: {error_code(exc)}")
            failed.append(name)
    if done:
        log(f"resumed scaling processes on {', '.join(done)}")
    return failed


@contextlib.contextmanager
def processes_suspended(autoscaling: Any, names: tuple[str, ...], log: Log) -> Iterator[None]:
    """Suspend `SUSPENDED_PROCESSES` on the slots for the block; resume them on every way out (docs/decisions.md F9)."""
    suspended = suspend(autoscaling, names, log)
    try:
        yield
    finally:
        resume(autoscaling, suspended)
        log(f"resumed scaling processes on {', '.join(suspended)}")
