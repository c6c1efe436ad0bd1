"""The AWS adapter behind `join.decision.JoinPorts`: CodeDeploy, Auto Scaling and ELBv2.

Every botocore error is translated into the decision's vocabulary (`TransientError`, `InstanceGoneError`,
`PortError`) here, so the decision never sees botocore.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from join.decision import InstanceGoneError, PortError, TransientError

# Error codes worth retrying (botocore's standard retry mode treats the same codes as transient).
_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalError",
    }
)
# RegisterTargets answers InvalidTarget for an instance that does not exist or is not running (ELBv2 API reference,
# RegisterTargets errors).
_INVALID_TARGET = "InvalidTarget"
_MESSAGE_LIMIT = 200


@functools.cache
def client(service: str) -> Any:
    """A boto3 client for `service`, created on first use (never at import) and reused across invocations."""
    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=10)
    return boto3.client(service, config=config)


def _error(exc: ClientError | BotoCoreError) -> PortError:
    """Translate a botocore error into the decision's error types."""
    if isinstance(exc, BotoCoreError):
        return TransientError(type(exc).__name__, str(exc)[:_MESSAGE_LIMIT])
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = str(error.get("Message", ""))[:_MESSAGE_LIMIT]
    if code == _INVALID_TARGET:
        return InstanceGoneError(code, message)
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    if code in _TRANSIENT_CODES or status >= 500:
        return TransientError(code, message)
    return PortError(code, message)


class AwsJoinPorts:
    """`JoinPorts` on real clients (or moto / Stubber clients in tests)."""

    def __init__(
        self,
        *,
        autoscaling: Any,
        elbv2: Any,
        codedeploy: Any,
        target_group_arn: str,
        application_name: str,
        deployment_group_name: str,
    ) -> None:
        self._autoscaling = autoscaling
        self._elbv2 = elbv2
        self._codedeploy = codedeploy
        self._target_group_arn = target_group_arn
        self._application_name = application_name
        self._deployment_group_name = deployment_group_name

    def lifecycle_state(self, instance_id: str) -> str | None:
        """DescribeAutoScalingInstances: the instance's LifecycleState, None when no group has it."""
        try:
            response = self._autoscaling.describe_auto_scaling_instances(InstanceIds=[instance_id])
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc) from exc
        instances = response.get("AutoScalingInstances", [])
        return str(instances[0]["LifecycleState"]) if instances else None

    def live_groups(self) -> tuple[str, ...]:
        """GetDeploymentGroup: deploymentGroupInfo.autoScalingGroups, the live slot (docs/decisions.md F3)."""
        try:
            response = self._codedeploy.get_deployment_group(
                applicationName=self._application_name, deploymentGroupName=self._deployment_group_name
            )
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc) from exc
        groups = response.get("deploymentGroupInfo", {}).get("autoScalingGroups", [])
        return tuple(str(group["name"]) for group in groups if group.get("name"))

    def register(self, instance_id: str) -> None:
        """RegisterTargets without a port: the target group's own port, as for every other target."""
        try:
            self._elbv2.register_targets(TargetGroupArn=self._target_group_arn, Targets=[{"Id": instance_id}])
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc) from exc
