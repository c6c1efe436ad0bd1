"""The AWS adapter behind `drain.decision.DrainPorts`: Auto Scaling, ELBv2 and SSM Run Command.

The instance is asked through ONE SSM command per drain (`drain.wait_script`): it waits on the instance until no
request is in flight and reports when it ends; this adapter reads that command's status every `poll_interval`,
backing off while SSM throttles the reads.

Every botocore error is translated into the decision's vocabulary (`TransientError`, `ActionNotActiveError`,
`ProbeError`, `PortError`) here, so the decision never sees botocore.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from drain import wait_script
from drain.decision import ActionNotActiveError, InstanceWait, PortError, ProbeError, TransientError
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
# The script ends itself at its bound; the agent's execution timeout (AWS-RunShellScript `executionTimeout`) is only a
# backstop this much later, for a check that hangs.
_EXECUTION_TIMEOUT_MARGIN_SECONDS = 30
# The longest pause between two status reads while SSM throttles them.
_MAX_READ_PAUSE_SECONDS = 4.0
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
        in_flight_command: str,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        poll_interval: float = 0.5,
    ) -> None:
        self._autoscaling = autoscaling
        self._elbv2 = elbv2
        self._ssm = ssm
        self._target_group_arn = target_group_arn
        self._command = in_flight_command
        self._clock = clock
        self._sleep = sleep
        self._poll_interval = poll_interval

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

    def wait_for_drain(self, instance_id: str, bound_seconds: float, give_up_at: float) -> InstanceWait:
        """Send the on-instance wait (one SSM command) and read its status until it ends or `give_up_at` passes."""
        try:
            sent = self._ssm.send_command(
                InstanceIds=[instance_id],
                DocumentName=SHELL_DOCUMENT,
                Parameters={
                    "commands": [wait_script.render(self._command, bound_seconds)],
                    "executionTimeout": [str(math.ceil(bound_seconds) + _EXECUTION_TIMEOUT_MARGIN_SECONDS)],
                },
                TimeoutSeconds=_DELIVERY_TIMEOUT_SECONDS,
                Comment="drain: wait on the instance until no request is in flight",
            )
            command_id = sent["Command"]["CommandId"]
        except (ClientError, BotoCoreError) as exc:
            raise ProbeError(_error(exc).reason, str(exc)[:_MESSAGE_LIMIT]) from exc
        pause, reads = self._poll_interval, 0
        while True:
            # The invocation does not exist for a moment after SendCommand, and the agent needs a moment to start
            # the script anyway: the first read waits one interval too.
            self._sleep(max(0.0, min(pause, give_up_at - self._clock())))
            reads += 1
            try:
                # No invocation yet reads as Pending.
                invocation = self._invocation(command_id, instance_id) or {"Status": "Pending"}
            except TransientError as exc:
                if self._clock() >= give_up_at:
                    raise ProbeError(exc.reason, f"command {command_id}: status unread at the drain bound") from exc
                pause = min(pause * 2, _MAX_READ_PAUSE_SECONDS)
                continue
            pause = self._poll_interval
            status = invocation.get("Status", "Pending")
            if status == "Success":
                return dataclasses.replace(_parse_wait(invocation), status_reads=reads)
            if status not in _PENDING_STATUSES:
                details = str(invocation.get("StatusDetails", status))
                stderr = str(invocation.get("StandardErrorContent", ""))[:_MESSAGE_LIMIT]
                raise ProbeError(f"command-{status}", f"{details} {stderr}".strip())
            if self._clock() >= give_up_at:
                raise ProbeError("wait-timeout", f"command {command_id} still {status} when the drain bound passed")

    def _invocation(self, command_id: str, instance_id: str) -> Mapping[str, Any] | None:
        """GetCommandInvocation, or None while SSM has not created the invocation yet."""
        try:
            result: Mapping[str, Any] = self._ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvocationDoesNotExist":
                return None
            error = _error(exc)
            if isinstance(error, TransientError):
                raise error from exc
            raise ProbeError(error.reason, str(exc)[:_MESSAGE_LIMIT]) from exc
        except BotoCoreError as exc:
            raise _error(exc) from exc
        return result


def _parse_wait(invocation: Mapping[str, Any]) -> InstanceWait:
    """The wait's result line from the command's standard output."""
    output = str(invocation.get("StandardOutputContent", ""))
    try:
        return wait_script.parse(output)
    except ValueError as exc:
        raise ProbeError("unparsable-output", str(exc)[:_MESSAGE_LIMIT]) from exc
