"""Pure functions from the custom resource's properties to CodeDeploy API requests.

The properties carry the group's whole desired configuration, so `cdk diff` shows every change and every change
reaches CloudFormation as an Update that applies it. This module only validates them and maps them onto the
CodeDeploy request shapes: it holds no defaults (the construct in `stacks/deployment.py` does). It is kept free of
boto3 so the requests can be built and checked without a client; `handler.py` sends them.

CloudFormation passes every scalar of a custom resource's properties as a string, so flags arrive as "true"/"false"
and numbers as digits; both spellings are accepted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEPLOYMENT_TYPES = ("BLUE_GREEN", "IN_PLACE")
DEPLOYMENT_OPTIONS = ("WITH_TRAFFIC_CONTROL", "WITHOUT_TRAFFIC_CONTROL")
ROLLBACK_EVENTS = ("DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST")
OUTDATED_INSTANCES_STRATEGIES = ("UPDATE", "IGNORE")
DEPLOYMENT_READY_ACTIONS = ("CONTINUE_DEPLOYMENT", "STOP_DEPLOYMENT")
# Only the blue/green shape this system is built on (docs/decisions.md F2): the stack owns both slots, so CodeDeploy
# discovers the replacement instances and keeps the originals for the release tool to scale in through the drain
# hook. COPY_AUTO_SCALING_GROUP and TERMINATE would have CodeDeploy create or force-delete Auto Scaling groups
# outside the stack, skipping the termination hook; they are refused rather than passed on.
GREEN_FLEET_PROVISIONING = ("DISCOVER_EXISTING",)
BLUE_INSTANCE_TERMINATION = ("KEEP_ALIVE",)
FLAGS = {"true": True, "false": False}
# CodeDeploy's limits on names (CreateDeploymentGroup API reference: 1 to 100 characters).
MAX_NAME_LENGTH = 100
# TriggerEventType in the CodeDeploy API reference; a deployment group holds at most 10 triggers (CodeDeploy user
# guide, "Delete a trigger from a CodeDeploy deployment group").
TRIGGER_EVENTS = (
    "DeploymentStart",
    "DeploymentSuccess",
    "DeploymentFailure",
    "DeploymentStop",
    "DeploymentRollback",
    "DeploymentReady",
    "InstanceStart",
    "InstanceSuccess",
    "InstanceFailure",
    "InstanceReady",
)
MAX_TRIGGERS = 10
# A blue/green deployment may wait at most 48 hours between the deployment of the revision and the rerouting of traffic
# (CodeDeploy user guide, limits; docs/decisions.md F80): the ready wait is 1..2880 minutes.
READY_WAIT_MINUTES_RANGE = (1, 2880)
SNS_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")


class PropertyError(ValueError):
    """The resource properties sent by CloudFormation are incomplete or malformed."""


@dataclass(frozen=True)
class GroupRef:
    """One deployment group by name; its physical resource id is `<application>:<group>`."""

    application_name: str
    deployment_group_name: str

    @property
    def physical_id(self) -> str:
        """Changes when the group must be replaced (another application or name)."""
        return f"{self.application_name}:{self.deployment_group_name}"

    @classmethod
    def from_physical_id(cls, physical_id: object) -> GroupRef | None:
        """The group a physical id names, or None when it names none (for example a create that never succeeded).

        Stack names and the application names CloudFormation generates contain no colon, so a valid id has exactly
        one; CDK's provider framework answers a failed create with a marker id ("AWSCDK::...::CREATE_FAILED") that
        does not parse.
        """
        if not isinstance(physical_id, str) or physical_id.count(":") != 1:
            return None
        application, group = physical_id.split(":")
        if not application or not group or max(len(application), len(group)) > MAX_NAME_LENGTH:
            return None
        return cls(application, group)

    def request(self) -> dict[str, str]:
        """The two names as CodeDeploy's requests spell them."""
        return {"applicationName": self.application_name, "deploymentGroupName": self.deployment_group_name}


@dataclass(frozen=True)
class BlueGreenSpec:
    """The blue/green part of a group (`blueGreenDeploymentConfiguration`)."""

    green_fleet_provisioning: str
    blue_instance_termination: str
    deployment_ready_action: str
    deployment_ready_wait_minutes: int | None


@dataclass(frozen=True)
class TriggerSpec:
    """One CodeDeploy trigger: the events of the group's deployments that publish to an SNS topic."""

    name: str
    target_arn: str
    events: tuple[str, ...]

    def request(self) -> dict[str, Any]:
        """The trigger as CodeDeploy's `TriggerConfig` spells it."""
        return {"triggerName": self.name, "triggerTargetArn": self.target_arn, "triggerEvents": list(self.events)}


@dataclass(frozen=True)
class GroupSpec:
    """A deployment group as the stack declares it: every setting the provider sends."""

    ref: GroupRef
    service_role_arn: str
    deployment_config_name: str
    deployment_type: str
    deployment_option: str
    target_group_name: str | None
    auto_rollback_events: tuple[str, ...]
    alarm_names: tuple[str, ...]
    ignore_poll_alarm_failure: bool
    termination_hook_enabled: bool
    outdated_instances_strategy: str
    initial_auto_scaling_groups: tuple[str, ...]
    blue_green: BlueGreenSpec | None
    triggers: tuple[TriggerSpec, ...] = ()

    @classmethod
    def from_properties(cls, properties: Mapping[str, Any]) -> GroupSpec:
        """Read and validate `ResourceProperties`; every problem is named in one `PropertyError`."""
        reader = _Reader(properties)
        deployment_type = reader.choice("DeploymentType", DEPLOYMENT_TYPES)
        deployment_option = reader.choice("DeploymentOption", DEPLOYMENT_OPTIONS)
        target_group = reader.optional_text("TargetGroupName")
        if deployment_option == "WITH_TRAFFIC_CONTROL" and target_group is None:
            reader.problems.append("TargetGroupName is required WITH_TRAFFIC_CONTROL")
        initial = reader.optional_text("InitialAutoScalingGroup")
        spec = cls(
            ref=GroupRef(reader.text("ApplicationName"), reader.text("DeploymentGroupName")),
            service_role_arn=reader.text("ServiceRoleArn"),
            deployment_config_name=reader.text("DeploymentConfigName"),
            deployment_type=deployment_type,
            deployment_option=deployment_option,
            target_group_name=target_group,
            auto_rollback_events=reader.choices("AutoRollbackEvents", ROLLBACK_EVENTS),
            alarm_names=reader.names("AlarmNames"),
            ignore_poll_alarm_failure=reader.flag("IgnorePollAlarmFailure"),
            termination_hook_enabled=reader.flag("TerminationHookEnabled"),
            outdated_instances_strategy=reader.choice("OutdatedInstancesStrategy", OUTDATED_INSTANCES_STRATEGIES),
            initial_auto_scaling_groups=(initial,) if initial else (),
            blue_green=_blue_green(reader) if deployment_type == "BLUE_GREEN" else None,
            triggers=reader.triggers("TriggerConfigurations"),
        )
        if deployment_type == "IN_PLACE":
            reader.refuse_present(BLUE_GREEN_KEYS, "only for DeploymentType BLUE_GREEN")
        if reader.problems:
            raise PropertyError("invalid resource properties: " + "; ".join(reader.problems))
        return spec


BLUE_GREEN_KEYS = (
    "GreenFleetProvisioning",
    "BlueInstanceTermination",
    "DeploymentReadyAction",
    "DeploymentReadyWaitMinutes",
)


def _blue_green(reader: _Reader) -> BlueGreenSpec:
    ready_action = reader.choice("DeploymentReadyAction", DEPLOYMENT_READY_ACTIONS)
    wait = reader.optional_minutes("DeploymentReadyWaitMinutes")
    low, high = READY_WAIT_MINUTES_RANGE
    if ready_action == "STOP_DEPLOYMENT" and wait is None:
        reader.problems.append("DeploymentReadyWaitMinutes is required with DeploymentReadyAction STOP_DEPLOYMENT")
    elif ready_action == "STOP_DEPLOYMENT" and wait is not None and not low <= wait <= high:
        reader.problems.append(f"DeploymentReadyWaitMinutes must be {low}..{high} (CodeDeploy's 48 hours), got {wait}")
    elif ready_action == "CONTINUE_DEPLOYMENT" and wait is not None:
        # The wait applies only to STOP_DEPLOYMENT (DeploymentReadyOption API reference): a value here means nothing.
        reader.problems.append("DeploymentReadyWaitMinutes applies only to DeploymentReadyAction STOP_DEPLOYMENT")
    return BlueGreenSpec(
        green_fleet_provisioning=reader.choice("GreenFleetProvisioning", GREEN_FLEET_PROVISIONING),
        blue_instance_termination=reader.choice("BlueInstanceTermination", BLUE_INSTANCE_TERMINATION),
        deployment_ready_action=ready_action,
        deployment_ready_wait_minutes=wait,
    )


class _Reader:
    """Reads typed values from the properties, collecting problems instead of stopping at the first."""

    def __init__(self, properties: Mapping[str, Any]) -> None:
        self.properties = properties
        self.problems: list[str] = []

    def text(self, key: str) -> str:
        value = self.properties.get(key)
        if not isinstance(value, str) or not value:
            self.problems.append(f"{key} is missing or empty")
            return ""
        return value

    def optional_text(self, key: str) -> str | None:
        value = self.properties.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            self.problems.append(f"{key} must be a string, got {value!r}")
            return None
        return value

    def choice(self, key: str, allowed: Sequence[str]) -> str:
        value = self.properties.get(key)
        if value not in allowed:
            self.problems.append(f"{key} must be one of {', '.join(allowed)}, got {value!r}")
            return allowed[0]
        return str(value)

    def names(self, key: str) -> tuple[str, ...]:
        value = self.properties.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            self.problems.append(f"{key} must be a list of names, got {value!r}")
            return ()
        return tuple(value)

    def choices(self, key: str, allowed: Sequence[str]) -> tuple[str, ...]:
        values = self.names(key)
        unknown = [value for value in values if value not in allowed]
        if unknown:
            self.problems.append(f"{key} accepts only {', '.join(allowed)}, got {', '.join(unknown)}")
            return ()
        return values

    def flag(self, key: str) -> bool:
        value = self.properties.get(key)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in FLAGS:
            return FLAGS[value.lower()]
        self.problems.append(f"{key} must be true or false, got {value!r}")
        return False

    def optional_minutes(self, key: str) -> int | None:
        value = self.properties.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, int | str) and not isinstance(value, bool) and str(value).isdigit():
            return int(value)
        self.problems.append(f"{key} must be a whole number of minutes, got {value!r}")
        return None

    def triggers(self, key: str) -> tuple[TriggerSpec, ...]:
        """`[{TriggerName, TriggerTargetArn, TriggerEvents}]`; absent or empty means no trigger."""
        value = self.properties.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
            self.problems.append(f"{key} must be a list of objects, got {value!r}")
            return ()
        if len(value) > MAX_TRIGGERS:
            self.problems.append(f"{key}: a deployment group holds at most {MAX_TRIGGERS} triggers, got {len(value)}")
            return ()
        return tuple(self._trigger(key, index, item) for index, item in enumerate(value))

    def _trigger(self, key: str, index: int, item: Mapping[str, Any]) -> TriggerSpec:
        where = f"{key}[{index}]"
        name, arn, events = item.get("TriggerName"), item.get("TriggerTargetArn"), item.get("TriggerEvents")
        if not isinstance(name, str) or not name:
            self.problems.append(f"{where}.TriggerName is missing or empty")
        if not isinstance(arn, str) or not SNS_TOPIC_ARN.match(arn):
            self.problems.append(f"{where}.TriggerTargetArn must be an SNS topic ARN, got {arn!r}")
        if not isinstance(events, list) or not events or not all(event in TRIGGER_EVENTS for event in events):
            self.problems.append(f"{where}.TriggerEvents must list some of {', '.join(TRIGGER_EVENTS)}, got {events!r}")
            events = []
        return TriggerSpec(str(name or ""), str(arn or ""), tuple(events))

    def refuse_present(self, keys: Sequence[str], reason: str) -> None:
        present = [key for key in keys if key in self.properties]
        if present:
            self.problems.append(f"{', '.join(present)}: {reason}")


def _blue_green_configuration(blue_green: BlueGreenSpec) -> dict[str, Any]:
    ready: dict[str, Any] = {"actionOnTimeout": blue_green.deployment_ready_action}
    if blue_green.deployment_ready_wait_minutes is not None:
        ready["waitTimeInMinutes"] = blue_green.deployment_ready_wait_minutes
    return {
        "terminateBlueInstancesOnDeploymentSuccess": {"action": blue_green.blue_instance_termination},
        "deploymentReadyOption": ready,
        "greenFleetProvisioningOption": {"action": blue_green.green_fleet_provisioning},
    }


def group_settings(spec: GroupSpec) -> dict[str, Any]:
    """Settings shared by CreateDeploymentGroup and UpdateDeploymentGroup (never the Auto Scaling groups).

    Every field is sent on every update, so the group converges on the declared state: an empty rollback-event,
    alarm or trigger list turns that feature off rather than leaving what was there.
    """
    settings: dict[str, Any] = {
        "serviceRoleArn": spec.service_role_arn,
        "deploymentConfigName": spec.deployment_config_name,
        "deploymentStyle": {"deploymentType": spec.deployment_type, "deploymentOption": spec.deployment_option},
        "autoRollbackConfiguration": {
            "enabled": bool(spec.auto_rollback_events),
            "events": list(spec.auto_rollback_events),
        },
        "alarmConfiguration": {
            "enabled": bool(spec.alarm_names),
            "ignorePollAlarmFailure": spec.ignore_poll_alarm_failure,
            "alarms": [{"name": name} for name in spec.alarm_names],
        },
        "outdatedInstancesStrategy": spec.outdated_instances_strategy,
        "terminationHookEnabled": spec.termination_hook_enabled,
        # Always sent: an empty list removes the group's triggers (CodeDeploy user guide, "Delete a trigger from a
        # CodeDeploy deployment group": update-deployment-group with empty trigger configuration parameters).
        "triggerConfigurations": [trigger.request() for trigger in spec.triggers],
    }
    if spec.target_group_name is not None:
        settings["loadBalancerInfo"] = {"targetGroupInfoList": [{"name": spec.target_group_name}]}
    if spec.blue_green is not None:
        settings["blueGreenDeploymentConfiguration"] = _blue_green_configuration(spec.blue_green)
    return settings


def create_request(spec: GroupSpec, auto_scaling_groups: Sequence[str]) -> dict[str, Any]:
    """CreateDeploymentGroup with the given Auto Scaling groups (the only request that names them, F3)."""
    return {**spec.ref.request(), "autoScalingGroups": list(auto_scaling_groups), **group_settings(spec)}


def update_request(spec: GroupSpec, auto_scaling_groups: Sequence[str] | None = None) -> dict[str, Any]:
    """UpdateDeploymentGroup in place, never renaming (a new name is a new group, see `handler.on_update`).

    `autoScalingGroups` is omitted unless given: CodeDeploy then keeps the list as it is, and that list is the live
    slot, which the release tool owns (docs/decisions.md F3).
    """
    request: dict[str, Any] = {
        "applicationName": spec.ref.application_name,
        "currentDeploymentGroupName": spec.ref.deployment_group_name,
        **group_settings(spec),
    }
    if auto_scaling_groups is not None:
        request["autoScalingGroups"] = list(auto_scaling_groups)
    return request
