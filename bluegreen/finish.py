"""What ends a release, in one place: the release tool (`release.orchestrate`) and the AWS-side finisher
(`lambdas/finisher`) both finish or clean up through these functions, so whichever acts first wins and the other finds
the work done (every step sets a value: it is idempotent).

Plain Python (no boto3, no aws_cdk): the clients are passed in.

* After a successful deployment (`switch_steps`): point the blue/green deployment group at the slot the deployment
  targeted (docs/decisions.md F3), then empty the other slot (the termination hook drains each instance, F4, F5).
* After a failed or stopped one (`idle_may_be_emptied`): once the rollback has ended, the slot deployed to is emptied
  only when no traffic can be on it: no green instance reached AllowTraffic, or the rollback succeeded, and (checked by
  the caller) the target group holds none of its instances.
* Always (`resume_processes`): resume the scaling processes the release suspended (docs/decisions.md F9), on both
  slots, only those (an operator's own suspensions stay).
* `converged` tells whether there is anything left to do at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# docs/decisions.md F9: every process that can add or remove an instance while CodeDeploy works on the slots. An
# instance launched mid-deployment is never deployed to, one terminated mid-deployment fails it
# (aws-samples/aws-codedeploy-samples#80). InstanceRefresh replaces instances too, so it is paused as well.
# HealthCheck and AddToLoadBalancer stay active: health is still reported, and the slots are not attached to the
# target group anyway (CodeDeploy registers green instances itself).
SUSPENDED_PROCESSES: tuple[str, ...] = (
    "Launch",
    "Terminate",
    "AZRebalance",
    "ReplaceUnhealthy",
    "AlarmNotification",
    "ScheduledActions",
    "InstanceRefresh",
)
# Lifecycle states of an instance on its way out of a slot (the drain Lambda may still hold it in Terminating:Wait).
_LEAVING_PREFIXES = ("Terminating", "Detaching")


@dataclass(frozen=True)
class Step:
    """One idempotent step of finishing: what it does, the call, and the command that repairs it by hand."""

    what: str
    call: Callable[[], None]
    repair: str


@dataclass(frozen=True)
class Slot:
    """What finishing needs to know of a slot (DescribeAutoScalingGroups)."""

    name: str
    desired: int
    staying: tuple[str, ...]
    serving: int
    suspended: frozenset[str]

    @property
    def empty(self) -> bool:
        """No desired capacity and no instance that is not leaving (leaving ones are being drained)."""
        return self.desired == 0 and not self.staying

    @property
    def paused(self) -> frozenset[str]:
        """The processes a release suspends that are suspended now."""
        return self.suspended & frozenset(SUSPENDED_PROCESSES)


def read_slots(autoscaling: Any, names: Iterable[str]) -> dict[str, Slot]:
    """Both slots as `Slot`s (one DescribeAutoScalingGroups call); a name Auto Scaling does not know is left out."""
    wanted = list(names)
    found: dict[str, Slot] = {}
    for group in autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=wanted)["AutoScalingGroups"]:
        instances = group.get("Instances", [])
        staying = tuple(
            item["InstanceId"] for item in instances if not item["LifecycleState"].startswith(_LEAVING_PREFIXES)
        )
        found[group["AutoScalingGroupName"]] = Slot(
            name=group["AutoScalingGroupName"],
            desired=int(group["DesiredCapacity"]),
            staying=staying,
            serving=sum(
                1 for item in instances if item["LifecycleState"] == "InService" and item["HealthStatus"] == "Healthy"
            ),
            suspended=frozenset(item["ProcessName"] for item in group.get("SuspendedProcesses", [])),
        )
    return found


def converged(listed: Iterable[str], slots: Mapping[str, Slot], live: str | None = None) -> str | None:
    """Why the release is not finished, or None when it is (optionally: with `live` as the live slot).

    Finished means: the deployment group lists exactly one slot, the other slot is empty, and no process a release
    suspends is suspended on either.
    """
    names = list(listed)
    if len(names) != 1 or names[0] not in slots:
        return f"the deployment group lists {names or 'no slot'}, not exactly one of {sorted(slots)}"
    if live is not None and names[0] != live:
        return f"the deployment group lists {names[0]}, not {live}"
    for name, slot in sorted(slots.items()):
        if name != names[0] and not slot.empty:
            return f"{name} is not live but holds {len(slot.staying)} instance(s) (desired {slot.desired})"
        if slot.paused:
            return f"{name} has {', '.join(sorted(slot.paused))} suspended"
    return None


def point_group_at(codedeploy: Any, application: str, group: str, slot: str) -> None:
    """UpdateDeploymentGroup(autoScalingGroups=[slot]): the group's original environment is now that slot (F3)."""
    codedeploy.update_deployment_group(
        applicationName=application, currentDeploymentGroupName=group, autoScalingGroups=[slot]
    )


def empty_slot(autoscaling: Any, slot: str) -> None:
    """Scale the slot to 0 (minimum 0 too); each instance leaves through the termination hook, drained (F4, F5)."""
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=slot, MinSize=0, DesiredCapacity=0)


def resume_processes(autoscaling: Any, slot: str) -> None:
    """ResumeProcesses for exactly `SUSPENDED_PROCESSES` (an operator's own suspensions are left alone)."""
    autoscaling.resume_processes(AutoScalingGroupName=slot, ScalingProcesses=list(SUSPENDED_PROCESSES))


def resume_command(slot: str) -> str:
    """The AWS CLI command that resumes what a release suspends on `slot`."""
    return (
        f"aws autoscaling resume-processes --auto-scaling-group-name {slot} "
        f"--scaling-processes {' '.join(SUSPENDED_PROCESSES)}"
    )


def switch_steps(
    codedeploy: Any, autoscaling: Any, *, application: str, group: str, new_live: str, old_live: str
) -> tuple[Step, Step]:
    """After a successful deployment onto `new_live`: point the group at it, then empty `old_live`.

    The order matters: while the group lists the old slot, a crash leaves a state the next actor reads as "switch not
    done" and finishes; once it lists the new one, emptying the old one is all that is left.
    """
    return (
        Step(
            f"point {group} at {new_live}",
            lambda: point_group_at(codedeploy, application, group, new_live),
            f"aws deploy update-deployment-group --application-name {application} "
            f"--current-deployment-group-name {group} --auto-scaling-groups {new_live}",
        ),
        Step(
            f"empty {old_live}",
            lambda: empty_slot(autoscaling, old_live),
            f"aws autoscaling update-auto-scaling-group --auto-scaling-group-name {old_live} "
            "--min-size 0 --desired-capacity 0",
        ),
    )


def traffic_reached_green(events: Iterable[tuple[str, str, str]]) -> bool:
    """Whether a green instance's AllowTraffic started: `events` are (instance label, lifecycle event, status).

    From then on the target group may have sent it requests, so only a finished rollback makes its slot safe to empty.
    """
    return any(
        label == "Green" and name == "AllowTraffic" and status in ("InProgress", "Succeeded", "Failed")
        for label, name, status in events
    )


def idle_may_be_emptied(*, traffic_reached_green: bool, rollback_status: str | None) -> bool:
    """After an unsuccessful deployment whose rollback has ended: may the slot it deployed to be emptied?

    Yes when no green instance reached AllowTraffic, or the rollback deployment succeeded (traffic is back on the
    original slot). The caller also checks that the target group holds none of the slot's instances.
    """
    return not traffic_reached_green or rollback_status == "Succeeded"


# ELBv2 target states in which a target is registered (DescribeTargetHealth TargetHealth.State; `unused` means not).
REGISTERED_STATES = frozenset({"initial", "healthy", "unhealthy", "unavailable", "draining", "unhealthy.draining"})
# BatchGetDeploymentTargets takes at most 25 target ids.
BATCH_GET_TARGETS_LIMIT = 25


def registered_instances(elbv2: Any, target_group_arn: str, instances: Iterable[str]) -> dict[str, str]:
    """Which of `instances` the target group holds (DescribeTargetHealth), instance id → state."""
    wanted = set(instances)
    if not wanted:
        return {}
    answer = elbv2.describe_target_health(TargetGroupArn=target_group_arn)
    return {
        item["Target"]["Id"]: item["TargetHealth"]["State"]
        for item in answer.get("TargetHealthDescriptions", [])
        if item["Target"]["Id"] in wanted and item.get("TargetHealth", {}).get("State") in REGISTERED_STATES
    }


def lifecycle_events(codedeploy: Any, deployment_id: str) -> list[tuple[str, str, str]]:
    """Every instance's lifecycle events of the deployment as (instance label, event, status), for
    `traffic_reached_green` (ListDeploymentTargets, then BatchGetDeploymentTargets in chunks of 25)."""
    ids: list[str] = []
    for page in codedeploy.get_paginator("list_deployment_targets").paginate(deploymentId=deployment_id):
        ids.extend(page.get("targetIds", []))
    events: list[tuple[str, str, str]] = []
    for start in range(0, len(ids), BATCH_GET_TARGETS_LIMIT):
        answer = codedeploy.batch_get_deployment_targets(
            deploymentId=deployment_id, targetIds=ids[start : start + BATCH_GET_TARGETS_LIMIT]
        )
        for target in answer.get("deploymentTargets", []):
            instance = target.get("instanceTarget") or {}
            events.extend(
                (str(instance.get("instanceLabel", "")), str(item.get("lifecycleEventName")), str(item.get("status")))
                for item in instance.get("lifecycleEvents", [])
            )
    return events
