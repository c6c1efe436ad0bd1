"""The verdicts of the integration kit: pure functions from what a run observed to confirmed / refuted / not reached.

Each unverified belief of docs/decisions.md ("Unverified beliefs", U1..U8) has one check here, with the id the kit
prints. The kit (`integ/kit.py`) gathers the observations from a real account; these functions only decide, so the
decision rules are tested offline with fixed inputs (tests/integ/test_beliefs.py). Plain Python, no AWS imports.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from bluegreen.timing import RELEASE_ROW, ModelRow


class Verdict(Enum):
    """What a run says about one belief."""

    CONFIRMED = "confirmed"
    REFUTED = "refuted"
    NOT_REACHED = "not reached"


@dataclass(frozen=True)
class Finding:
    """A verdict with the reason a reader needs to trust it."""

    verdict: Verdict
    reason: str


@dataclass(frozen=True)
class Belief:
    """One row of docs/decisions.md's "Unverified beliefs" table, as the kit prints it."""

    number: str
    check_id: str
    statement: str


BELIEFS: tuple[Belief, ...] = (
    Belief(
        "U1", "U1-first-release", "An EC2 blue/green DISCOVER_EXISTING deployment runs when the original slot is empty."
    ),
    Belief(
        "U2",
        "U2-launch-registers",
        "CodeDeploy's automatic launch deployment in a blue/green group registers the new instance with the "
        "target group.",
    ),
    Belief(
        "U3",
        "U3-asg-list",
        "A DISCOVER_EXISTING deployment leaves the deployment group's Auto Scaling group list unchanged.",
    ),
    Belief("U4", "U4-agent-group-id", "The CodeDeploy agent gives hook scripts DEPLOYMENT_GROUP_ID."),
    Belief(
        "U5",
        "U5-ss-keepalive",
        "Under ALB keep-alive, the drain's established-connection count reaches 0 before the deregistration delay.",
    ),
    Belief(
        "U6",
        "U6-service-role-launch",
        "With DISCOVER_EXISTING slots the release tool scales, CodeDeploy's service role never creates or updates an "
        "Auto Scaling group nor launches or tags an instance (its launch-template permissions go unused).",
    ),
    Belief(
        "U7",
        "U7-register-gone",
        "RegisterTargets answers InvalidTarget for an instance that has terminated (no dead target gets in).",
    ),
    Belief(
        "U8",
        "U8-release-model",
        "A release takes no longer, scale-up to the end of the deployment, than the release-time model built for its "
        "own target group, capacity and deployment configuration (whose provisioning, install and registration "
        "figures are assumptions); with the defaults that model is 2 min 50 s, within issue 13's 3 minutes.",
    ),
)

# Statuses of a deployment that has not ended (CodeDeploy DeploymentInfo.status).
RUNNING = frozenset({"Created", "Queued", "InProgress", "Baking", "Ready"})
# Error codes by which CodeDeploy says there was nothing to deploy to or from (ErrorInformation.code).
NO_INSTANCE_ERRORS = frozenset({"NO_INSTANCES"})
# What the kit's failing hook prints (integ/kit.py, FAILING_HOOK); the agent returns it in the event's logTail.
GROUP_ID_MARKER = re.compile(r"KIT-DEPLOYMENT_GROUP_ID=(\S*)")
UNSET = "unset"


@dataclass(frozen=True)
class FirstRelease:
    """The first release's deployment, and how many instances the listed (original) slot had before it."""

    original_instances: int
    deployment_type: str | None
    status: str | None
    error_code: str | None


def first_release(observed: FirstRelease | None) -> Finding:
    """U1: did a blue/green deployment with an empty original environment run?"""
    if observed is None or observed.status is None:
        return Finding(Verdict.NOT_REACHED, "no first release was observed")
    if observed.original_instances > 0:
        return Finding(Verdict.NOT_REACHED, f"the original slot had {observed.original_instances} instance(s)")
    if observed.deployment_type != "BLUE_GREEN":
        return Finding(
            Verdict.NOT_REACHED, f"the first release was a {observed.deployment_type} deployment (bootstrap path)"
        )
    if observed.status == "Succeeded":
        return Finding(Verdict.CONFIRMED, "the blue/green deployment succeeded with no original instance")
    if observed.error_code in NO_INSTANCE_ERRORS:
        return Finding(Verdict.REFUTED, f"CodeDeploy failed it with {observed.error_code}")
    return Finding(
        Verdict.NOT_REACHED, f"it ended {observed.status} ({observed.error_code}), for a reason unrelated to U1"
    )


@dataclass(frozen=True)
class LaunchDeployment:
    """CodeDeploy's automatic deployment to an instance that joined the live slot: its events by name → status."""

    lifecycle_events: Mapping[str, str]


def launch_registers(observed: LaunchDeployment | None) -> Finding:
    """U2: does the automatic launch deployment of a blue/green group run AllowTraffic for the new instance?"""
    if observed is None:
        return Finding(Verdict.NOT_REACHED, "no automatic launch deployment was found after the scale-out")
    status = observed.lifecycle_events.get("AllowTraffic")
    if status == "Succeeded":
        return Finding(Verdict.CONFIRMED, "its AllowTraffic event succeeded")
    if status is None or status == "Skipped":
        return Finding(Verdict.REFUTED, f"its AllowTraffic event was {status or 'absent'}")
    return Finding(Verdict.NOT_REACHED, f"its AllowTraffic event ended {status}")


@dataclass(frozen=True)
class GroupListObservation:
    """One poll during a release: the deployment's status and the group's Auto Scaling group names."""

    deployment_status: str
    groups: tuple[str, ...]


def asg_list(original: Sequence[str], polls: Sequence[GroupListObservation]) -> Finding:
    """U3: polled while a release ran, before the release tool writes the list itself (it does so after success)."""
    before = tuple(sorted(original))
    for poll in polls:
        if poll.deployment_status in RUNNING and tuple(sorted(poll.groups)) != before:
            return Finding(Verdict.REFUTED, f"CodeDeploy changed the list to {list(poll.groups)} while it ran")
    succeeded = [poll for poll in polls if poll.deployment_status == "Succeeded"]
    if not succeeded:
        return Finding(Verdict.NOT_REACHED, "no poll saw the deployment succeed")
    if tuple(sorted(succeeded[0].groups)) == before:
        return Finding(Verdict.CONFIRMED, "the list was unchanged when the deployment had succeeded")
    return Finding(
        Verdict.NOT_REACHED,
        "the list had changed by the first poll after success: CodeDeploy and the release tool cannot be told apart",
    )


def agent_group_id(log_tails: Sequence[str], group_id: str) -> Finding:
    """U4: the failing hook printed `KIT-DEPLOYMENT_GROUP_ID=<value>`; the agent returns it in the logTail."""
    values = [match.group(1) for tail in log_tails for match in GROUP_ID_MARKER.finditer(tail)]
    if not values:
        return Finding(Verdict.NOT_REACHED, "no failing hook's output reached the deployment's diagnostics")
    value = values[-1]
    if value == group_id:
        return Finding(Verdict.CONFIRMED, "the hook saw the deployment group's id")
    if value in {"", UNSET}:
        return Finding(Verdict.REFUTED, "the hook's environment had no DEPLOYMENT_GROUP_ID")
    return Finding(Verdict.REFUTED, f"the hook saw DEPLOYMENT_GROUP_ID={value}, not the group's id {group_id}")


@dataclass(frozen=True)
class DrainObservation:
    """One instance's Terminating:Wait, while the kit sent requests through the load balancer."""

    wait_seconds: float
    requests_served: int


def ss_keepalive(observed: DrainObservation | None, *, delay_seconds: float, poll_seconds: float) -> Finding:
    """U5: the drain ends early when the count reaches 0 (two polls), at the delay when it never does."""
    if observed is None:
        return Finding(Verdict.NOT_REACHED, "no instance was seen in Terminating:Wait")
    if observed.requests_served == 0:
        return Finding(Verdict.NOT_REACHED, "no request reached the slot, so no keep-alive connection existed")
    if observed.wait_seconds < delay_seconds - poll_seconds:
        return Finding(
            Verdict.CONFIRMED, f"drained in {observed.wait_seconds:.0f} s, before the {delay_seconds} s bound"
        )
    if observed.wait_seconds >= delay_seconds:
        return Finding(Verdict.REFUTED, f"the drain ran to the {delay_seconds} s bound ({observed.wait_seconds:.0f} s)")
    return Finding(Verdict.NOT_REACHED, f"inconclusive: {observed.wait_seconds:.0f} s is within a poll of the bound")


# The calls for which the CodeDeploy guide asks ec2:RunInstances, ec2:CreateTags and iam:PassRole with a launch
# template (docs/decisions.md F33): Auto Scaling checks the caller's launch permissions on CreateAutoScalingGroup and
# UpdateAutoScalingGroup; RunInstances and CreateTags are the launch itself. iam:PassRole leaves no event of its own.
LAUNCH_TEMPLATE_CALLS = frozenset({"CreateAutoScalingGroup", "UpdateAutoScalingGroup", "RunInstances", "CreateTags"})
# CloudTrail delivers an event within about 15 minutes of the call (CloudTrail user guide, "CloudTrail concepts"), so
# a lookup says nothing about calls made later than this before it.
CLOUDTRAIL_DELIVERY_SECONDS = 15 * 60


@dataclass(frozen=True)
class ServiceRoleCalls:
    """The CloudTrail events whose caller was the CodeDeploy service role's session, over the kit's releases."""

    event_names: tuple[str, ...]
    seconds_since_last_release: float


def service_role_launch(observed: ServiceRoleCalls | None) -> Finding:
    """U6: did CodeDeploy's service role make any call for which the guide asks launch-template permissions?"""
    if observed is None:
        return Finding(Verdict.NOT_REACHED, "no CloudTrail lookup of the service role's calls was made")
    used = sorted(set(observed.event_names) & LAUNCH_TEMPLATE_CALLS)
    if used:
        return Finding(Verdict.REFUTED, f"the service role called {', '.join(used)}")
    if observed.seconds_since_last_release < CLOUDTRAIL_DELIVERY_SECONDS:
        return Finding(
            Verdict.NOT_REACHED,
            f"looked up {observed.seconds_since_last_release:.0f} s after the last release, within CloudTrail's "
            "delivery delay",
        )
    return Finding(
        Verdict.CONFIRMED, f"none of its {len(observed.event_names)} calls needs the launch-template permissions"
    )


# The error code of ELBv2's InvalidTargetException ("The specified target does not exist, is not in the same VPC as the
# target group, or has an unsupported instance type"; docs/decisions.md F49).
INVALID_TARGET = "InvalidTarget"


@dataclass(frozen=True)
class GoneRegistration:
    """RegisterTargets for an instance the kit saw leave its slot (terminated): the error code, None if accepted."""

    error_code: str | None


def register_gone(observed: GoneRegistration | None) -> Finding:
    """U7: does RegisterTargets refuse an instance that has terminated?"""
    if observed is None:
        return Finding(Verdict.NOT_REACHED, "no drained instance was seen leaving its slot")
    if observed.error_code == INVALID_TARGET:
        return Finding(Verdict.CONFIRMED, "RegisterTargets answered InvalidTarget for the terminated instance")
    if observed.error_code is None:
        return Finding(Verdict.REFUTED, "RegisterTargets accepted the terminated instance (the kit deregistered it)")
    return Finding(Verdict.NOT_REACHED, f"RegisterTargets failed with {observed.error_code}, which does not decide U7")


# Settings under which a release's deployment phase measures more than the release: the promotion gate's deployment
# waits for `promote` (README, "Promotion gate").
UNTIMED_SETTINGS = ("promotionGate",)


@dataclass(frozen=True)
class TimedRelease:
    """A release as its release-summary.json reports it, and the settings the stack it released to overrides."""

    exit_code: int
    first_release: bool
    phases: tuple[ModelRow, ...]
    overrides: Mapping[str, Any]


def _phase_table(phases: Sequence[ModelRow]) -> str:
    """`phases, this release's model → measured: provisioning 100 → 92 s, …, drain 5 s (not measured), …`."""
    cells = [
        f"{row.phase} {row.modelled:.0f} s (not measured)"
        if row.measured is None
        else f"{row.phase} {row.modelled:.0f} → {row.measured:.0f} s"
        for row in phases
    ]
    return "phases, this release's model → measured: " + ", ".join(cells)


def _not_judged(observed: TimedRelease, measured: float | None) -> list[str]:
    """Why this release says nothing about U8 (every reason that applies); [] when it decides it."""
    reasons = [f"the release ended with exit {observed.exit_code}"] if observed.exit_code != 0 else []
    if observed.first_release:
        reasons.append("it was a first release (no original environment)")
    reasons += [f"the stack sets {key}" for key in UNTIMED_SETTINGS if observed.overrides.get(key)]
    if not observed.phases:
        reasons.append("its summary has no release-time model")
    elif measured is None:
        reasons.append("its summary has no measured release time")
    return reasons


def release_model_holds(observed: TimedRelease | None) -> Finding:
    """U8: did the release take no longer, scale-up to the deployment's end, than its own release-time model says?

    The model in the summary is the one the release built for its own target group, capacity and deployment
    configuration, so any stack decides it. The reason always lists each phase's modelled and measured seconds, so a
    refutation (or a release that could not decide the belief) says which of the model's figures was overrun.
    """
    if observed is None:
        return Finding(Verdict.NOT_REACHED, "no release summary (release-summary.json) was read")
    row = next((row for row in observed.phases if row.phase == RELEASE_ROW), None)
    measured = row.measured if row is not None else None
    table = _phase_table(observed.phases)
    unjudged = _not_judged(observed, measured)
    if unjudged or row is None or measured is None:
        return Finding(Verdict.NOT_REACHED, "; ".join([*unjudged, table] if observed.phases else unjudged))
    if measured <= row.modelled:
        return Finding(Verdict.CONFIRMED, f"released in {measured:.0f} s, modelled {row.modelled} s; {table}")
    overran = [
        f"{phase.phase} by {phase.measured - phase.modelled:.0f} s"
        for phase in observed.phases
        if phase.phase != RELEASE_ROW and phase.measured is not None and phase.measured > phase.modelled
    ]
    where = (
        "over the model: " + ", ".join(overran)
        if overran
        else "no phase overran its figure: the time went between them"
    )
    return Finding(Verdict.REFUTED, f"released in {measured:.0f} s, modelled {row.modelled} s; {where}; {table}")


def render(findings: Mapping[str, Finding]) -> str:
    """The table the kit prints: one line per belief of `BELIEFS`, "not reached" when a run never got there."""
    lines = ["Unverified beliefs (docs/decisions.md):"]
    for belief in BELIEFS:
        finding = findings.get(belief.check_id, Finding(Verdict.NOT_REACHED, "the run stopped before this check"))
        lines.append(f"  {belief.number} {belief.check_id:<20} {finding.verdict.value.upper():<12} {finding.reason}")
        lines.append(f"     {belief.statement}")
    return "\n".join(lines)
