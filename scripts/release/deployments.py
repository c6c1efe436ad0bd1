"""CodeDeploy calls the release needs, each turned into a small typed answer or a domain error.

Facts relied on (CodeDeploy API reference): one deployment per deployment group at a time
(`DeploymentLimitExceededException`); deployment statuses Created, Queued, InProgress, Baking, Ready (waiting for
ContinueDeployment), Succeeded, Failed, Stopped; `StopDeployment(autoRollbackEnabled=True)` stops and rolls back;
a description is at most 256 characters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from release.deploy_errors import ReleaseInFlight, TargetsError

IN_FLIGHT_STATUSES = ("Created", "Queued", "InProgress", "Ready", "Baking")
TERMINAL_STATUSES = ("Succeeded", "Failed", "Stopped")
DESCRIPTION_LIMIT = 256
BATCH_GET_DEPLOYMENTS_LIMIT = 25  # BatchGetDeployments takes at most 25 ids


@dataclass(frozen=True)
class GroupInfo:
    """The deployment group settings the release depends on (GetDeploymentGroup)."""

    application: str
    name: str
    listed_slots: tuple[str, ...]
    deployment_config: str
    ready_action: str
    ready_wait_minutes: int
    blue_action: str
    blue_wait_minutes: int
    last_successful_id: str | None
    last_attempted_id: str | None


def get_group(codedeploy: Any, application: str, group: str) -> GroupInfo:
    """Read the deployment group; a missing application or group is a `TargetsError`."""
    try:
        info = codedeploy.get_deployment_group(applicationName=application, deploymentGroupName=group)[
            "deploymentGroupInfo"
        ]
    except ClientError as exc:
        raise TargetsError(
            f"deployment group {application}/{group} cannot be read: {exc.response['Error'].get('Message', exc)}",
            hint=(
                "Check --application/--deployment-group (or the stack outputs) and the region; deploy the stack first."
            ),
        ) from exc
    style = info.get("deploymentStyle", {})
    if style.get("deploymentType") != "BLUE_GREEN":
        raise TargetsError(
            f"deployment group {group} is {style.get('deploymentType', 'IN_PLACE')}, not BLUE_GREEN",
            hint="Point the tool at the stack's blue/green group (output DeploymentGroupName).",
        )
    blue_green = info.get("blueGreenDeploymentConfiguration", {})
    ready = blue_green.get("deploymentReadyOption", {})
    blue = blue_green.get("terminateBlueInstancesOnDeploymentSuccess", {})
    return GroupInfo(
        application=application,
        name=group,
        listed_slots=tuple(item["name"] for item in info.get("autoScalingGroups", [])),
        deployment_config=info.get("deploymentConfigName", "CodeDeployDefault.OneAtATime"),
        ready_action=ready.get("actionOnTimeout", "CONTINUE_DEPLOYMENT"),
        ready_wait_minutes=int(ready.get("waitTimeInMinutes", 0)),
        blue_action=blue.get("action", "KEEP_ALIVE"),
        blue_wait_minutes=int(blue.get("terminationWaitTimeInMinutes", 0)),
        last_successful_id=info.get("lastSuccessfulDeployment", {}).get("deploymentId"),
        last_attempted_id=info.get("lastAttemptedDeployment", {}).get("deploymentId"),
    )


def deployments_in_flight(codedeploy: Any, application: str, group: str) -> list[str]:
    """Ids of the group's deployments that are not finished (ListDeployments includeOnlyStatuses)."""
    ids: list[str] = []
    paginator = codedeploy.get_paginator("list_deployments")
    for page in paginator.paginate(
        applicationName=application, deploymentGroupName=group, includeOnlyStatuses=list(IN_FLIGHT_STATUSES)
    ):
        ids.extend(page["deployments"])
    return ids


def refuse_if_in_flight(codedeploy: Any, application: str, group: str) -> None:
    """Raise `ReleaseInFlight` naming the deployment when one is already running."""
    ids = deployments_in_flight(codedeploy, application, group)
    if ids:
        info = get_deployment(codedeploy, ids[0])
        raise ReleaseInFlight(
            f"deployment {ids[0]} ({info.get('status')}, created by {info.get('creator', '?')}: "
            f"{info.get('description', '')!r}) is in flight for {application}/{group}"
        )


def get_deployment(codedeploy: Any, deployment_id: str) -> dict[str, Any]:
    """GetDeployment's `deploymentInfo`."""
    info: dict[str, Any] = codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    return info


def create_deployment(
    codedeploy: Any, *, application: str, group: str, revision: Mapping[str, Any], idle_slot: str, description: str
) -> str:
    """Start a blue/green deployment whose replacement (green) environment is the idle slot's instances.

    With green fleet DISCOVER_EXISTING, `targetInstances.autoScalingGroups` names the replacement environment; the
    original (blue) environment is the group's own Auto Scaling groups, i.e. the live slot (TargetInstances).
    """
    try:
        return str(
            codedeploy.create_deployment(
                applicationName=application,
                deploymentGroupName=group,
                revision=dict(revision),
                targetInstances={"autoScalingGroups": [idle_slot]},
                description=description[:DESCRIPTION_LIMIT],
            )["deploymentId"]
        )
    except ClientError as exc:
        if exc.response["Error"].get("Code") == "DeploymentLimitExceededException":
            # Someone started a deployment between our check and this call.
            raise ReleaseInFlight(f"CodeDeploy refused a second deployment for {group}: {exc}") from exc
        raise


def stop_deployment(codedeploy: Any, deployment_id: str) -> str:
    """StopDeployment with automatic rollback; returns CodeDeploy's status message."""
    answer = codedeploy.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
    return f"{answer.get('status', '?')}: {answer.get('statusMessage', '')}".strip()


def recent_deployments(
    codedeploy: Any, application: str, group: str, limit: int, *, now: datetime, days: int = 30
) -> list[dict[str, Any]]:
    """The group's most recent deployments of the last `days` days, newest first (ListDeployments + Batch...)."""
    ids: list[str] = []
    paginator = codedeploy.get_paginator("list_deployments")
    # ListDeployments documents no order: read the whole (time-bounded) window and sort by creation time ourselves.
    window = {"start": now - timedelta(days=days), "end": now}
    for page in paginator.paginate(applicationName=application, deploymentGroupName=group, createTimeRange=window):
        ids.extend(page["deployments"])
    infos: list[dict[str, Any]] = []
    for start in range(0, len(ids), BATCH_GET_DEPLOYMENTS_LIMIT):
        chunk = ids[start : start + BATCH_GET_DEPLOYMENTS_LIMIT]
        infos.extend(codedeploy.batch_get_deployments(deploymentIds=chunk)["deploymentsInfo"])
    infos.sort(key=lambda info: info.get("createTime") or now, reverse=True)
    return infos[:limit]


def build_description(env: Mapping[str, str], override: str | None = None) -> str:
    """A ≤ 256-character description naming commit, branch and build from the CI environment (or `override`)."""
    if override:
        return override[:DESCRIPTION_LIMIT]
    commit = env.get("BITBUCKET_COMMIT") or env.get("GITHUB_SHA") or env.get("RELEASE_COMMIT") or "unknown"
    branch = env.get("BITBUCKET_BRANCH") or env.get("GITHUB_REF_NAME") or env.get("RELEASE_BRANCH") or "unknown"
    build = env.get("BITBUCKET_BUILD_NUMBER") or env.get("GITHUB_RUN_ID") or env.get("RELEASE_BUILD") or "local"
    text = f"scripts/deploy.py release: commit {commit[:12]} branch {branch} build {build}"
    return text[:DESCRIPTION_LIMIT]


@dataclass(frozen=True)
class TrafficTiming:
    """Target-group settings that decide how long AllowTraffic/BlockTraffic take (DESIGN F7).

    Defaults are the ELBv2 defaults: interval 30 s, healthy threshold 5, deregistration delay 300 s.
    """

    interval_seconds: int = 30
    healthy_threshold: int = 5
    deregistration_delay_seconds: int = 300

    @property
    def allow_seconds(self) -> int:
        """About healthy-threshold x interval + interval."""
        return self.healthy_threshold * self.interval_seconds + self.interval_seconds

    @property
    def block_seconds(self) -> int:
        """AllowTraffic's time plus the deregistration delay."""
        return self.allow_seconds + self.deregistration_delay_seconds


def read_traffic_timing(elbv2: Any | None, target_group_arn: str | None) -> TrafficTiming:
    """The target group's health-check and deregistration settings, or the ELBv2 defaults when unknown."""
    if elbv2 is None or not target_group_arn:
        return TrafficTiming()
    try:
        group = elbv2.describe_target_groups(TargetGroupArns=[target_group_arn])["TargetGroups"][0]
        attributes = elbv2.describe_target_group_attributes(TargetGroupArn=target_group_arn)["Attributes"]
    except ClientError:
        return TrafficTiming()
    delay = next((int(a["Value"]) for a in attributes if a["Key"] == "deregistration_delay.timeout_seconds"), 300)
    return TrafficTiming(
        interval_seconds=int(group.get("HealthCheckIntervalSeconds", 30)),
        healthy_threshold=int(group.get("HealthyThresholdCount", 5)),
        deregistration_delay_seconds=delay,
    )


# Allowance for the script-less events DownloadBundle and Install (and agent pick-up), per instance.
AGENT_EVENTS_SECONDS = 120
# Head-room for CodeDeploy's own bookkeeping between events.
TIMEOUT_MARGIN_SECONDS = 300


def batches(deployment_config: str, instances: int) -> int:
    """How many instance batches the configuration runs one after the other (worst case for unknown configs)."""
    if deployment_config == "CodeDeployDefault.AllAtOnce":
        return 1
    if deployment_config == "CodeDeployDefault.HalfAtATime":
        return min(2, max(instances, 1))
    return max(instances, 1)


def default_timeout_seconds(
    group: GroupInfo,
    *,
    green_instances: int,
    blue_instances: int,
    green_hook_seconds: int,
    blue_hook_seconds: int,
    traffic: TrafficTiming,
) -> int:
    """An upper bound of a healthy deployment's duration, from the group's settings and the revision's hooks.

    green batches x (hook timeouts + DownloadBundle/Install allowance + AllowTraffic)
    + the ready wait (STOP_DEPLOYMENT only)
    + blue batches x (BeforeBlockTraffic/AfterBlockTraffic timeouts + BlockTraffic incl. deregistration delay)
    + the blue termination wait (TERMINATE only) + a margin.
    """
    green = batches(group.deployment_config, green_instances) * (
        green_hook_seconds + AGENT_EVENTS_SECONDS + traffic.allow_seconds
    )
    blue = batches(group.deployment_config, blue_instances) * (blue_hook_seconds + traffic.block_seconds)
    ready = group.ready_wait_minutes * 60 if group.ready_action == "STOP_DEPLOYMENT" else 0
    terminate = group.blue_wait_minutes * 60 if group.blue_action == "TERMINATE" else 0
    return math.ceil(green + ready + blue + terminate + TIMEOUT_MARGIN_SECONDS)
