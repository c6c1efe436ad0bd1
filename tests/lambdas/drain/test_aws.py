"""The AWS adapter against botocore's Stubber: request shapes are validated against the service models."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import ANY, Stubber
from drain import aws
from drain.aws import AwsDrainPorts
from drain.decision import ActionNotActiveError, PortError, ProbeError, TransientError
from drain.event import LifecycleAction

from tests.lambdas.drain.conftest import COMMAND, TARGET_GROUP_ARN, FakeClock

INSTANCE = "i-1234567890abcdef0"
COMMAND_ID = "11111111-2222-3333-4444-555555555555"
ACTION = LifecycleAction(group_name="slot-a", hook_name="hook", instance_id=INSTANCE)


@pytest.fixture
def stubbed() -> Iterator[tuple[AwsDrainPorts, Stubber, Stubber, FakeClock]]:
    autoscaling, ssm = boto3.client("autoscaling"), boto3.client("ssm")
    clock = FakeClock()
    ports = AwsDrainPorts(
        autoscaling=autoscaling,
        elbv2=boto3.client("elbv2"),
        ssm=ssm,
        target_group_arn=TARGET_GROUP_ARN,
        connection_count_command=COMMAND,
        clock=clock,
        sleep=clock.sleep,
        probe_timeout=5.0,
    )
    with Stubber(autoscaling) as lifecycle, Stubber(ssm) as run_command:
        yield ports, lifecycle, run_command, clock


def send_ok(run_command: Stubber) -> None:
    run_command.add_response(
        "send_command",
        {"Command": {"CommandId": COMMAND_ID}},
        {
            "InstanceIds": [INSTANCE],
            "DocumentName": "AWS-RunShellScript",
            "Parameters": ANY,
            "TimeoutSeconds": 30,
            "Comment": ANY,
        },
    )


def invocation(run_command: Stubber, status: str, stdout: str = "", **extra: Any) -> None:
    run_command.add_response(
        "get_command_invocation",
        {"CommandId": COMMAND_ID, "InstanceId": INSTANCE, "Status": status, "StandardOutputContent": stdout, **extra},
        {"CommandId": COMMAND_ID, "InstanceId": INSTANCE},
    )


def test_an_action_without_token_is_named_by_instance_id(stubbed: Any) -> None:
    # Given an event without a lifecycle action token
    ports, lifecycle, _, _ = stubbed
    lifecycle.add_response(
        "complete_lifecycle_action",
        {},
        {
            "AutoScalingGroupName": "slot-a",
            "LifecycleHookName": "hook",
            "InstanceId": INSTANCE,
            "LifecycleActionResult": "CONTINUE",
        },
    )

    # When the action is completed, Then the request names the instance and says CONTINUE
    ports.complete(ACTION)
    lifecycle.assert_no_pending_responses()


def test_a_read_waits_while_the_invocation_does_not_exist_yet_or_is_in_progress(stubbed: Any) -> None:
    # Given SSM creates the invocation late and runs it for a while
    ports, _, run_command, _ = stubbed
    send_ok(run_command)
    run_command.add_client_error("get_command_invocation", "InvocationDoesNotExist", "")
    invocation(run_command, "InProgress")
    invocation(run_command, "Success", "header\n 12 \n")

    # When the count is read, Then the last line of the output is the count
    assert ports.connection_count(INSTANCE, timeout=10) == 12


def test_a_failed_command_is_a_probe_error_naming_its_status(stubbed: Any) -> None:
    # Given the command fails on the instance
    ports, _, run_command, _ = stubbed
    send_ok(run_command)
    invocation(run_command, "Failed", StatusDetails="Failed", StandardErrorContent="ss: not found")

    # When the count is read, Then the probe error says why
    with pytest.raises(ProbeError, match="ss: not found") as raised:
        ports.connection_count(INSTANCE, timeout=10)
    assert raised.value.reason == "command-Failed"


def test_output_that_is_not_a_number_is_a_probe_error(stubbed: Any) -> None:
    # Given the command prints something else
    ports, _, run_command, _ = stubbed
    send_ok(run_command)
    invocation(run_command, "Success", "command not found")

    # When the count is read, Then it is refused rather than guessed
    with pytest.raises(ProbeError) as raised:
        ports.connection_count(INSTANCE, timeout=10)
    assert raised.value.reason == "unparsable-output"


def test_an_agent_that_never_answers_times_out_within_the_probe_timeout(stubbed: Any) -> None:
    # Given the invocation stays Pending (agent not answering)
    ports, _, run_command, clock = stubbed
    send_ok(run_command)
    for _ in range(20):
        invocation(run_command, "Pending")
    start = clock.now

    # When the count is read, Then the read gives up after the probe timeout
    with pytest.raises(ProbeError) as raised:
        ports.connection_count(INSTANCE, timeout=60)
    assert raised.value.reason == "probe-timeout"
    assert clock.now - start == pytest.approx(5.0)


def test_target_states_lists_only_this_instance(stubbed: Any) -> None:
    # Given a target group with this instance draining at one port and another instance healthy
    ports, _, _, _ = stubbed
    with Stubber(ports._elbv2) as elbv2:
        elbv2.add_response(
            "describe_target_health",
            {
                "TargetHealthDescriptions": [
                    {"Target": {"Id": INSTANCE, "Port": 8080}, "TargetHealth": {"State": "draining"}},
                    {"Target": {"Id": "i-0fffffffffffffff0", "Port": 8080}, "TargetHealth": {"State": "healthy"}},
                ]
            },
            {"TargetGroupArn": TARGET_GROUP_ARN},
        )

        # When its states are read, Then only its own registrations appear
        assert ports.target_states(INSTANCE) == {8080: "draining"}


@pytest.mark.parametrize(
    ("code", "message", "status", "expected"),
    [
        (
            "ValidationError",
            "No active Lifecycle Action found with instance ID i-1234567890abcdef0",
            400,
            ActionNotActiveError,
        ),
        ("Throttling", "Rate exceeded", 400, TransientError),
        ("InternalFailure", "", 500, TransientError),
        ("ValidationError", "Unable to find group", 400, PortError),
    ],
)
def test_aws_errors_are_translated_for_the_decision(
    stubbed: Any, code: str, message: str, status: int, expected: type[PortError]
) -> None:
    # Given RecordLifecycleActionHeartbeat answers with an error
    ports, lifecycle, _, _ = stubbed
    lifecycle.add_client_error("record_lifecycle_action_heartbeat", code, message, http_status_code=status)

    # When a heartbeat is recorded, Then the error has the decision's type and the AWS code as reason
    with pytest.raises(expected) as raised:
        ports.record_heartbeat(ACTION)
    assert type(raised.value) is expected
    assert raised.value.reason == code


def test_a_connection_problem_is_transient() -> None:
    # Given botocore cannot reach the endpoint
    error = EndpointConnectionError(endpoint_url="https://autoscaling.eu-west-1.amazonaws.com")

    # When it is translated, Then it is worth a retry
    assert isinstance(aws._error(error), TransientError)


def test_clients_are_created_once_and_reused() -> None:
    # Given no client yet, When one is asked for twice, Then it is the same client
    aws.client.cache_clear()
    assert aws.client("ssm") is aws.client("ssm")
    aws.client.cache_clear()


@pytest.mark.slow
def test_importing_the_handler_creates_no_client() -> None:
    # Given boto3.client made to fail, When the handler module is imported, Then the import succeeds
    code = "import boto3\nboto3.client = None\nimport drain.handler\n"
    subprocess.run([sys.executable, "-c", code], check=True, cwd="lambdas", timeout=60)
