"""Pure functions from the custom resource's properties to CodeDeploy API requests.

Kept free of boto3 so the requests can be built and checked without a client; `handler.py` sends them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Rollback on every way a deployment can end badly; DEPLOYMENT_STOP_ON_REQUEST makes `deploy.py stop` and a
# cancelled release put traffic back on the original slot.
ROLLBACK_EVENTS = ("DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST")


class PropertyError(ValueError):
    """The resource properties sent by CloudFormation are incomplete or malformed."""


@dataclass(frozen=True)
class GroupSpec:
    """The deployment group as the stack declares it."""

    application_name: str
    deployment_group_name: str
    service_role_arn: str
    target_group_name: str
    deployment_config_name: str
    alarm_names: tuple[str, ...]
    initial_auto_scaling_group: str

    @classmethod
    def from_properties(cls, properties: Mapping[str, Any]) -> GroupSpec:
        """Read `ResourceProperties` (CloudFormation passes scalars as strings)."""
        missing = [
            key
            for key in (
                "ApplicationName",
                "DeploymentGroupName",
                "ServiceRoleArn",
                "TargetGroupName",
                "DeploymentConfigName",
                "InitialAutoScalingGroup",
            )
            if not isinstance(properties.get(key), str) or not properties[key]
        ]
        if missing:
            raise PropertyError(f"missing or empty resource properties: {', '.join(missing)}")
        alarms = properties.get("AlarmNames", [])
        if not isinstance(alarms, list) or not all(isinstance(name, str) and name for name in alarms):
            raise PropertyError(f"AlarmNames must be a list of alarm names, got {alarms!r}")
        return cls(
            application_name=properties["ApplicationName"],
            deployment_group_name=properties["DeploymentGroupName"],
            service_role_arn=properties["ServiceRoleArn"],
            target_group_name=properties["TargetGroupName"],
            deployment_config_name=properties["DeploymentConfigName"],
            alarm_names=tuple(alarms),
            initial_auto_scaling_group=properties["InitialAutoScalingGroup"],
        )

    @property
    def physical_id(self) -> str:
        """Changes when the group must be replaced (another application), so CloudFormation deletes the old one."""
        return f"{self.application_name}:{self.deployment_group_name}"


def group_settings(spec: GroupSpec) -> dict[str, Any]:
    """Settings shared by CreateDeploymentGroup and UpdateDeploymentGroup (never the Auto Scaling groups)."""
    return {
        "serviceRoleArn": spec.service_role_arn,
        "deploymentConfigName": spec.deployment_config_name,
        "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        "blueGreenDeploymentConfiguration": {
            # The release tool scales the original slot in, so the termination hook and the drain Lambda run on
            # every original instance (DESIGN F2).
            "terminateBlueInstancesOnDeploymentSuccess": {"action": "KEEP_ALIVE"},
            "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT"},
            "greenFleetProvisioningOption": {"action": "DISCOVER_EXISTING"},
        },
        "loadBalancerInfo": {"targetGroupInfoList": [{"name": spec.target_group_name}]},
        "autoRollbackConfiguration": {"enabled": True, "events": list(ROLLBACK_EVENTS)},
        # Leaving instances are drained by this stack's own termination hook and Lambda; CodeDeploy's termination
        # deployments would race them on the same instances.
        "terminationHookEnabled": False,
        "alarmConfiguration": {
            "enabled": bool(spec.alarm_names),
            "ignorePollAlarmFailure": False,
            "alarms": [{"name": name} for name in spec.alarm_names],
        },
    }


def create_request(spec: GroupSpec) -> dict[str, Any]:
    """CreateDeploymentGroup: the only request that names the live slot (the initial one, DESIGN F3)."""
    return {
        "applicationName": spec.application_name,
        "deploymentGroupName": spec.deployment_group_name,
        "autoScalingGroups": [spec.initial_auto_scaling_group],
        **group_settings(spec),
    }


def update_request(old: GroupSpec, new: GroupSpec) -> dict[str, Any]:
    """UpdateDeploymentGroup in place, renaming if needed.

    `autoScalingGroups` is omitted on purpose: CodeDeploy then keeps the list as it is, and that list is the live
    slot, which the release tool owns (DESIGN F3).
    """
    request: dict[str, Any] = {
        "applicationName": new.application_name,
        "currentDeploymentGroupName": old.deployment_group_name,
        **group_settings(new),
    }
    if new.deployment_group_name != old.deployment_group_name:
        request["newDeploymentGroupName"] = new.deployment_group_name
    return request


def delete_request(spec: GroupSpec) -> dict[str, Any]:
    """DeleteDeploymentGroup."""
    return {"applicationName": spec.application_name, "deploymentGroupName": spec.deployment_group_name}
