"""Test doubles for the release tool: a scripted CodeDeploy checked against botocore's service model, and a clock.

moto's CodeDeploy lacks UpdateDeploymentGroup, StopDeployment and the deployment-target APIs, and a real deployment
moves through states over time. `FakeCodeDeploy` answers from a script instead, but validates every request's
parameters against the CodeDeploy service model (`botocore.validate.validate_parameters`, as a real client does before
sending) and every answer against the operation's output shape, so a wrong parameter name, type or shape fails the
test exactly as it would fail against AWS.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.session
from botocore.exceptions import ClientError
from botocore.validate import validate_parameters
from release.appspec import BLUE_EVENT_ORDER, GREEN_EVENT_ORDER

_MODEL = botocore.session.get_session().get_service_model("codedeploy")
T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


class FakeClock:
    """A clock whose sleep only moves time; `on_sleep` lets a test act at a given sleep (e.g. send SIGINT)."""

    def __init__(self, start: datetime = T0) -> None:
        self.current = start
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[int], None] | None = None

    def now(self) -> datetime:
        return self.current

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.current += timedelta(seconds=seconds)
        if self.on_sleep is not None:
            self.on_sleep(len(self.sleeps))


def _op(name: str) -> Any:
    return _MODEL.operation_model(name)


def _validated(operation: str, params: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    model = _op(operation)
    validate_parameters(params, model.input_shape)
    if model.output_shape is not None:
        validate_parameters(answer, model.output_shape)
    return answer


def client_error(code: str, operation: str, message: str = "") -> ClientError:
    """A ClientError as botocore raises it for an error response."""
    return ClientError({"Error": {"Code": code, "Message": message or code}}, operation)


def event(name: str, status: str, start: int | None = None, end: int | None = None, **diagnostics: str) -> dict:
    """A LifecycleEvent; `start`/`end` are seconds after T0."""
    item: dict[str, Any] = {"lifecycleEventName": name, "status": status}
    if start is not None:
        item["startTime"] = T0 + timedelta(seconds=start)
    if end is not None:
        item["endTime"] = T0 + timedelta(seconds=end)
    if diagnostics:
        item["diagnostics"] = diagnostics
    return item


# CodeDeploy's lifecycle events as the tool itself knows them: one list for code and fakes.
GREEN_EVENTS = GREEN_EVENT_ORDER
BLUE_EVENTS = BLUE_EVENT_ORDER


def instance(target_id: str, label: str, events: list[dict], status: str | None = None) -> dict:
    """A DeploymentTarget of type InstanceTarget."""
    if status is None:
        statuses = {e["status"] for e in events}
        status = (
            "Failed"
            if "Failed" in statuses
            else "InProgress"
            if "InProgress" in statuses
            else "Succeeded"
            if statuses <= {"Succeeded", "Skipped"}
            else "Pending"
        )
    return {
        "deploymentTargetType": "InstanceTarget",
        "instanceTarget": {
            "deploymentId": "d-PLACEHOLDER",
            "targetId": target_id,
            "targetArn": f"arn:aws:ec2:eu-west-1:123456789012:instance/{target_id}",
            "status": status,
            "lastUpdatedAt": T0,
            "lifecycleEvents": events,
            "instanceLabel": label,
        },
    }


def all_succeeded(names: tuple[str, ...], offset: int = 0) -> list[dict]:
    """Every event Succeeded, one second each from `offset`."""
    return [event(name, "Succeeded", offset + i, offset + i + 1) for i, name in enumerate(names)]


@dataclass
class Frame:
    """What one GetDeployment poll of a scripted deployment shows."""

    status: str
    targets: list[dict] = field(default_factory=list)
    error: dict | None = None
    rollback: dict | None = None
    rollback_frames: list[Frame] | None = None


@dataclass
class Script:
    """How a created deployment evolves: one frame per GetDeployment poll (the last repeats)."""

    frames: list[Frame]
    throttle_polls: set[int] = field(default_factory=set)
    after_stop: Frame | None = None


class _Paginator:
    def __init__(self, client: FakeCodeDeploy, method: str) -> None:
        self._client, self._method = client, method

    def paginate(self, **params: Any) -> Iterator[dict[str, Any]]:
        yield getattr(self._client, self._method)(**params)


class FakeCodeDeploy:
    """Scripted CodeDeploy for one application and blue/green deployment group."""

    def __init__(
        self,
        application: str,
        group: str,
        listed_slot: str | None,
        *,
        script: Script | None = None,
        deployment_config: str = "CodeDeployDefault.OneAtATime",
    ) -> None:
        self.application, self.group = application, group
        self.listed = [listed_slot] if listed_slot else []
        self.deployment_config = deployment_config
        self.script = script or Script([Frame("Succeeded")])
        self.deployments: dict[str, dict[str, Any]] = {}
        self.frames: dict[str, list[Frame]] = {}
        self.polls: dict[str, int] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.last_successful: str | None = None
        self.created: list[str] = []
        self.rollbacks: dict[str, str] = {}
        self._ids = (f"d-{n:09d}" for n in itertools.count(1))

    # -- helpers for tests ------------------------------------------------------------------------------------------
    def add_deployment(
        self,
        *,
        status: str,
        creator: str = "user",
        target_slot: str | None = None,
        revision_key: str = "old.zip",
        minutes_ago: int = 60,
        frames: list[Frame] | None = None,
    ) -> str:
        """Put an existing deployment in the history (or a scripted one, like a rollback)."""
        deployment_id = next(self._ids)
        info: dict[str, Any] = {
            "applicationName": self.application,
            "deploymentGroupName": self.group,
            "deploymentId": deployment_id,
            "status": status,
            "creator": creator,
            "createTime": T0 - timedelta(minutes=minutes_ago),
            "revision": {
                "revisionType": "S3",
                "s3Location": {"bucket": "b", "key": revision_key, "bundleType": "zip", "eTag": "e"},
            },
            "description": f"{creator} deployment",
        }
        if target_slot:
            info["targetInstances"] = {"autoScalingGroups": [target_slot]}
        self.deployments[deployment_id] = info
        if frames:
            self.frames[deployment_id] = frames
        if status == "Succeeded":
            self.last_successful = deployment_id
        return deployment_id

    def called(self, operation: str) -> list[dict[str, Any]]:
        """The parameters of every call to `operation` (snake_case name)."""
        return [params for name, params in self.calls if name == operation]

    # -- client surface --------------------------------------------------------------------------------------------
    def get_paginator(self, name: str) -> _Paginator:
        return _Paginator(self, name)

    def get_deployment_group(self, **params: Any) -> dict[str, Any]:
        self.calls.append(("get_deployment_group", params))
        info: dict[str, Any] = {
            "applicationName": self.application,
            "deploymentGroupName": self.group,
            "deploymentConfigName": self.deployment_config,
            "autoScalingGroups": [
                {"name": name, "hook": "CodeDeploy-managed-automatic-launch-deployment-hook"} for name in self.listed
            ],
            "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
            "blueGreenDeploymentConfiguration": {
                "terminateBlueInstancesOnDeploymentSuccess": {"action": "KEEP_ALIVE"},
                "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT"},
                "greenFleetProvisioningOption": {"action": "DISCOVER_EXISTING"},
            },
            "computePlatform": "Server",
        }
        if self.last_successful:
            info["lastSuccessfulDeployment"] = {"deploymentId": self.last_successful, "status": "Succeeded"}
        if self.deployments:
            # The newest deployment of the group, whatever its status (ids grow with creation here).
            latest = max(self.deployments)
            info["lastAttemptedDeployment"] = {"deploymentId": latest, "status": self.deployments[latest]["status"]}
        return _validated("GetDeploymentGroup", params, {"deploymentGroupInfo": info})

    def update_deployment_group(self, **params: Any) -> dict[str, Any]:
        self.calls.append(("update_deployment_group", params))
        if "autoScalingGroups" in params:
            self.listed = list(params["autoScalingGroups"])
        return _validated("UpdateDeploymentGroup", params, {"hooksNotCleanedUp": []})

    def list_deployments(self, **params: Any) -> dict[str, Any]:
        self.calls.append(("list_deployments", params))
        wanted = params.get("includeOnlyStatuses")
        ids = [d for d, info in self.deployments.items() if wanted is None or info["status"] in wanted]
        return _validated("ListDeployments", params, {"deployments": ids})

    def batch_get_deployments(self, **params: Any) -> dict[str, Any]:
        self.calls.append(("batch_get_deployments", params))
        infos = [self.deployments[d] for d in params["deploymentIds"]]
        return _validated("BatchGetDeployments", params, {"deploymentsInfo": infos})

    def create_deployment(self, **params: Any) -> dict[str, Any]:
        self.calls.append(("create_deployment", params))
        validate_parameters(params, _op("CreateDeployment").input_shape)
        if any(
            info["status"] in ("Created", "Queued", "InProgress", "Ready", "Baking")
            for info in self.deployments.values()
        ):
            raise client_error("DeploymentLimitExceededException", "CreateDeployment")
        deployment_id = next(self._ids)
        self.deployments[deployment_id] = {
            "applicationName": params["applicationName"],
            "deploymentGroupName": params["deploymentGroupName"],
            "deploymentId": deployment_id,
            "status": "Created",
            "creator": "user",
            "createTime": T0,
            "revision": params["revision"],
            "description": params.get("description", ""),
            "targetInstances": params.get("targetInstances", {}),
        }
        self.frames[deployment_id] = list(self.script.frames)
        self.created.append(deployment_id)
        return _validated("CreateDeployment", params, {"deploymentId": deployment_id})

    def get_deployment(self, **params: Any) -> dict[str, Any]:
        self.calls.append(("get_deployment", params))
        deployment_id = params["deploymentId"]
        if deployment_id not in self.deployments:
            # GetDeployment's documented answer for an id CodeDeploy does not know.
            raise client_error("DeploymentDoesNotExistException", "GetDeployment", f"{deployment_id} does not exist")
        count = self.polls.get(deployment_id, 0) + 1
        if deployment_id in self.created and count in self.script.throttle_polls:
            self.script.throttle_polls.discard(count)
            raise client_error("ThrottlingException", "GetDeployment", "Rate exceeded")
        self.polls[deployment_id] = count
        info = dict(self.deployments[deployment_id])
        # The poll counter moves one frame per GetDeployment; the target calls that follow show the same frame.
        frame = self._frame_shown(deployment_id)
        if frame is not None:
            info["status"] = frame.status
            if frame.error:
                info["errorInformation"] = frame.error
            if frame.rollback_frames is not None and deployment_id not in self.rollbacks:
                # CodeDeploy starts the rollback deployment itself and names it in rollbackInfo.
                rollback_id = self.add_deployment(
                    status="InProgress", creator="codeDeployRollback", minutes_ago=0, frames=frame.rollback_frames
                )
                self.deployments[rollback_id]["rollbackInfo"] = {"rollbackTriggeringDeploymentId": deployment_id}
                self.rollbacks[deployment_id] = rollback_id
            if frame.rollback or deployment_id in self.rollbacks:
                info["rollbackInfo"] = {**(frame.rollback or {})}
                if deployment_id in self.rollbacks:
                    info["rollbackInfo"]["rollbackDeploymentId"] = self.rollbacks[deployment_id]
            self.deployments[deployment_id]["status"] = frame.status
            if frame.status == "Succeeded":
                self.last_successful = deployment_id
        succeeded = sum(1 for t in (frame.targets if frame else []) if t["instanceTarget"]["status"] == "Succeeded")
        info["deploymentOverview"] = {"Succeeded": succeeded}
        return _validated("GetDeployment", params, {"deploymentInfo": info})

    def _current_targets(self, deployment_id: str) -> list[dict]:
        frame = self._frame_shown(deployment_id)
        return frame.targets if frame else []

    def _frame_shown(self, deployment_id: str) -> Frame | None:
        frames = self.frames.get(deployment_id)
        if not frames:
            return None
        index = min(max(self.polls.get(deployment_id, 1) - 1, 0), len(frames) - 1)
        return frames[index]

    def list_deployment_targets(self, **params: Any) -> dict[str, Any]:
        self.calls.append(("list_deployment_targets", params))
        ids = [t["instanceTarget"]["targetId"] for t in self._current_targets(params["deploymentId"])]
        return _validated("ListDeploymentTargets", params, {"targetIds": ids})

    def batch_get_deployment_targets(self, **params: Any) -> dict[str, Any]:
        self.calls.append(("batch_get_deployment_targets", params))
        assert len(params["targetIds"]) <= 25, "BatchGetDeploymentTargets takes at most 25 ids"
        wanted = set(params["targetIds"])
        found = []
        for target in self._current_targets(params["deploymentId"]):
            if target["instanceTarget"]["targetId"] in wanted:
                copy = {
                    **target,
                    "instanceTarget": {**target["instanceTarget"], "deploymentId": params["deploymentId"]},
                }
                found.append(copy)
        return _validated("BatchGetDeploymentTargets", params, {"deploymentTargets": found})

    def stop_deployment(self, **params: Any) -> dict[str, Any]:
        self.calls.append(("stop_deployment", params))
        deployment_id = params["deploymentId"]
        after = self.script.after_stop or Frame("Stopped")
        self.frames[deployment_id] = [after]
        self.polls[deployment_id] = 0
        self.deployments[deployment_id]["status"] = after.status
        return _validated("StopDeployment", params, {"status": "Pending", "statusMessage": "Stopping"})
