"""The AWS adapter behind `drain.decision.DrainPorts`: Auto Scaling, ELBv2 and SSM Run Command.

Every botocore error is translated into the decision's vocabulary (`TransientError`, `ActionNotActiveError`,
`ProbeError`, `PortError`) here, so the decision never sees botocore.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from drain.decision import ActionNotActiveError, PortError, ProbeError, TransientError
from drain.event import LifecycleAction

SHELL_DOCUMENT = "AWS-RunShellScript"
# CompleteLifecycleAction / RecordLifecycleActionHeartbeat answer ValidationError "No active Lifecycle Action found
# with instance ID i-..." (or "... with token ...") once the action is completed or timed out.
NO_ACTIVE_ACTION = "No active Lifecycle Action found"
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
        "HealthUnavailable",
    }
)
# GetCommandInvocation statuses that are not final yet (SSM API reference, GetCommandInvocation.Status).
_PENDING_STATUSES = frozenset({"Pending", "InProgress", "Delayed", "Cancelling"})
# SendCommand's delivery timeout cannot be lower than 30 s (SSM API reference, SendCommand.TimeoutSeconds).
_DELIVERY_TIMEOUT_SECONDS = 30
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
    if code == "ValidationError" and message.startswith(NO_ACTIVE_ACTION):
        return ActionNotActiveError(code, message)
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    if code in _TRANSIENT_CODES or status >= 500:
        return TransientError(code, message)
    return PortError(code, message)


class AwsDrainPorts:
    """`DrainPorts` on real clients (or moto / Stubber clients in tests).

    `clock` and `sleep` pace the wait for an SSM command's result, so the whole drain runs on injected time.
    """

    def __init__(
        self,
        *,
        autoscaling: Any,
        elbv2: Any,
        ssm: Any,
        target_group_arn: str,
        connection_count_command: str,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        result_poll_interval: float = 0.5,
        probe_timeout: float = 20.0,
    ) -> None:
        self._autoscaling = autoscaling
        self._elbv2 = elbv2
        self._ssm = ssm
        self._target_group_arn = target_group_arn
        self._command = connection_count_command
        self._clock = clock
        self._sleep = sleep
        self._result_poll_interval = result_poll_interval
        self._probe_timeout = probe_timeout

    @staticmethod
    def _action_args(action: LifecycleAction) -> dict[str, str]:
        """Name the action by its token when the event had one (exact), else by instance id (also accepted)."""
        args = {"AutoScalingGroupName": action.group_name, "LifecycleHookName": action.hook_name}
        if action.token:
            args["LifecycleActionToken"] = action.token
        else:
            args["InstanceId"] = action.instance_id
        return args

    def record_heartbeat(self, action: LifecycleAction) -> None:
        """RecordLifecycleActionHeartbeat: restarts the hook's heartbeat timeout."""
        try:
            self._autoscaling.record_lifecycle_action_heartbeat(**self._action_args(action))
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc) from exc

    def complete(self, action: LifecycleAction) -> None:
        """CompleteLifecycleAction with CONTINUE (never ABANDON: it would cancel the other termination hooks)."""
        try:
            self._autoscaling.complete_lifecycle_action(LifecycleActionResult="CONTINUE", **self._action_args(action))
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc) from exc

    def target_states(self, instance_id: str) -> Mapping[int, str]:
        """DescribeTargetHealth of the whole group (lists registered and draining targets), filtered to the instance.

        Asking for the whole group avoids InvalidTarget for an instance that no longer exists, and finds every port
        the instance is registered at.
        """
        try:
            response = self._elbv2.describe_target_health(TargetGroupArn=self._target_group_arn)
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc) from exc
        return {
            int(description["Target"].get("Port", 0)): str(description.get("TargetHealth", {}).get("State", ""))
            for description in response.get("TargetHealthDescriptions", [])
            if description.get("Target", {}).get("Id") == instance_id
        }

    def deregister(self, instance_id: str, ports: Sequence[int]) -> None:
        """DeregisterTargets at each port the instance is registered at."""
        try:
            self._elbv2.deregister_targets(
                TargetGroupArn=self._target_group_arn, Targets=[{"Id": instance_id, "Port": port} for port in ports]
            )
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc) from exc

    def connection_count(self, instance_id: str, timeout: float) -> int:
        """Run the connection-count command on the instance (SSM Run Command) and parse the number it prints."""
        deadline = self._clock() + min(timeout, self._probe_timeout)
        try:
            sent = self._ssm.send_command(
                InstanceIds=[instance_id],
                DocumentName=SHELL_DOCUMENT,
                Parameters={"commands": [self._command], "executionTimeout": [str(_DELIVERY_TIMEOUT_SECONDS)]},
                TimeoutSeconds=_DELIVERY_TIMEOUT_SECONDS,
                Comment="drain: count established connections on the app port",
            )
            command_id = sent["Command"]["CommandId"]
        except (ClientError, BotoCoreError) as exc:
            raise ProbeError(_error(exc).reason, str(exc)[:_MESSAGE_LIMIT]) from exc
        while True:
            # The invocation does not exist for a moment after SendCommand; wait before the first read.
            self._sleep(max(0.0, min(self._result_poll_interval, deadline - self._clock())))
            # No invocation yet reads as Pending.
            invocation = self._invocation(command_id, instance_id) or {}
            status = invocation.get("Status", "Pending")
            if status == "Success":
                return _parse_count(str(invocation.get("StandardOutputContent", "")))
            if status not in _PENDING_STATUSES:
                details = str(invocation.get("StatusDetails", status))
                stderr = str(invocation.get("StandardErrorContent", ""))[:_MESSAGE_LIMIT]
                raise ProbeError(f"command-{status}", f"{details} {stderr}".strip())
            if self._clock() >= deadline:
                raise ProbeError("probe-timeout", f"command {command_id} still {status}")

    def _invocation(self, command_id: str, instance_id: str) -> Mapping[str, Any] | None:
        """GetCommandInvocation, or None while SSM has not created the invocation yet."""
        try:
            result: Mapping[str, Any] = self._ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvocationDoesNotExist":
                return None
            raise ProbeError(_error(exc).reason, str(exc)[:_MESSAGE_LIMIT]) from exc
        except BotoCoreError as exc:
            raise ProbeError(_error(exc).reason, str(exc)[:_MESSAGE_LIMIT]) from exc
        return result


def _parse_count(output: str) -> int:
    """The last non-empty line of the command's output as a non-negative integer."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if not lines or not lines[-1].isdigit():
        raise ProbeError("unparsable-output", f"expected a connection count, got {output[:_MESSAGE_LIMIT]!r}")
    return int(lines[-1])
