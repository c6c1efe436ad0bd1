"""The release state machine: bundle → pre-flight → upload → slots → deploy → follow → finish (or clean up).

Every run derives the situation from AWS (the deployment group, the slots, the deployments in flight), never from
files on the runner, so a run after a crash knows what to do:

* Live slot: the slot the deployment group lists (DESIGN F3). When it lists none (first release), slot A is taken as
  the (empty) live slot and slot B is filled. When the group's last successful deployment was created by a user
  (this tool) and targeted the *other* slot, a previous run was interrupted after its deployment succeeded but before
  it pointed the group at the new slot: the switch is finished first, so traffic and the group agree again.
* Crashed release: with no deployment in flight, an idle slot that still wants or holds instances was left behind by
  an interrupted run. It is emptied (and waited for) before being filled again, because instances holding part of an
  unfinished deployment can fail the next Install (fileExistsBehavior DISALLOW). Scaling processes this tool
  suspends are resumed on both slots first, since a crash may have left them suspended.
* Capacity: the idle slot gets max(live slot's desired, the stack's fleet desired), capped at the larger of the slot's
  and the fleet's maximum, with the fleet's minimum.
* On SIGINT/SIGTERM or the timeout the deployment is stopped with rollback at once. The idle slot is emptied when
  traffic cannot be on it: no green instance reached AllowTraffic, or the rollback deployment succeeded. Otherwise
  it is left for CodeDeploy's rollback, and the next run tidies it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from release import deployments, slots
from release.appspec import BLUE_EVENT_ORDER, GREEN_EVENT_ORDER
from release.bundle import build_bundle
from release.deploy_errors import Cancelled, DeploymentFailed, TargetsError, TimedOut
from release.errors import ReleaseError
from release.follow import FollowResult, Snapshot, failure_lines, follow
from release.record import ReleaseRecord
from release.runtime import Runtime
from release.targets import Targets, check_bucket
from release.upload import upload_bundle
from release.views import LineView, LiveView

View = LineView | LiveView
# Waiting for CodeDeploy to name the rollback deployment of a failed/stopped one (rollbackInfo appears shortly after).
ROLLBACK_ID_WAIT_SECONDS = 60.0
ROLLBACK_ID_POLL_SECONDS = 5.0


@dataclass(frozen=True)
class Clients:
    """The AWS clients the release uses, built by the CLI."""

    s3: Any
    autoscaling: Any
    codedeploy: Any
    elbv2: Any | None = None


@dataclass(frozen=True)
class ReleaseOptions:
    """How to release."""

    app_dir: Path | None
    out_dir: Path
    env: Mapping[str, str]
    description: str | None = None
    timeout_seconds: float | None = None
    scale_timeout_seconds: float = 900.0
    cleanup_timeout_seconds: float = 120.0
    rollback_timeout_seconds: float = 900.0
    key_prefix: str | None = None


@dataclass(frozen=True)
class SlotPlan:
    """Which slot serves and which one receives the release."""

    live: str
    idle: str
    live_state: slots.SlotState
    idle_state: slots.SlotState
    first_release: bool


@dataclass(frozen=True)
class Run:
    """One run's collaborators: clients, where to release, how, the clock and the view; `record` collects facts."""

    clients: Clients
    targets: Targets
    options: ReleaseOptions
    runtime: Runtime
    view: View
    record: ReleaseRecord


def _raise_if_stopped(run: Run, before: str) -> None:
    """A stop requested while bundling, uploading or filling the slot ends the run before the next step."""
    if run.runtime.stop.requested:
        raise Cancelled(f"release cancelled ({run.runtime.stop.reason}) before {before}")


def _ci_value(env: Mapping[str, str], *names: str) -> str | None:
    return next((env[name] for name in names if env.get(name)), None)


def plan_slots(run: Run, group: deployments.GroupInfo) -> SlotPlan:
    """Decide live and idle slot, finishing a switch an interrupted run left undone (see module docstring)."""
    clients = run.clients
    targets = run.targets
    view = run.view
    record = run.record
    listed = [name for name in group.listed_slots if name in targets.slots]
    if len(listed) > 1:
        raise TargetsError(
            f"deployment group {group.name} lists both slots ({', '.join(listed)}); the live slot is ambiguous",
            hint=(
                "Set it to the slot that serves traffic: aws deploy update-deployment-group --application-name "
                f"{group.application} --current-deployment-group-name {group.name} --auto-scaling-groups <live slot>"
            ),
        )
    live = listed[0] if listed else targets.slots[0]
    switched = _unfinished_switch(clients.codedeploy, group, targets.slots, live)
    if switched:
        note = (
            f"previous release {group.last_successful_id} succeeded on {switched} but the group still lists "
            f"{live}: finishing that switch first"
        )
        view.note(note)
        record.recovered.append(note)
        point_group_at(clients.codedeploy, group, switched)
        live = switched
    idle = targets.slots[1] if live == targets.slots[0] else targets.slots[0]
    states = slots.describe_slots(clients.autoscaling, targets.slots)
    first = states[live].serving == 0
    if first:
        view.note(f"{live} has no serving instance: first release (nothing to protect on the live side)")
    return SlotPlan(live, idle, states[live], states[idle], first)


def _unfinished_switch(codedeploy: Any, group: deployments.GroupInfo, pair: tuple[str, str], live: str) -> str | None:
    if not group.last_successful_id:
        return None
    info = deployments.get_deployment(codedeploy, group.last_successful_id)
    # Only deployments a user (this tool) created name the slot that received traffic; a codeDeployRollback
    # deployment restores the original environment and says nothing about a switch.
    if info.get("creator") != "user":
        return None
    target = (info.get("targetInstances") or {}).get("autoScalingGroups") or []
    if len(target) == 1 and target[0] in pair and target[0] != live:
        return str(target[0])
    return None


def point_group_at(codedeploy: Any, group: deployments.GroupInfo, slot: str) -> None:
    """UpdateDeploymentGroup(autoScalingGroups=[slot]): the group's original environment is now that slot (F3)."""
    codedeploy.update_deployment_group(
        applicationName=group.application, currentDeploymentGroupName=group.name, autoScalingGroups=[slot]
    )


def prepare_idle(run: Run, plan: SlotPlan) -> None:
    """Resume processes a crash may have left suspended; empty an idle slot left scaled up; wait out draining."""
    clients = run.clients
    options = run.options
    runtime = run.runtime
    view = run.view
    record = run.record
    slots.resume(clients.autoscaling, (plan.live, plan.idle))
    idle = plan.idle_state
    if idle.occupied:
        note = (
            f"{idle.name} is idle but holds {len(idle.staying)} instance(s) (desired {idle.desired}) with no "
            "deployment in flight: an interrupted release left it; emptying it before the new release"
        )
        view.note(note)
        record.recovered.append(note)
        slots.scale(clients.autoscaling, idle, 0, minimum=0)
    if idle.instances:
        slots.wait_empty(
            clients.autoscaling, idle.name, runtime=runtime, timeout=options.scale_timeout_seconds, log=view.note
        )


def capacity_for(plan: SlotPlan, targets: Targets) -> int:
    """max(live desired, fleet desired), capped at the larger of the idle slot's and the fleet's maximum."""
    wanted = max(plan.live_state.desired, targets.fleet.desired)
    return min(wanted, max(plan.idle_state.max_size, targets.fleet.maximum))


def _hook_seconds(appspec: Any, events: tuple[str, ...]) -> int:
    hooks = getattr(appspec, "hooks", {}) or {}
    return sum(script.timeout_seconds for event in events for script in hooks.get(event, ()))


def _timeout(run: Run, group: deployments.GroupInfo, plan: SlotPlan, capacity: int, appspec: Any) -> float:
    clients = run.clients
    targets = run.targets
    options = run.options
    if options.timeout_seconds:
        return options.timeout_seconds
    return deployments.default_timeout_seconds(
        group,
        green_instances=capacity,
        blue_instances=plan.live_state.serving,
        green_hook_seconds=_hook_seconds(appspec, GREEN_EVENT_ORDER),
        blue_hook_seconds=_hook_seconds(appspec, BLUE_EVENT_ORDER),
        traffic=deployments.read_traffic_timing(clients.elbv2, targets.target_group_arn),
    )


def _traffic_reached_green(snapshot: Snapshot | None) -> bool:
    if snapshot is None:
        return False
    return any(
        event.name == "AllowTraffic" and event.status in ("InProgress", "Succeeded", "Failed")
        for target in snapshot.targets
        if target.label == "Green"
        for event in target.events
    )


def _follow_rollback(run: Run, deployment_id: str, timeout: float) -> None:
    """Find the rollback deployment CodeDeploy started for `deployment_id` and follow it to its end."""
    clients = run.clients
    runtime = run.runtime
    view = run.view
    record = run.record
    waited = 0.0
    signals_seen = runtime.stop.count
    while True:
        info = deployments.get_deployment(clients.codedeploy, deployment_id)
        rollback = info.get("rollbackInfo") or {}
        record.rollback_message = rollback.get("rollbackMessage")
        record.rollback_id = rollback.get("rollbackDeploymentId")
        if record.rollback_id or waited >= ROLLBACK_ID_WAIT_SECONDS or runtime.stop.count > signals_seen:
            break
        runtime.sleep(ROLLBACK_ID_POLL_SECONDS)
        waited += ROLLBACK_ID_POLL_SECONDS
    if not record.rollback_id:
        view.note(f"no rollback deployment ({record.rollback_message or 'CodeDeploy started none'})")
        return
    view.note(f"rollback deployment {record.rollback_id} started by CodeDeploy; following it")
    result = follow(
        clients.codedeploy,
        record.rollback_id,
        runtime=runtime,
        view=view,
        timeout=timeout,
        stop_at=signals_seen + 1,
    )
    record.rollback_status = result.snapshot.status
    view.note(f"rollback deployment {record.rollback_id}: {record.rollback_status}")


def _empty_idle(run: Run, idle: str, *, traffic_safe: bool) -> None:
    clients = run.clients
    view = run.view
    if not traffic_safe:
        view.note(
            f"{idle} left running: traffic may still reach it until CodeDeploy's rollback finishes; "
            "the next run empties it"
        )
        return
    state = slots.describe_slots(clients.autoscaling, [idle])[idle]
    slots.scale(clients.autoscaling, state, 0, minimum=0)
    view.note(f"{idle} scaled back to 0")


def _finish_unsuccessful(run: Run, plan: SlotPlan, result: FollowResult) -> ReleaseError:
    """Report the failure, follow the rollback, empty the idle slot when safe; return the error to raise."""
    clients = run.clients
    options = run.options
    runtime = run.runtime
    view = run.view
    record = run.record
    assert record.deployment_id is not None
    snapshot = result.snapshot
    if result.ending in ("timeout", "cancelled") and runtime.stop.count <= 1:
        # The deployment was stopped; wait (bounded) for it to settle so its outcome and rollback can be reported.
        ended = follow(
            clients.codedeploy,
            record.deployment_id,
            runtime=runtime,
            view=view,
            timeout=options.cleanup_timeout_seconds,
            stop_at=runtime.stop.count + 1,
        )
        snapshot = ended.snapshot
    record.snapshot = snapshot
    record.deployment_status = snapshot.status
    record.failure = failure_lines(snapshot.targets)
    info = snapshot.deployment.get("errorInformation") or {}
    if info:
        record.failure.insert(0, f"deployment error {info.get('code', '?')}: {info.get('message', '')}")
    for line in record.failure:
        view.note(line)
    rollback_timeout = (
        options.cleanup_timeout_seconds if result.ending != "finished" else options.rollback_timeout_seconds
    )
    if snapshot.status in deployments.TERMINAL_STATUSES and runtime.stop.count <= 1:
        _follow_rollback(run, record.deployment_id, rollback_timeout)
    traffic_safe = not _traffic_reached_green(snapshot) or record.rollback_status == "Succeeded"
    _empty_idle(run, plan.idle, traffic_safe=traffic_safe)
    rolled = f" Rollback {record.rollback_id}: {record.rollback_status or 'unknown'}." if record.rollback_id else ""
    if result.ending == "timeout":
        return TimedOut(
            f"deployment {record.deployment_id} did not finish within {record.timeout_seconds:.0f} s; "
            f"it was stopped with rollback.{rolled}"
        )
    if result.ending == "cancelled":
        return Cancelled(
            f"release cancelled ({runtime.stop.reason}); deployment {record.deployment_id} was stopped "
            f"with rollback.{rolled}"
        )
    return DeploymentFailed(
        f"deployment {record.deployment_id} {snapshot.status.lower()}; traffic stays on {plan.live}.{rolled}"
    )


def _fill_and_deploy(
    run: Run, group: deployments.GroupInfo, plan: SlotPlan, revision: dict[str, Any], appspec: Any
) -> FollowResult:
    """Fill the idle slot, wait until it serves, deploy to it with scaling paused, follow; stop on timeout/cancel."""
    clients, targets, options, runtime, view, record = (
        run.clients,
        run.targets,
        run.options,
        run.runtime,
        run.view,
        run.record,
    )
    capacity = capacity_for(plan, targets)
    record.capacity = capacity
    with record.phase("scale-up", runtime):
        view.note(f"scaling {plan.idle} to {capacity} instance(s) (live {plan.live} has {plan.live_state.desired})")
        idle_now = slots.describe_slots(clients.autoscaling, [plan.idle])[plan.idle]
        slots.scale(clients.autoscaling, idle_now, capacity, minimum=min(targets.fleet.minimum, capacity))
        slots.wait_serving(
            clients.autoscaling,
            plan.idle,
            capacity,
            runtime=runtime,
            timeout=options.scale_timeout_seconds,
            log=view.note,
        )
    record.timeout_seconds = _timeout(run, group, plan, capacity, appspec)
    with (
        record.phase("deployment", runtime),
        slots.processes_suspended(clients.autoscaling, (plan.live, plan.idle), view.note),
    ):
        _raise_if_stopped(run, "creating the deployment")
        description = deployments.build_description(options.env, options.description)
        record.deployment_id = deployments.create_deployment(
            clients.codedeploy,
            application=group.application,
            group=group.name,
            revision=revision,
            idle_slot=plan.idle,
            description=description,
        )
        view.note(f"deployment {record.deployment_id} created (timeout {record.timeout_seconds:.0f} s): {description}")
        result = follow(
            clients.codedeploy, record.deployment_id, runtime=runtime, view=view, timeout=record.timeout_seconds
        )
        record.snapshot = result.snapshot
        record.deployment_status = result.snapshot.status
        if result.ending in ("timeout", "cancelled"):
            # Stop first, within seconds of the signal or deadline; everything else can wait (CI kills soon after
            # SIGTERM). Processes are resumed right after, on the way out of this block.
            message = deployments.stop_deployment(clients.codedeploy, record.deployment_id)
            view.note(f"StopDeployment with rollback: {message}")
    return result


def deploy_revision(run: Run, group: deployments.GroupInfo, revision: dict[str, Any], appspec: Any) -> None:
    """From the slots onwards: fill the idle slot, deploy to it, follow, and switch or clean up."""
    clients = run.clients
    runtime = run.runtime
    view = run.view
    record = run.record
    _raise_if_stopped(run, "touching the slots")
    with record.phase("slots", runtime):
        plan = plan_slots(run, group)
        record.live_before, record.idle, record.first_release = plan.live, plan.idle, plan.first_release
        prepare_idle(run, plan)
    try:
        result = _fill_and_deploy(run, group, plan, revision, appspec)
    except ReleaseError:
        if record.deployment_id is None:
            # Nothing was deployed (interrupted while filling, or refused by CreateDeployment): emptying is safe.
            _empty_idle(run, plan.idle, traffic_safe=True)
        raise
    if not (result.ending == "finished" and result.snapshot.status == "Succeeded"):
        with record.phase("rollback", runtime):
            raise _finish_unsuccessful(run, plan, result)
    with record.phase("switch", runtime):
        point_group_at(clients.codedeploy, group, plan.idle)
        record.live_after = plan.idle
        view.note(f"deployment group {group.name} now lists {plan.idle} as the live slot")
        old = slots.describe_slots(clients.autoscaling, [plan.live])[plan.live]
        slots.scale(clients.autoscaling, old, 0, minimum=0)
        view.note(f"{plan.live} scaling to 0; the drain Lambda lets each instance go once its connections drained")


def run_release(
    clients: Clients,
    targets: Targets,
    options: ReleaseOptions,
    runtime: Runtime,
    view: View,
    *,
    revision: dict[str, Any] | None = None,
    command: str = "release",
) -> ReleaseRecord:
    """Release `options.app_dir` (or the given `revision`, for `rollback`); never raises a `ReleaseError`.

    The outcome (and the error, if any) is in the returned record, so the report is written on every path.
    """
    record = ReleaseRecord(
        command=command,
        started=runtime.now(),
        application=targets.application,
        deployment_group=targets.deployment_group,
    )
    run = Run(clients, targets, options, runtime, view, record)
    appspec: Any = None
    try:
        if revision is None:
            assert options.app_dir is not None
            with record.phase("bundle", runtime):
                bundle = build_bundle(options.app_dir, options.out_dir)
                appspec = bundle.appspec
                record.bundle_path, record.bundle_sha256 = str(bundle.path), bundle.sha256
                record.bundle_size, record.bundle_files = bundle.size, bundle.file_count
                view.note(f"bundle {bundle.path.name}: {bundle.file_count} files, {bundle.size} bytes, appspec valid")
        with record.phase("pre-flight", runtime):
            check_bucket(clients.s3, targets.bucket)
            group = deployments.get_group(clients.codedeploy, targets.application, targets.deployment_group)
            deployments.refuse_if_in_flight(clients.codedeploy, targets.application, targets.deployment_group)
            slots.describe_slots(clients.autoscaling, targets.slots)
        if revision is None:
            with record.phase("upload", runtime):
                stored = upload_bundle(
                    clients.s3,
                    bundle,
                    bucket=targets.bucket,
                    application=targets.application,
                    prefix=options.key_prefix,
                    commit=_ci_value(options.env, "BITBUCKET_COMMIT", "GITHUB_SHA", "RELEASE_COMMIT"),
                    branch=_ci_value(options.env, "BITBUCKET_BRANCH", "GITHUB_REF_NAME", "RELEASE_BRANCH"),
                    build=_ci_value(options.env, "BITBUCKET_BUILD_NUMBER", "GITHUB_RUN_ID", "RELEASE_BUILD"),
                )
                revision = stored.to_codedeploy()
                record.uploaded = stored.uploaded
                view.note(
                    f"{'uploaded' if stored.uploaded else 'unchanged, upload skipped'}: "
                    f"s3://{stored.bucket}/{stored.key}"
                )
        record.revision = revision
        deploy_revision(run, group, revision, appspec)
    except ReleaseError as exc:
        record.error = exc
    except ClientError as exc:
        # An AWS refusal the tool does not expect (permissions, a limit): say which call and what to check.
        operation = getattr(exc, "operation_name", "an AWS call")
        record.error = DeploymentFailed(
            f"{operation} failed: {exc.response.get('Error', {}).get('Message', exc)}",
            hint="Check the pipeline role's permissions and the resources named above; run `status`, then retry.",
        )
        if record.idle and record.live_after is None:
            _empty_idle(run, record.idle, traffic_safe=record.deployment_id is None)
    finally:
        record.finished = runtime.now()
        view.close()
    return record
