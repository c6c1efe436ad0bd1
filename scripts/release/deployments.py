"""Every CodeDeploy call of the release tool, each turned into a small typed answer or a domain error.

The other modules (the orchestrator, `follow`, the `status`/`stop`/`rollback` commands) call CodeDeploy only through
these functions; each takes the boto3 CodeDeploy client built by the CLI as its first argument.

Facts relied on (CodeDeploy API reference): one deployment per deployment group at a time
(`DeploymentLimitExceededException`); deployment statuses Created, Queued, InProgress, Baking, Ready (waiting for
ContinueDeployment), Succeeded, Failed, Stopped; `StopDeployment(autoRollbackEnabled=True)` stops and rolls back;
a description is at most 256 characters. A field the tool reads that an answer lacks is `UnexpectedAnswer` (exit 8,
`release.answers.required`), never a KeyError's traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from release.answers import required
from release.ci import CiContext
from release.errors import ReleaseInFlight, TargetsError
from release.retry import is_refused, is_transient

IN_FLIGHT_STATUSES = ("Created", "Queued", "InProgress", "Ready", "Baking")
TERMINAL_STATUSES = ("Succeeded", "Failed", "Stopped")
DESCRIPTION_LIMIT = 256
BATCH_GET_DEPLOYMENTS_LIMIT = 25  # BatchGetDeployments takes at most 25 ids
BATCH_GET_TARGETS_LIMIT = 25  # BatchGetDeploymentTargets takes at most 25 target ids


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
        answer = codedeploy.get_deployment_group(applicationName=application, deploymentGroupName=group)
    except ClientError as exc:
        if is_transient(exc) or is_refused(exc):
            raise  # asked again (pre-flight) or reported as AWS refusing the credentials (exit 8), not a bad name
        raise TargetsError(
            f"deployment group {application}/{group} cannot be read: {exc.response['Error'].get('Message', exc)}",
            hint=(
                "Check --application/--deployment-group (or the stack outputs) and the region; deploy the stack first."
            ),
        ) from exc
    info = required(answer, "deploymentGroupInfo", "GetDeploymentGroup")
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
        listed_slots=tuple(required(item, "name", "GetDeploymentGroup") for item in info.get("autoScalingGroups", [])),
        deployment_config=info.get("deploymentConfigName", "CodeDeployDefault.OneAtATime"),
        ready_action=ready.get("actionOnTimeout", "CONTINUE_DEPLOYMENT"),
        ready_wait_minutes=int(ready.get("waitTimeInMinutes", 0)),
        blue_action=blue.get("action", "KEEP_ALIVE"),
        blue_wait_minutes=int(blue.get("terminationWaitTimeInMinutes", 0)),
        last_successful_id=info.get("lastSuccessfulDeployment", {}).get("deploymentId"),
        last_attempted_id=info.get("lastAttemptedDeployment", {}).get("deploymentId"),
    )


def point_group_at(codedeploy: Any, group: GroupInfo, slot: str) -> None:
    """UpdateDeploymentGroup(autoScalingGroups=[slot]): the group's original environment is now that slot (F3)."""
    codedeploy.update_deployment_group(
        applicationName=group.application, currentDeploymentGroupName=group.name, autoScalingGroups=[slot]
    )


def _deployment_ids(codedeploy: Any, application: str, group: str, **filters: Any) -> list[str]:
    """Every id ListDeployments returns for the group with these filters, over all pages."""
    ids: list[str] = []
    paginator = codedeploy.get_paginator("list_deployments")
    for page in paginator.paginate(applicationName=application, deploymentGroupName=group, **filters):
        ids.extend(required(page, "deployments", "ListDeployments"))
    return ids


def _deployment_infos(codedeploy: Any, ids: list[str]) -> list[dict[str, Any]]:
    """BatchGetDeployments' `deploymentsInfo` for every id, in chunks of the API's limit."""
    infos: list[dict[str, Any]] = []
    for start in range(0, len(ids), BATCH_GET_DEPLOYMENTS_LIMIT):
        chunk = ids[start : start + BATCH_GET_DEPLOYMENTS_LIMIT]
        answer = codedeploy.batch_get_deployments(deploymentIds=chunk)
        infos.extend(required(answer, "deploymentsInfo", "BatchGetDeployments"))
    return infos


def deployments_in_flight(codedeploy: Any, application: str, group: str) -> list[str]:
    """Ids of the group's deployments that are not finished (ListDeployments includeOnlyStatuses)."""
    return _deployment_ids(codedeploy, application, group, includeOnlyStatuses=list(IN_FLIGHT_STATUSES))


def list_deployments(
    codedeploy: Any,
    application: str,
    group: str,
    *,
    start: datetime,
    end: datetime,
    statuses: tuple[str, ...] | None = None,
) -> list[dict[str, Any]]:
    """The group's deployments created between `start` and `end` (optionally only those statuses), unordered."""
    filters: dict[str, Any] = {"createTimeRange": {"start": start, "end": end}}
    if statuses is not None:
        filters["includeOnlyStatuses"] = list(statuses)
    return _deployment_infos(codedeploy, _deployment_ids(codedeploy, application, group, **filters))


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
    info: dict[str, Any] = required(
        codedeploy.get_deployment(deploymentId=deployment_id), "deploymentInfo", "GetDeployment"
    )
    return info


def release_marker(release_id: str) -> str:
    """The tag a release puts at the start of its deployments' descriptions, to recognise them later."""
    return f"[release {release_id}]"


def own_deployment_in_flight(codedeploy: Any, application: str, group: str, release_id: str) -> str | None:
    """The id of the deployment in flight that this release created (its description carries the marker), if any."""
    ids = deployments_in_flight(codedeploy, application, group)
    marker = release_marker(release_id)
    for info in _deployment_infos(codedeploy, ids):
        if str(info.get("description", "")).startswith(marker):
            return str(required(info, "deploymentId", "BatchGetDeployments"))
    return None


def _create(codedeploy: Any, *, application: str, group: str, release_id: str | None, params: Mapping[str, Any]) -> str:
    """CreateDeployment; on `DeploymentLimitExceededException` recognise our own deployment, else `ReleaseInFlight`.

    The SDK retries CreateDeployment after a dropped connection or a 5xx, and the call is not idempotent: the first
    attempt may have created the deployment, and the retry is then refused because one is in flight — ours. The
    release id in the description (`release_marker`) tells it apart from someone else's, and the release follows it.
    """
    try:
        answer = codedeploy.create_deployment(applicationName=application, deploymentGroupName=group, **params)
    except ClientError as exc:
        if exc.response["Error"].get("Code") != "DeploymentLimitExceededException":
            raise
        own = own_deployment_in_flight(codedeploy, application, group, release_id) if release_id else None
        if own is not None:
            return own
        # Someone started a deployment between our check and this call.
        raise ReleaseInFlight(f"CodeDeploy refused a second deployment for {group}: {exc}") from exc
    return str(required(answer, "deploymentId", "CreateDeployment"))


def create_deployment(
    codedeploy: Any,
    *,
    application: str,
    group: str,
    revision: Mapping[str, Any],
    idle_slot: str,
    description: str,
    release_id: str | None = None,
    ignore_application_stop_failures: bool = False,
    file_exists_behavior: str | None = None,
) -> str:
    """Start a blue/green deployment whose replacement (green) environment is the idle slot's instances.

    With green fleet DISCOVER_EXISTING, `targetInstances.autoScalingGroups` names the replacement environment; the
    original (blue) environment is the group's own Auto Scaling groups, i.e. the live slot (TargetInstances).
    A retried create that finds this release's own deployment in flight returns its id (`_create`).

    `ignore_application_stop_failures` lets a failing ApplicationStop, BeforeBlockTraffic or AfterBlockTraffic
    script (the previous revision's, docs/decisions.md F70) not fail the deployment; `file_exists_behavior`
    (DISALLOW, OVERWRITE or RETAIN) is sent only when given, so CodeDeploy's default DISALLOW applies otherwise
    (docs/decisions.md F71).
    """
    params: dict[str, Any] = {
        "revision": dict(revision),
        "targetInstances": {"autoScalingGroups": [idle_slot]},
        "description": description[:DESCRIPTION_LIMIT],
    }
    if ignore_application_stop_failures:
        params["ignoreApplicationStopFailures"] = True
    if file_exists_behavior is not None:
        params["fileExistsBehavior"] = file_exists_behavior
    return _create(codedeploy, application=application, group=group, release_id=release_id, params=params)


def continue_deployment(codedeploy: Any, deployment_id: str) -> None:
    """ContinueDeployment(READY_WAIT): a blue/green deployment waiting in `Ready` starts rerouting traffic
    (docs/decisions.md F81). A deployment that is not Ready raises ClientError `DeploymentIsNotInReadyStateException`.
    """
    codedeploy.continue_deployment(deploymentId=deployment_id, deploymentWaitType="READY_WAIT")


def stop_deployment(codedeploy: Any, deployment_id: str) -> str:
    """StopDeployment with automatic rollback; returns CodeDeploy's status message."""
    answer = codedeploy.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
    return f"{answer.get('status', '?')}: {answer.get('statusMessage', '')}".strip()


def recent_deployments(
    codedeploy: Any, application: str, group: str, limit: int, *, now: datetime, days: int = 30
) -> list[dict[str, Any]]:
    """The group's most recent deployments of the last `days` days, newest first (ListDeployments + Batch...)."""
    # ListDeployments documents no order: read the whole (time-bounded) window and sort by creation time ourselves.
    infos = list_deployments(codedeploy, application, group, start=now - timedelta(days=days), end=now)
    infos.sort(key=lambda info: info.get("createTime") or now, reverse=True)
    return infos[:limit]


def deployment_targets(codedeploy: Any, deployment_id: str) -> list[dict[str, Any]]:
    """Every target of the deployment as BatchGetDeploymentTargets describes it (ListDeploymentTargets + Batch...).

    The *DeploymentInstance* APIs are deprecated; these are their replacement.
    """
    ids: list[str] = []
    for page in codedeploy.get_paginator("list_deployment_targets").paginate(deploymentId=deployment_id):
        ids.extend(page.get("targetIds", []))
    targets: list[dict[str, Any]] = []
    for start in range(0, len(ids), BATCH_GET_TARGETS_LIMIT):
        answer = codedeploy.batch_get_deployment_targets(
            deploymentId=deployment_id, targetIds=ids[start : start + BATCH_GET_TARGETS_LIMIT]
        )
        targets.extend(answer.get("deploymentTargets", []))
    return targets


def build_description(ci: CiContext, override: str | None = None, *, release_id: str | None = None) -> str:
    """A ≤ 256-character description naming the CI run's commit, branch and build (or `override`).

    With `release_id`, it starts with the release's marker (`release_marker`), so truncation never cuts it off.
    """
    if override:
        text = override
    else:
        commit = ci.commit or "unknown"
        branch = ci.branch or "unknown"
        build = ci.build or "local"
        text = f"scripts/deploy.py release: commit {commit[:12]} branch {branch} build {build}"
    if release_id:
        text = f"{release_marker(release_id)} {text}"
    return text[:DESCRIPTION_LIMIT]


# ----------------------------------------------------------------------------------------------------------------------
# The bootstrap group: the stack's in-place group for the first release (release.bootstrap)
# ----------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BootstrapGroupInfo:
    """The bootstrap deployment group as GetDeploymentGroup shows it."""

    application: str
    name: str
    listed_slots: tuple[str, ...]
    deployment_config: str
    last_attempted_id: str | None
    last_attempted_status: str | None
    last_successful_id: str | None

    def succeeded_on(self, pair: tuple[str, str]) -> str | None:
        """The slot the group lists when its most recent deployment succeeded (an interrupted first release)."""
        if len(self.listed_slots) != 1 or self.listed_slots[0] not in pair or not self.last_attempted_id:
            return None
        succeeded = self.last_attempted_status == "Succeeded" or self.last_attempted_id == self.last_successful_id
        return self.listed_slots[0] if succeeded else None


def alarm_names(codedeploy: Any, application: str, group: str) -> tuple[str, ...]:
    """The CloudWatch alarms the deployment group lists, by name (alarmConfiguration, when enabled; at most 10,
    docs/decisions.md F87): what the bake window watches (release.bake)."""
    info = codedeploy.get_deployment_group(applicationName=application, deploymentGroupName=group)
    config = info["deploymentGroupInfo"].get("alarmConfiguration") or {}
    if not config.get("enabled"):
        return ()
    return tuple(str(item["name"]) for item in config.get("alarms", []) if item.get("name"))


def get_bootstrap_group(codedeploy: Any, application: str, name: str) -> BootstrapGroupInfo:
    """Read the bootstrap group (GetDeploymentGroup); it must be IN_PLACE with traffic control, else `TargetsError`."""
    try:
        answer = codedeploy.get_deployment_group(applicationName=application, deploymentGroupName=name)
    except ClientError as exc:
        raise TargetsError(
            f"bootstrap deployment group {application}/{name} cannot be read: "
            f"{exc.response.get('Error', {}).get('Message', exc)}",
            hint="Deploy the stack (output BootstrapDeploymentGroupName) and check the region.",
        ) from exc
    info = required(answer, "deploymentGroupInfo", "GetDeploymentGroup")
    style = info.get("deploymentStyle") or {}
    if (style.get("deploymentType"), style.get("deploymentOption")) != ("IN_PLACE", "WITH_TRAFFIC_CONTROL"):
        raise TargetsError(
            f"bootstrap deployment group {name} is {style.get('deploymentType', 'IN_PLACE')}/"
            f"{style.get('deploymentOption', 'WITHOUT_TRAFFIC_CONTROL')}, not IN_PLACE/WITH_TRAFFIC_CONTROL",
            hint="Point the tool at the stack's bootstrap group (output BootstrapDeploymentGroupName).",
        )
    attempted = info.get("lastAttemptedDeployment") or {}
    return BootstrapGroupInfo(
        application=application,
        name=name,
        listed_slots=tuple(required(item, "name", "GetDeploymentGroup") for item in info.get("autoScalingGroups", [])),
        deployment_config=info.get("deploymentConfigName", "CodeDeployDefault.OneAtATime"),
        last_attempted_id=attempted.get("deploymentId"),
        last_attempted_status=attempted.get("status"),
        last_successful_id=(info.get("lastSuccessfulDeployment") or {}).get("deploymentId"),
    )


def set_group_slots(codedeploy: Any, application: str, group: str, slots: list[str]) -> tuple[str, ...]:
    """UpdateDeploymentGroup(autoScalingGroups=slots); returns the lifecycle hooks CodeDeploy could not remove.

    `[]` — a non-null empty list — removes every Auto Scaling group and detaches the CodeDeploy-managed lifecycle hooks;
    `hooksNotCleanedUp` names the hooks it could not remove (UpdateDeploymentGroup API reference). Omitting the field
    would leave the list unchanged (docs/decisions.md F3).
    """
    answer = codedeploy.update_deployment_group(
        applicationName=application, currentDeploymentGroupName=group, autoScalingGroups=slots
    )
    return tuple(f"{item.get('name', '?')}: {item.get('hook', '?')}" for item in answer.get("hooksNotCleanedUp", []))


def create_in_place_deployment(
    codedeploy: Any,
    *,
    application: str,
    group: str,
    revision: Mapping[str, Any],
    description: str,
    release_id: str | None = None,
) -> str:
    """CreateDeployment in an in-place group: it deploys to the instances of the Auto Scaling groups the group lists.

    No `targetInstances`: that field describes a blue/green replacement environment (CreateDeployment API reference).
    A retried create that finds this release's own deployment in flight returns its id (`_create`).
    """
    params = {"revision": dict(revision), "description": description[:DESCRIPTION_LIMIT]}
    return _create(codedeploy, application=application, group=group, release_id=release_id, params=params)
