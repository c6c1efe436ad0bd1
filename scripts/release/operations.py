"""The small subcommands: `status` (what is live, runs, ran), `stop`, and the revision `rollback` goes back to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from release import deployments, live, slots
from release.errors import LiveSlotUnclear, ReleaseError, TargetsError
from release.targets import Targets

# How far back `rollback` looks for the previous successful release.
ROLLBACK_LOOKBACK = timedelta(days=90)


def _revision_name(info: dict[str, Any]) -> str:
    location = (info.get("revision") or {}).get("s3Location") or {}
    return f"s3://{location.get('bucket')}/{location.get('key')}" if location else "-"


def _evidence(
    codedeploy: Any,
    elbv2: Any | None,
    targets: Targets,
    group: deployments.GroupInfo,
    states: dict[str, slots.SlotState],
) -> live.Evidence:
    """The witnesses of the live slot, read as a release reads them (the bootstrap group's word included)."""
    boot = (
        deployments.get_bootstrap_group(codedeploy, targets.application, targets.bootstrap_group)
        if targets.bootstrap_group
        else None
    )
    return live.read_evidence(
        codedeploy,
        elbv2,
        targets.target_group_arn,
        group=group,
        pair=targets.slots,
        slot_instances={name: [i.instance_id for i in states[name].instances] for name in targets.slots},
        bootstrap_slot=boot.succeeded_on(targets.slots) if boot else None,
    )


def _live_slot(evidence: live.Evidence) -> tuple[str | None, str]:
    """The live slot as the next release resolves it (`release.live`), and the line that says so."""
    try:
        decision = live.resolve(evidence)
    except LiveSlotUnclear as exc:
        return None, f"unclear, the next release stops with exit 2: {exc.message}"
    line = (
        decision.live if decision.checked else f"{decision.live} (the deployment group's list alone: no target group)"
    )
    if decision.repoint:
        line += f"; the next release first fixes the list: {decision.repoint}"
    return decision.live, line


def print_status(
    codedeploy: Any, autoscaling: Any, targets: Targets, stream: TextIO, *, last: int, elbv2: Any | None = None
) -> int:
    """Print the live slot, both slots' instances and targets, the deployment in flight and the last deployments.

    The live slot is shown as the next release would resolve it (`release.live`), so a refusal shows here first.
    """
    group = deployments.get_group(codedeploy, targets.application, targets.deployment_group)
    states = slots.describe_slots(autoscaling, targets.slots)
    stream.write(f"deployment group  {targets.application} / {targets.deployment_group} ({group.deployment_config})\n")
    evidence: live.Evidence | None = None
    try:
        evidence = _evidence(codedeploy, elbv2, targets, group, states)
        current, line = _live_slot(evidence)
    except ReleaseError as exc:
        current, line = None, f"cannot be determined: {exc.message}"
    stream.write(f"live slot         {line}\n")
    for name in targets.slots:
        state = states[name]
        mark = "live" if name == current else "idle" if current else "?"
        suspended = f", suspended: {', '.join(sorted(state.suspended))}" if state.suspended else ""
        registered = (
            f", registered: {live.describe_targets(evidence.registered_in(name))}"
            if evidence is not None and evidence.targets is not None
            else ""
        )
        stream.write(
            f"  {mark:4}  {name}: desired {state.desired} (min {state.min_size}, max {state.max_size}), "
            f"{state.serving} InService, {len(state.instances) - len(state.staying)} leaving{suspended}{registered}\n"
        )
    in_flight = deployments.deployments_in_flight(codedeploy, targets.application, targets.deployment_group)
    stream.write(f"in flight         {', '.join(in_flight) if in_flight else 'none'}\n")
    recent = deployments.recent_deployments(
        codedeploy, targets.application, targets.deployment_group, last, now=datetime.now(UTC)
    )
    stream.write(f"last {len(recent)} deployments:\n")
    for info in recent:
        created = info.get("createTime")
        when = created.strftime("%Y-%m-%d %H:%M:%SZ") if isinstance(created, datetime) else "?"
        target = ",".join((info.get("targetInstances") or {}).get("autoScalingGroups") or []) or "-"
        stream.write(
            f"  {info.get('deploymentId')}  {when}  {info.get('status', '?'):10} "
            f"{info.get('creator', '?'):18} -> {target}  {_revision_name(info)}  "
            f"{info.get('description', '')}\n"
        )
    return 0


def stop_in_flight(codedeploy: Any, targets: Targets, stream: TextIO) -> int:
    """Stop every deployment in flight for the group, with automatic rollback; 0 also when none runs."""
    ids = deployments.deployments_in_flight(codedeploy, targets.application, targets.deployment_group)
    if not ids:
        stream.write("no deployment in flight; nothing to stop\n")
        return 0
    for deployment_id in ids:
        stream.write(
            f"stopping {deployment_id} with rollback: {deployments.stop_deployment(codedeploy, deployment_id)}\n"
        )
    stream.write(
        "the release that started it (if still running) cleans up its idle slot; otherwise the next release does\n"
    )
    return 0


def previous_revision(codedeploy: Any, targets: Targets) -> tuple[dict[str, Any], str]:
    """The revision of the last successful user deployment before the current one, and that deployment's id.

    "Current" is the group's last successful deployment. Deployments by CodeDeploy's rollback, and ones of the same
    revision as the current one, are skipped: rolling back to what is live would change nothing.
    """
    group = deployments.get_group(codedeploy, targets.application, targets.deployment_group)
    if not group.last_successful_id:
        raise TargetsError(
            "the deployment group has no successful deployment yet; there is nothing to roll back",
            hint="Release a revision first (`python scripts/deploy.py release`).",
        )
    current = deployments.get_deployment(codedeploy, group.last_successful_id)
    end = current["createTime"]
    candidates = deployments.list_deployments(
        codedeploy,
        targets.application,
        targets.deployment_group,
        start=end - ROLLBACK_LOOKBACK,
        end=end,
        statuses=("Succeeded",),
    )
    candidates = [
        info
        for info in candidates
        if info["deploymentId"] != current["deploymentId"]
        and info.get("creator") == "user"
        and info.get("revision") != current.get("revision")
        and info.get("createTime") is not None
        and info["createTime"] < end
    ]
    if not candidates:
        raise TargetsError(
            f"no earlier successful release with a different revision than {_revision_name(current)} "
            f"(looked back {ROLLBACK_LOOKBACK.days} days)",
            hint="Release the wanted revision explicitly with `release --app-dir` from its commit.",
        )
    chosen = max(candidates, key=lambda info: info["createTime"])
    return dict(chosen["revision"]), str(chosen["deploymentId"])
