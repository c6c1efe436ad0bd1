"""What the finisher does: the finish or cleanup the release tool would have done, through the same functions.

    read (cheap, no write): any deployment in flight?  → nothing (the deployment is not over; its end sends an event)
                            a first release unfinished? → nothing (the bootstrap group lists a slot: the next release
                                                           converges it, release.bootstrap)
                            converged already?         → nothing (the common case of a sweep)
    take the release lease (bluegreen.lease)           → held by a live run: nothing, the run finishes its release
    read again under the lease, then act on the group's last attempted deployment (its rollback resolved):
        Succeeded          → bluegreen.finish.switch_steps: point the group at the slot it targeted, empty the other
        Failed or Stopped  → empty the slot it targeted when bluegreen.finish.idle_may_be_emptied and the target group
                             holds none of its instances (else it stays, and the next sweep looks again)
        always             → resume the processes a release suspends, on both slots
    release the lease

Every step sets a value, so running twice, or after the tool, changes nothing more (docs/decisions.md F62: events may
arrive more than once or late; the group's state is read, never the event's word). The event is only a trigger: the
deployment acted on is the group's `lastAttemptedDeployment` (docs/decisions.md F60), so a late event of an old
deployment cannot undo a newer release.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bluegreen import bake, finish
from bluegreen.lease import LeaseUnavailable, S3Lease, aws_error_code, lease_key

IN_FLIGHT_STATUSES = ("Created", "Queued", "InProgress", "Ready", "Baking")
AWS_ERRORS = (ClientError, BotoCoreError)


class Action(StrEnum):
    """What one invocation did."""

    NOTHING_TO_DO = "nothing-to-do"
    DEPLOYMENT_IN_FLIGHT = "deployment-in-flight"
    FIRST_RELEASE = "first-release-left-to-the-tool"
    NO_DEPLOYMENT = "no-deployment-to-finish"
    LEASE_HELD = "lease-held-by-a-live-run"
    SWITCHED = "switched"
    CLEANED_UP = "cleaned-up"
    SLOT_LEFT = "failed-slot-left-running"
    LEFT_ALONE = "left-alone"
    BAKING = "bake-window-open"
    FAST_ROLLBACK_PENDING = "fast-rollback-pending"
    FAST_ROLLBACK_FINISHED = "fast-rollback-finished"


@dataclass(frozen=True)
class Stack:
    """What the finisher converges: one blue/green group, its two slots, its bucket (the lease), its target group."""

    application: str
    deployment_group: str
    bootstrap_group: str | None
    slots: tuple[str, str]
    bucket: str
    target_group_arn: str

    def other(self, slot: str) -> str:
        """The slot of the pair that is not `slot`."""
        return self.slots[1] if slot == self.slots[0] else self.slots[0]


@dataclass(frozen=True)
class Clients:
    """boto3 clients (or moto / fakes in tests)."""

    codedeploy: Any
    autoscaling: Any
    elbv2: Any
    s3: Any


@dataclass
class Outcome:
    """The decision, why, and the steps done and failed (each failure with its AWS error code)."""

    action: Action
    reason: str
    deployment_id: str | None = None
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    lease_note: str | None = None
    # Set when the bake window's record exists but is not one (`bake.WindowUnreadable`): acted on as if absent.
    window_note: str | None = None


class FinishIncompleteError(Exception):
    """A step failed; the others were still tried. The handler raises it so Lambda retries (all steps idempotent)."""

    def __init__(self, outcome: Outcome) -> None:
        """Carry the outcome for the log line."""
        super().__init__(f"{outcome.action}: could not {'; '.join(outcome.failed)}")
        self.outcome = outcome


@dataclass(frozen=True)
class _State:
    listed: tuple[str, ...]
    slots: dict[str, finish.Slot]
    last_attempted: str
    unfinished: str


def _read(clients: Clients, stack: Stack) -> _State | Outcome:
    """The group, the deployments in flight and both slots; an `Outcome` when there is nothing to do."""
    codedeploy = clients.codedeploy
    info = codedeploy.get_deployment_group(
        applicationName=stack.application, deploymentGroupName=stack.deployment_group
    )
    group = info["deploymentGroupInfo"]
    in_flight = codedeploy.list_deployments(
        applicationName=stack.application,
        deploymentGroupName=stack.deployment_group,
        includeOnlyStatuses=list(IN_FLIGHT_STATUSES),
    )["deployments"]
    if in_flight:
        return Outcome(Action.DEPLOYMENT_IN_FLIGHT, f"deployment {in_flight[0]} is not over yet", in_flight[0])
    if stack.bootstrap_group:
        bootstrap = codedeploy.get_deployment_group(
            applicationName=stack.application, deploymentGroupName=stack.bootstrap_group
        )["deploymentGroupInfo"]
        if bootstrap.get("autoScalingGroups"):
            return Outcome(
                Action.FIRST_RELEASE,
                f"the bootstrap group {stack.bootstrap_group} lists a slot: a first release is under way or was "
                "interrupted; the next release converges it",
            )
    listed = tuple(str(item["name"]) for item in group.get("autoScalingGroups", []))
    slots = finish.read_slots(clients.autoscaling, stack.slots)
    unfinished = finish.converged(listed, slots)
    if unfinished is None:
        return Outcome(Action.NOTHING_TO_DO, f"converged: {listed[0]} is live")
    last = (group.get("lastAttemptedDeployment") or {}).get("deploymentId")
    if not last:
        return Outcome(Action.NO_DEPLOYMENT, f"{unfinished}, but the group has no deployment to finish")
    return _State(listed, slots, str(last), unfinished)


def converge(clients: Clients, stack: Stack, *, now: Callable[[], datetime], owner: str, request_id: str) -> Outcome:
    """Finish or clean up the group's last release if it is unfinished and no live run holds the lease.

    Raises `FinishIncompleteError` when a step failed (after trying every other one), and lets an AWS error of a read
    go up: Lambda retries the invocation, then the dead-letter queue keeps the event.
    """
    state = _read(clients, stack)
    if isinstance(state, Outcome):
        return state
    kept = _window_keeps(_window(clients, stack, state)[0], now())
    if kept is not None:
        return kept
    lease = S3Lease(
        clients.s3,
        stack.bucket,
        lease_key(stack.application, stack.deployment_group),
        release_id=f"finisher-{request_id}",
        command="finish",
        owner=owner,
        now=now,
    )
    try:
        taken_over = lease.acquire()
    except LeaseUnavailable as exc:
        return Outcome(
            Action.LEASE_HELD,
            f"{exc}; a live run finishes its own release (if it died, a sweep after the lease expired does)",
            state.last_attempted,
        )
    try:
        # Read again under the lease: the run that held it until now may have finished meanwhile.
        state = _read(clients, stack)
        outcome = state if isinstance(state, Outcome) else _act_after_window(clients, stack, state, now())
    finally:
        released = lease.release()
    outcome.lease_note = "; ".join(note for note in (taken_over, released) if note) or None
    if outcome.failed:
        raise FinishIncompleteError(outcome)
    return outcome


def _resolve(codedeploy: Any, deployment_id: str) -> tuple[dict[str, Any], str | None]:
    """The deployment a release created, and the status of its rollback (None without one).

    A rollback is a deployment of its own (creator `codeDeployRollback`) that names the one it rolls back
    (`rollbackInfo.rollbackTriggeringDeploymentId`); the original names its rollback (`rollbackDeploymentId`).
    """
    info: dict[str, Any] = codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    rollback = info.get("rollbackInfo") or {}
    triggering = rollback.get("rollbackTriggeringDeploymentId")
    if triggering:
        original: dict[str, Any] = codedeploy.get_deployment(deploymentId=triggering)["deploymentInfo"]
        return original, str(info.get("status"))
    rollback_id = rollback.get("rollbackDeploymentId")
    if rollback_id:
        status = codedeploy.get_deployment(deploymentId=rollback_id)["deploymentInfo"].get("status")
        return info, str(status)
    return info, None


def _act(clients: Clients, stack: Stack, state: _State) -> Outcome:
    deployment, rollback_status = _resolve(clients.codedeploy, state.last_attempted)
    deployment_id = str(deployment.get("deploymentId", state.last_attempted))
    status = str(deployment.get("status"))
    targeted = list((deployment.get("targetInstances") or {}).get("autoScalingGroups") or [])
    slot = targeted[0] if len(targeted) == 1 and targeted[0] in stack.slots else None
    if slot is None:
        outcome = Outcome(
            Action.LEFT_ALONE, f"{state.unfinished}; deployment {deployment_id} targeted {targeted}", deployment_id
        )
    elif status == "Succeeded":
        outcome = _after_success(clients, stack, state, slot, deployment_id)
    elif status in ("Failed", "Stopped"):
        outcome = _after_failure(
            clients, stack, state, slot, deployment_id=deployment_id, status=status, rollback_status=rollback_status
        )
    else:
        outcome = Outcome(Action.LEFT_ALONE, f"deployment {deployment_id} is {status}", deployment_id)
    _resume(clients, state, outcome)
    return outcome


def _run(step: finish.Step, outcome: Outcome) -> None:
    try:
        step.call()
    except AWS_ERRORS as exc:
        outcome.failed.append(f"{step.what} ({aws_error_code(exc)})")
        return
    outcome.done.append(step.what)


def _resume(clients: Clients, state: _State, outcome: Outcome) -> None:
    """Resume what a release suspends, on every slot that has it suspended (each tried even if another fails)."""
    for name, slot in sorted(state.slots.items()):
        if slot.paused:
            _run(
                finish.Step(
                    f"resume scaling processes on {name}",
                    lambda name=name: finish.resume_processes(clients.autoscaling, name),  # type: ignore[misc]
                    finish.resume_command(name),
                ),
                outcome,
            )


def _after_success(clients: Clients, stack: Stack, state: _State, slot: str, deployment_id: str) -> Outcome:
    """The deployment succeeded onto `slot`: make it the live slot and empty the other one (the tool's switch)."""
    if state.slots[slot].serving == 0:
        # Never point the group at, nor empty the other slot for, a slot that serves nothing (an operator emptied it
        # since): that would be an outage. The next release decides (release.live).
        return Outcome(
            Action.LEFT_ALONE, f"deployment {deployment_id} succeeded onto {slot}, which serves no instance now"
        )
    outcome = Outcome(Action.SWITCHED, f"deployment {deployment_id} succeeded onto {slot}", deployment_id)
    point, empty_old = finish.switch_steps(
        clients.codedeploy,
        clients.autoscaling,
        application=stack.application,
        group=stack.deployment_group,
        new_live=slot,
        old_live=stack.other(slot),
    )
    if state.listed != (slot,):
        _run(point, outcome)
    if not state.slots[stack.other(slot)].empty:
        _run(empty_old, outcome)
    return outcome


def _after_failure(
    clients: Clients,
    stack: Stack,
    state: _State,
    slot: str,
    *,
    deployment_id: str,
    status: str,
    rollback_status: str | None,
) -> Outcome:
    """The deployment onto `slot` failed or was stopped, and its rollback is over: empty `slot` when no traffic can be
    on it (the tool's cleanup of the idle slot)."""
    reason = f"deployment {deployment_id} {status.lower()}"
    if slot in state.listed:
        return Outcome(Action.LEFT_ALONE, f"{reason}, but the group lists {slot}: it is never emptied", deployment_id)
    events = finish.lifecycle_events(clients.codedeploy, deployment_id)
    if not finish.idle_may_be_emptied(
        traffic_reached_green=finish.traffic_reached_green(events), rollback_status=rollback_status
    ):
        return Outcome(
            Action.SLOT_LEFT,
            f"{reason}; a green instance reached AllowTraffic and the rollback is {rollback_status or 'absent'}: "
            f"traffic may be on {slot}, so it stays until an operator decides",
            deployment_id,
        )
    held = finish.registered_instances(clients.elbv2, stack.target_group_arn, state.slots[slot].staying)
    if held:
        return Outcome(
            Action.SLOT_LEFT,
            f"{reason}; the target group still holds {', '.join(sorted(held))} of {slot}: the next sweep looks again",
            deployment_id,
        )
    outcome = Outcome(Action.CLEANED_UP, f"{reason}; rollback {rollback_status or 'none'}", deployment_id)
    if not state.slots[slot].empty:
        _run(
            finish.Step(f"empty {slot}", lambda: finish.empty_slot(clients.autoscaling, slot), ""),
            outcome,
        )
    return outcome


# -- the bake window (issue 14 §1; release.bake) -----------------------------------------------------------------------


def _window(clients: Clients, stack: Stack, state: _State) -> tuple[bake.Window | None, str | None]:
    """The bake window of the group's last attempted deployment, if that deployment opened one; and a note when the
    record exists but is not a window (then it is taken as absent, as a denied read is: raising would only send every
    sweep to the dead-letter queue, and the release tool refuses such a record, so no run acts on it)."""
    # The role may read this one key but not list the bucket: a missing window answers 403 (docs/decisions.md F86).
    key = bake.window_key(stack.application, stack.deployment_group)
    try:
        window = bake.read_window(clients.s3, stack.bucket, key, denied_means_absent=True)
    except bake.WindowUnreadable as exc:
        return None, f"bake window record unreadable, taken as absent: {exc}"
    return (window if window is not None and window.deployment_id == state.last_attempted else None), None


def _window_keeps(window: bake.Window | None, now: datetime) -> Outcome | None:
    """An `Outcome` when the window says the old slot must stay: open before its deadline, or a fast rollback asked
    for before it (`deploy.py rollback` performs it once it can take the lease); None when the finisher may act."""
    if window is None:
        return None
    if window.state == bake.OPEN and not window.expired(now):
        return Outcome(
            Action.BAKING,
            f"bake window of release {window.release_id} open until {window.deadline.isoformat()}: "
            f"{window.old_slot} is kept for a fast rollback",
            window.deployment_id,
        )
    if window.state in (bake.ROLLBACK_REQUESTED, bake.ROLLING_BACK):
        return Outcome(
            Action.FAST_ROLLBACK_PENDING,
            f"a fast rollback onto {window.old_slot} is {window.state} ({window.reason}); "
            "`python scripts/deploy.py rollback` completes it",
            window.deployment_id,
        )
    return None


def _act_after_window(clients: Clients, stack: Stack, state: _State, now: datetime) -> Outcome:
    """Under the lease: leave a window that keeps its slot, finish a fast rollback that reached the old slot, or
    finish the release as `_act` does and then close an expired (or end-requested) window."""
    window, note = _window(clients, stack, state)
    kept = _window_keeps(window, now)
    if kept is not None:
        return kept
    if window is not None and window.state == bake.ROLLED_BACK:
        outcome = _finish_fast_rollback(clients, stack, state, window)
        _resume(clients, state, outcome)
        return outcome
    outcome = _act(clients, stack, state)
    outcome.window_note = note
    if window is not None and window.state in bake.KEEPS_OLD_SLOT and not outcome.failed:
        closed = window.with_state(bake.CLOSED, reason="deadline passed: the finisher emptied the old slot", at=now)
        key = bake.window_key(stack.application, stack.deployment_group)
        _run(finish.Step("close the bake window", lambda: _store(clients.s3, stack.bucket, key, closed), ""), outcome)
    return outcome


def _store(s3: Any, bucket: str, key: str, window: bake.Window) -> None:
    bake.change(s3, bucket, key, window)


def _finish_fast_rollback(clients: Clients, stack: Stack, state: _State, window: bake.Window) -> Outcome:
    """Traffic reached the old slot (state rolled-back) but the run stopped before the end: point the group back at
    the old slot and empty the new one (the drain hook deregisters and drains each instance)."""
    outcome = Outcome(
        Action.FAST_ROLLBACK_FINISHED,
        f"fast rollback onto {window.old_slot} ({window.reason}) left unfinished",
        window.deployment_id,
    )
    point, empty_new = bake.rollback_steps(
        clients.codedeploy,
        clients.autoscaling,
        application=stack.application,
        group=stack.deployment_group,
        window=window,
    )
    if state.listed != (window.old_slot,):
        _run(point, outcome)
    if window.new_slot in state.slots and not state.slots[window.new_slot].empty:
        _run(empty_new, outcome)
    return outcome
