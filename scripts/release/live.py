"""Which slot is live: the deployment group's list, checked against what the load balancer actually serves.

The deployment group's Auto Scaling group list is runtime state that this tool sets (docs/decisions.md F3); a crash,
a hand edit, a stack change, or CodeDeploy itself after a DISCOVER_EXISTING deployment (belief U3 under
docs/decisions.md F15) can leave it wrong. Acting on a wrong list is an outage: the real live slot would be emptied as
"idle". So every release reads three witnesses and resolves the live slot only when they agree enough:

1. the blue/green deployment group's list (GetDeploymentGroup `autoScalingGroups`);
2. the target group's registered targets (ELBv2 DescribeTargetHealth without `Targets` "describes the health of ...
   all of your targets", API reference), mapped to slots through the slots' instances (DescribeAutoScalingGroups);
3. the last successful deployment, when this tool created it (`creator` "user"): its `targetInstances` name the slot
   that received traffic; and after an interrupted first release, the bootstrap group's list when its last
   deployment succeeded (see `release.bootstrap`).

A target counts as registered in every state but `unused` (ELB API reference, TargetHealth: `unused` means not
registered, target group not in use, Availability Zone not enabled, or instance stopped/terminated: no traffic).
`draining` and `unhealthy.draining` are leaving (docs/decisions.md F4, F13): they mark a slot that must not be emptied
*yet*, but not a slot that serves. The load balancer decides; the list is believed only when it agrees, or when the
disagreement is explained by one more witness. Everything else is refused with `LiveSlotUnclear` (exit 2, before
anything is uploaded or scaled), naming what was seen and what to do: never a guess.

When the target group is unknown (values given without `--stack`), the list alone decides, as before, and a note says
the load balancer was not consulted.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import ClientError

from bluegreen.finish import REGISTERED_STATES
from release import deployments
from release.errors import LiveSlotUnclear, TargetsError
from release.runtime import Runtime

# Registered but on the way out: no new requests (docs/decisions.md F4, F13).
LEAVING_STATES = frozenset({"draining", "unhealthy.draining"})
# How often the target group is re-read while waiting for a slot's targets to finish deregistering.
TARGETS_POLL_SECONDS = 5.0

Log = Callable[[str], None]


@dataclass(frozen=True)
class Evidence:
    """What AWS says about the two slots, as plain data (built by `gather`, judged by `resolve`)."""

    pair: tuple[str, str]
    listed: tuple[str, ...]
    members: Mapping[str, str]
    targets: Mapping[str, str] | None
    last_success_id: str | None = None
    last_success_slot: str | None = None
    bootstrap_slot: str | None = None

    def registered_in(self, slot: str) -> dict[str, str]:
        """The slot's instances that are registered with the target group, with their target state."""
        return {i: s for i, s in (self.targets or {}).items() if self.members.get(i) == slot}

    def serving_in(self, slot: str) -> dict[str, str]:
        """The slot's registered instances that are not leaving (they get, or are about to get, requests)."""
        return {i: s for i, s in self.registered_in(slot).items() if s not in LEAVING_STATES}

    @property
    def foreign(self) -> dict[str, str]:
        """Registered targets that belong to neither slot."""
        return {i: s for i, s in (self.targets or {}).items() if i not in self.members}


@dataclass(frozen=True)
class LiveSlot:
    """The resolved live and idle slot; `repoint` says why the group's list must be set to `live` (a recovery).

    `checked` is False when the target group was not consulted; `notes` are what else was noticed.
    """

    live: str
    idle: str
    repoint: str | None = None
    checked: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def point_group(self) -> bool:
        """Whether the deployment group must be pointed at `live` before the release."""
        return self.repoint is not None


def last_success_slot(info: Mapping[str, Any] | None, pair: tuple[str, str]) -> str | None:
    """The slot a successful deployment put traffic on, when this tool created it (else None).

    Only deployments a user (this tool) created name the slot that received traffic in `targetInstances`; a
    `codeDeployRollback` deployment restores the original environment and says nothing about a switch.
    """
    if not info or info.get("creator") != "user":
        return None
    target = (info.get("targetInstances") or {}).get("autoScalingGroups") or []
    return str(target[0]) if len(target) == 1 and target[0] in pair else None


def _other(pair: tuple[str, str], slot: str) -> str:
    return pair[1] if slot == pair[0] else pair[0]


def describe_targets(targets: Mapping[str, str]) -> str:
    """`i-1 healthy, i-2 draining`, or `none`."""
    return ", ".join(f"{instance} {state}" for instance, state in sorted(targets.items())) or "none"


def describe(evidence: Evidence) -> str:
    """One paragraph naming every witness, for an error message or a note."""
    listed = ", ".join(evidence.listed) or "no Auto Scaling group"
    parts = [f"the deployment group lists {listed}"]
    for slot in evidence.pair:
        parts.append(f"registered in {slot}: {describe_targets(evidence.registered_in(slot))}")
    if evidence.foreign:
        parts.append(f"registered outside both slots: {describe_targets(evidence.foreign)}")
    if evidence.last_success_id:
        put = f"put traffic on {evidence.last_success_slot}" if evidence.last_success_slot else "names no slot"
        parts.append(f"the last successful deployment {evidence.last_success_id} {put}")
    else:
        parts.append("the group has no successful deployment")
    if evidence.bootstrap_slot:
        parts.append(f"the bootstrap group's last deployment succeeded on {evidence.bootstrap_slot}")
    return "; ".join(parts)


def _unclear(evidence: Evidence, why: str) -> LiveSlotUnclear:
    return LiveSlotUnclear(
        f"cannot tell which slot is live: {why} ({describe(evidence)}); nothing was uploaded or scaled"
    )


def _from_list_only(evidence: Evidence) -> LiveSlot:
    """No target group to ask: the list decides, finishing a switch an interrupted run left undone (as before)."""
    listed = [name for name in evidence.listed if name in evidence.pair]
    if len(listed) > 1:
        raise _unclear(evidence, "the deployment group lists both slots and the target group is unknown")
    notes = ["target group unknown (no TargetGroupArn output): the live slot comes from the deployment group alone"]
    live = listed[0] if listed else evidence.pair[0]
    switched = evidence.last_success_slot
    chosen = switched if switched and switched != live else live
    idle = _other(evidence.pair, chosen)
    occupied = sorted(i for i, slot in evidence.members.items() if slot == idle)
    if occupied and not any(slot == chosen for slot in evidence.members.values()):
        # The slot the list names is empty while the other one holds instances: without the target group nothing
        # proves which one serves, and the next step would empty the occupied one as a leftover. Refuse instead.
        raise _unclear(
            evidence,
            f"the target group is unknown, {chosen} (from the deployment group) has no instance and the idle slot "
            f"{idle} holds {len(occupied)} ({', '.join(occupied)}) that may be serving; give --target-group ARN "
            "(or TARGET_GROUP_ARN, or --stack)",
        )
    if switched and switched != live:
        why = (
            f"previous release {evidence.last_success_id} succeeded on {switched} but the group lists "
            f"{', '.join(listed) or 'no slot'}: finishing that switch first"
        )
        return LiveSlot(switched, _other(evidence.pair, switched), repoint=why, checked=False, notes=tuple(notes))
    return LiveSlot(live, _other(evidence.pair, live), checked=False, notes=tuple(notes))


def _corroboration(evidence: Evidence, slot: str) -> str | None:
    if evidence.last_success_slot == slot:
        return f"the last successful deployment {evidence.last_success_id} put traffic on {slot}"
    if evidence.bootstrap_slot == slot:
        return f"the first release's bootstrap deployment succeeded on {slot}"
    return None


def _from_one_serving_slot(evidence: Evidence, slot: str, listed: tuple[str, ...]) -> LiveSlot:
    """The load balancer serves from `slot` only: believe it when the list agrees or a third witness confirms it."""
    idle = _other(evidence.pair, slot)
    if listed == (slot,):
        stale = evidence.last_success_slot
        if stale and stale != slot:
            # The list and the load balancer agree (say, after a hand-made rollback): they win over history.
            note = (
                f"the last successful deployment {evidence.last_success_id} put traffic on {stale}, but the "
                f"deployment group and the target group agree on {slot}: keeping {slot} live"
            )
            return LiveSlot(slot, idle, notes=(note,))
        return LiveSlot(slot, idle)
    confirmed = _corroboration(evidence, slot)
    if confirmed is None:
        shown = ", ".join(listed) or "no slot"
        raise _unclear(
            evidence,
            f"the target group serves from {slot} but the deployment group lists {shown}, "
            "and no successful deployment says traffic went to it",
        )
    why = f"the target group serves from {slot} and {confirmed}: pointing the deployment group at {slot}"
    return LiveSlot(slot, idle, repoint=why)


def _from_no_serving_slot(evidence: Evidence, listed: tuple[str, ...]) -> LiveSlot:
    """Nothing of either slot is in service: no traffic to protect, but both slots listed is still not a guess."""
    witness = evidence.last_success_slot or evidence.bootstrap_slot
    if len(listed) == 1 and (witness is None or witness == listed[0]):
        return LiveSlot(listed[0], _other(evidence.pair, listed[0]))
    if witness is not None:
        why = (
            f"no slot serves; the deployment group lists {', '.join(listed) or 'no slot'} but "
            f"{_corroboration(evidence, witness)}: taking {witness} as live and pointing the group at it"
        )
        return LiveSlot(witness, _other(evidence.pair, witness), repoint=why)
    if not listed:
        first = evidence.pair[0]
        note = (
            f"the deployment group lists no slot and nothing is registered: {first} is taken as the (empty) live slot"
        )
        return LiveSlot(first, _other(evidence.pair, first), notes=(note,))
    raise _unclear(evidence, "the deployment group lists both slots and no successful deployment tells them apart")


def resolve(evidence: Evidence) -> LiveSlot:
    """Decide the live slot from the evidence, or raise `LiveSlotUnclear` (see the module docstring for the cases)."""
    if evidence.targets is None:
        return _from_list_only(evidence)
    listed = tuple(name for name in evidence.listed if name in evidence.pair)
    serving = [slot for slot in evidence.pair if evidence.serving_in(slot)]
    if len(serving) == 2:
        raise _unclear(evidence, "both slots have targets in service and no deployment is in flight")
    chosen = (
        _from_one_serving_slot(evidence, serving[0], listed) if serving else _from_no_serving_slot(evidence, listed)
    )
    extra = []
    strangers = [name for name in evidence.listed if name not in evidence.pair]
    if strangers:
        extra.append(f"the deployment group also lists {', '.join(strangers)}, which is not one of the slots")
    if evidence.foreign:
        extra.append(f"targets registered outside both slots are left alone: {describe_targets(evidence.foreign)}")
    return replace(chosen, notes=(*chosen.notes, *extra))


def emptying_blocked(evidence: Evidence, slot: str) -> str | None:
    """Why `slot` must not be emptied as idle now (its instances are registered), or None when it may be."""
    registered = evidence.registered_in(slot)
    if not registered:
        return None
    return f"{slot} has instances registered with the target group ({describe_targets(registered)})"


def still_held(slot: str, held: Mapping[str, str], waited_seconds: float) -> LiveSlotUnclear:
    """The refusal when the idle slot's instances stay registered: emptying it would cut off traffic."""
    return LiveSlotUnclear(
        f"{slot} is the idle slot, but its instances are still registered with the target group after "
        f"{waited_seconds:.0f} s ({describe_targets(held)}); it is never emptied while registered; nothing was "
        "uploaded or scaled",
        hint=(
            "Wait for the deregistration to finish (the target group's deregistration delay) and run again; if that "
            "slot serves on purpose, point the deployment group at it (aws deploy update-deployment-group)."
        ),
    )


def deregistration_bound_seconds(deregistration_delay_seconds: int, interval_seconds: int) -> int:
    """How long a deregistering target can show `draining`: the delay, plus two health-check intervals of slack."""
    return deregistration_delay_seconds + 2 * interval_seconds


# ----------------------------------------------------------------------------------------------------------------------
# Reading AWS
# ----------------------------------------------------------------------------------------------------------------------


def read_registered(elbv2: Any, target_group_arn: str) -> dict[str, str]:
    """Every target registered with the target group (DescribeTargetHealth), instance id → state; `unused` left out.

    A target group that cannot be read is a `TargetsError` (exit 2): the live slot is never decided without it once
    it is known.
    """
    try:
        answer = elbv2.describe_target_health(TargetGroupArn=target_group_arn)
    except ClientError as exc:
        raise TargetsError(
            f"the target group's targets cannot be read (DescribeTargetHealth on {target_group_arn}): "
            f"{exc.response.get('Error', {}).get('Message', exc)}",
            hint=(
                "Allow the pipeline role elasticloadbalancing:DescribeTargetHealth, and check the stack's "
                "TargetGroupArn output and the region; nothing was uploaded or scaled."
            ),
        ) from exc
    return {
        item["Target"]["Id"]: item["TargetHealth"]["State"]
        for item in answer.get("TargetHealthDescriptions", [])
        if item.get("TargetHealth", {}).get("State") in REGISTERED_STATES
    }


def members_of(slot_instances: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """Instance id → slot, from each slot's instance ids (DescribeAutoScalingGroups)."""
    return {instance: slot for slot, instances in slot_instances.items() for instance in instances}


def read_evidence(
    codedeploy: Any,
    elbv2: Any | None,
    target_group_arn: str | None,
    *,
    group: deployments.GroupInfo,
    pair: tuple[str, str],
    slot_instances: Mapping[str, Iterable[str]],
    bootstrap_slot: str | None = None,
) -> Evidence:
    """Gather the witnesses: the group's list, the target group (when known) and the group's last successful deployment.

    `slot_instances` maps each slot of `pair` to its instance ids (DescribeAutoScalingGroups); `bootstrap_slot` is
    the bootstrap group's word (`deployments.BootstrapGroupInfo.succeeded_on`), when the stack has that group.
    """
    last = group.last_successful_id
    info = deployments.get_deployment(codedeploy, last) if last else None
    return Evidence(
        pair=pair,
        listed=group.listed_slots,
        members=members_of(slot_instances),
        targets=read_registered(elbv2, target_group_arn) if elbv2 is not None and target_group_arn else None,
        last_success_id=last,
        last_success_slot=last_success_slot(info, pair),
        bootstrap_slot=bootstrap_slot,
    )


def wait_deregistered(
    elbv2: Any,
    target_group_arn: str,
    slot: str,
    instances: Collection[str],
    *,
    runtime: Runtime,
    timeout: float,
    log: Log,
) -> dict[str, str]:
    """Re-read the target group until none of `instances` (the slot's) is registered, or `timeout` seconds passed.

    A deregistering target shows `draining` until the deregistration delay has passed (docs/decisions.md F4, F13), so
    callers bound the wait by that delay plus a little. Returns the instances still registered, with their state: the
    caller decides what a slot that is still registered means (it is never emptied as idle).
    """
    started = runtime.now()
    while True:
        held = {i: s for i, s in read_registered(elbv2, target_group_arn).items() if i in instances}
        if not held or runtime.stop.requested or (runtime.now() - started).total_seconds() >= timeout:
            return held
        log(f"waiting for {slot}'s targets to deregister: {describe_targets(held)}")
        runtime.sleep(TARGETS_POLL_SECONDS)
